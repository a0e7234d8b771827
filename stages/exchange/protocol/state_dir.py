"""The exchange's state directory, made ready before a run: created 0700, and writable.

Parsing ``[exchange]`` must not touch the disk (admin commands and every
stage process parse it too), so this is its own step: ``hftpipe exchange
run`` takes it once, right after loading the config and before any process
starts, so an unwritable ``state_dir`` exits 78 naming the key instead of
failing later in a stage. A stage that owns files there (the gateway's key
store and admin socket, accounting's journal) may take it again at the top of
its start; it is idempotent.
"""

from __future__ import annotations

import os

from hftpipe.runtime.validation import ConfigError
from stages.exchange.protocol.settings import ExchangeSettings

KEY = "exchange.state_dir"


def prepare_state_dir(settings: ExchangeSettings) -> None:
    """Create ``settings.state_dir`` (0700) if missing; :class:`ConfigError` if it cannot be or is not writable."""
    path = settings.state_dir
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise ConfigError(KEY, f"{path} exists and is not a directory") from exc
    except OSError as exc:
        raise ConfigError(KEY, f"cannot create {path}: {exc.strerror}") from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(KEY, f"{path} is not writable by this user (the journal, keys and admin socket live there)")
