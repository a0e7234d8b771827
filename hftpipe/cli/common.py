"""What the ``hftpipe`` command groups share: failing with an exit code, the config options,
loading a config, and running a pipeline under its supervisor in the foreground."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, NoReturn, TypeVar

import click

from hftpipe.runtime.config import PipelineConfig, load_config
from hftpipe.runtime.runner import EX_NOPERM, EX_UNAVAILABLE
from hftpipe.runtime.supervisor import PipelineAlreadyRunningError, StartupFailedError, Supervisor
from hftpipe.runtime.validation import EX_CONFIG, ConfigError
from hftpipe.substrate.control import ControlFile
from hftpipe.substrate.shm import list_entries

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int) -> NoReturn:
    click.echo(f"hftpipe: {message}", err=True)
    sys.exit(code)


def config_error(exc: ConfigError) -> NoReturn:
    fail(f"config error: {exc.key}: {exc.reason}", EX_CONFIG)


def config_option(help_text: str) -> Callable[[F], F]:
    """``-c/--config`` into ``config_path`` (None: the command's embedded default)."""
    return click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False), help=help_text)


def name_option(func: F) -> F:
    return click.option("--name", help="Pipeline name, overriding pipeline.name in the config.")(func)


def load_or_exit(path: str | os.PathLike[str], name: str | None = None) -> PipelineConfig:
    """Load a config; any problem exits 78 naming the key and the reason."""
    try:
        config = load_config(path)
        return config.with_name(name) if name else config
    except ConfigError as exc:
        config_error(exc)
    except ValueError as exc:
        fail(f"config error: --name: {exc}", EX_CONFIG)


def stop_on_signals() -> Callable[[], bool]:
    """SIGTERM and SIGINT ask for a stop from now on; the returned check says whether one was asked."""
    stop_requested = False

    def request_stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    return lambda: stop_requested


@contextmanager
def supervising(config: PipelineConfig) -> Iterator[Supervisor]:
    """A supervisor of ``config``, destroyed on the way out; exits 69 if the pipeline already
    runs, 77 if another user holds its name, 78 if it does not fit in /dev/shm, 70 if it fails
    to start."""
    supervisor = Supervisor(config)
    try:
        yield supervisor
    except PipelineAlreadyRunningError as exc:
        fail(str(exc), EX_UNAVAILABLE)
    except PermissionError as exc:
        fail(str(exc), EX_NOPERM)
    except ConfigError as exc:
        config_error(exc)
    except StartupFailedError as exc:
        fail(f"startup failed: {exc}", exc.exit_status)
    finally:
        supervisor.destroy()


def attach_running(name: str | None, readonly: bool = True) -> ControlFile:
    """A running pipeline of ours (read-only unless asked); another user's is refused (77), not shown."""
    if name is None:
        controls = [e for e in list_entries() if e.name.endswith(".control")]
        live = sorted({e.pipeline for e in controls if e.alive})
        if not live:
            others = ", ".join(f"{e.pipeline} (uid {e.owner_uid})" for e in controls if e.foreign)
            fail("no pipeline of ours is running" + (f"; not ours: {others}" if others else ""), EX_UNAVAILABLE)
        if len(live) > 1:
            fail(f"several pipelines are running ({', '.join(live)}): choose one with --name", EX_UNAVAILABLE)
        name = live[0]
    try:
        return ControlFile.attach(name, readonly=readonly)
    except PermissionError as exc:
        fail(f"pipeline {name!r} is not ours to read: {exc}", EX_NOPERM)
    except (FileNotFoundError, RuntimeError) as exc:
        fail(f"pipeline {name!r} is not running: {exc}", EX_UNAVAILABLE)
