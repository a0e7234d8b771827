"""The ``hftpipe`` command: the framework's own commands plus those the applications register.

:mod:`hftpipe.cli.main` holds the core (``run``, ``stage``, ``stat``,
``latency``, ``shm``); :mod:`hftpipe.cli.registry` adds the commands that
applications declare as ``hftpipe.commands`` entry points, so the framework
never names an application.
"""

from hftpipe.cli.main import main

__all__ = ["main"]
