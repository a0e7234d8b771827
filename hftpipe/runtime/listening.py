"""Listening sockets bound while a stage starts, so a taken port fails the start, not the run.

A stage that serves on a TCP port binds it in ``on_start`` with
:func:`bind_tcp_listener` and hands the bound socket to its server later
(``serve(..., sock=...)``). The runner reports READY only after ``on_start``,
so the supervisor never announces a pipeline whose ports belong to someone
else; a port in use is a :class:`~hftpipe.runtime.validation.ConfigError` on
the key that named it (the stage exits 78, and so does ``hftpipe run``),
naming the process that holds it when the OS lets us see it.
"""

from __future__ import annotations

import errno
import socket

import psutil

from hftpipe.runtime.validation import ConfigError

LISTEN_BACKLOG = 1024


def bind_tcp_listener(host: str, port: int, key: str) -> socket.socket:
    """A TCP socket bound to ``host:port`` and listening (non-blocking, ``SO_REUSEADDR``); port 0 picks one.

    Connections an asyncio server accepts on it get ``TCP_NODELAY``, as with ``create_server(host, port)``.

    ``key`` is the config key that named the port (``exchange.market_port``):
    a port in use, or an address this host does not have, is a config error on it.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, not 0: asyncio disables Nagle (TCP_NODELAY) only on sockets whose ``proto`` says TCP, and
    # accepted sockets inherit the listener's. With Nagle on, an answer written right after a user data event
    # waited for the client's delayed ACK (~40 ms on Linux).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        refusal = listen_refusal(exc, host, port, key)
        if refusal is not None:
            raise refusal from exc
        raise
    return sock


def listen_refusal(exc: OSError, host: str, port: int, key: str) -> ConfigError | None:
    """The config error a failed bind of ``host:port`` means (for servers a library binds), or ``None``."""
    if exc.errno == errno.EADDRINUSE:
        return ConfigError(key, f"{host}:{port} is in use{port_owner(port)}")
    if exc.errno in (errno.EADDRNOTAVAIL, errno.EACCES):
        return ConfigError(key, f"cannot listen on {host}:{port}: {exc.strerror}")
    return None


def port_owner(port: int) -> str:
    """`` by pid N (name)`` for the process listening on TCP ``port``, or ``""`` when we cannot tell."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return ""
    for conn in connections:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            try:
                name = psutil.Process(conn.pid).name()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                name = "?"
            return f" by pid {conn.pid} ({name})"
    return ""
