"""The one ``"module:Class"`` loader: stage classes, venue adapters, anything a config names.

Every failure is a :class:`~hftpipe.runtime.validation.ConfigError` on the key
that named the class, so a bad name exits 78 before any process starts. When
an application has moved a class, it declares the old and new paths as an
``hftpipe.moved_classes`` entry point (a ``{old: new}`` mapping), and a config
that still names the old path is told the new one.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any, Final, TypeVar, overload

from hftpipe.runtime.validation import ConfigError

T = TypeVar("T")

MOVED_CLASSES_GROUP: Final = "hftpipe.moved_classes"


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
        _refuse_if_moved(class_path, key)
        raise ConfigError(key, f"cannot import module {module_name!r}: {exc}") from exc
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type):
        _refuse_if_moved(class_path, key)
        raise ConfigError(key, f"module {module_name!r} has no class {class_name!r}")
    if base is not None and not issubclass(cls, base):
        raise ConfigError(key, f"{class_path} is not a {base.__name__}")
    return cls


def moved_classes() -> dict[str, str]:
    """Old ``module:Class`` paths -> new ones, as every application declares them."""
    moved: dict[str, str] = {}
    for entry in entry_points(group=MOVED_CLASSES_GROUP):
        mapping = entry.load()
        if not isinstance(mapping, Mapping):
            raise TypeError(f"entry point {entry.value!r} ({MOVED_CLASSES_GROUP}) is not a mapping")
        moved.update(mapping)
    return moved


def _refuse_if_moved(class_path: str, key: str) -> None:
    new = moved_classes().get(class_path)
    if new is not None:
        raise ConfigError(key, f"{class_path} has moved: name it {new!r}")
