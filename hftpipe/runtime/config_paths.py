"""Relative paths in a config are relative to the config file that names them.

Not to the working directory (a service's is ``/``) and not to the package's
``configs/`` (a user's copy of a config would silently read the embedded
files instead of the ones beside it). The loader knows the file it read
(:attr:`~hftpipe.runtime.config.PipelineConfig.source`); everything that
takes a path from a config resolves it here: a stage's ``Params`` field typed
:class:`~pathlib.Path` (the loader resolves it), and an application's own
table (its expander is given :func:`config_dir`).
"""

from __future__ import annotations

import os
from pathlib import Path


def config_dir(source: str | os.PathLike[str]) -> Path:
    """The directory a config's relative paths start from: its file's (the working directory when it has none)."""
    return Path(source).resolve().parent if str(source) else Path.cwd()


def resolve_path(text: str | os.PathLike[str], base_dir: Path) -> Path:
    """``text`` as an absolute path: ``~`` expanded, relative ones taken from ``base_dir``."""
    path = Path(os.path.expanduser(text))
    return (path if path.is_absolute() else base_dir / path).resolve()
