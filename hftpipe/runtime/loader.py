"""The one ``"module:Class"`` loader: stage classes, venue adapters, anything a config names.

Every failure is a :class:`~hftpipe.runtime.validation.ConfigError` on the key
that named the class, so a bad name exits 78 before any process starts.
"""

from __future__ import annotations

import importlib
from typing import Any, TypeVar, overload

from hftpipe.runtime.validation import ConfigError

T = TypeVar("T")


@overload
def load_class(class_path: str, key: str) -> type[Any]: ...
@overload
def load_class(class_path: str, key: str, base: type[T]) -> type[T]: ...
def load_class(class_path: str, key: str, base: type[Any] | None = None) -> type[Any]:
    """The class ``class_path`` names; with ``base``, it must be a subclass of it."""
    module_name, sep, class_name = class_path.partition(":")
    if not sep or not module_name or not class_name:
        raise ConfigError(key, f'must be "module:Class", got {class_path!r}')
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(key, f"cannot import module {module_name!r}: {exc}") from exc
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type):
        raise ConfigError(key, f"module {module_name!r} has no class {class_name!r}")
    if base is not None and not issubclass(cls, base):
        raise ConfigError(key, f"{class_path} is not a {base.__name__}")
    return cls
