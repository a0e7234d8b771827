"""Listening sockets bound at start: a taken port is a config error naming the key and the holder."""

from __future__ import annotations

import os
import socket

import pytest

from hftpipe.runtime.listening import bind_tcp_listener
from hftpipe.runtime.validation import ConfigError


def test_should_bind_and_listen_on_a_free_port() -> None:
    sock = bind_tcp_listener("127.0.0.1", 0, "exchange.market_port")
    try:
        host, port = sock.getsockname()
        assert host == "127.0.0.1" and port > 0
        with socket.create_connection((host, port), timeout=5):
            pass
    finally:
        sock.close()


def test_should_name_the_key_and_the_process_holding_a_taken_port() -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        with pytest.raises(ConfigError) as caught:
            bind_tcp_listener("127.0.0.1", port, "exchange.market_port")
    finally:
        holder.close()
    assert caught.value.key == "exchange.market_port"
    assert caught.value.reason.startswith(f"127.0.0.1:{port} is in use by pid {os.getpid()} (")


def test_should_refuse_an_address_this_host_does_not_have() -> None:
    with pytest.raises(ConfigError) as caught:
        bind_tcp_listener("192.0.2.1", 0, "exchange.host")  # TEST-NET-1: never a local address
    assert caught.value.key == "exchange.host"
    assert caught.value.reason.startswith("cannot listen on 192.0.2.1:0: ")


def test_should_give_the_connections_an_asyncio_server_accepts_tcp_nodelay() -> None:
    """Nagle off, as ``create_server(host, port)`` has it: an answer written after an event is not held back."""
    import asyncio

    async def main() -> int:
        accepted: asyncio.Queue[int] = asyncio.Queue()

        def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            accepted.put_nowait(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        sock = bind_tcp_listener("127.0.0.1", 0, "exchange.api_port")
        server = await asyncio.start_server(on_connection, sock=sock)
        async with server:
            _, writer = await asyncio.open_connection(*sock.getsockname())
            nodelay = await asyncio.wait_for(accepted.get(), 10)
            writer.close()
        return nodelay

    assert asyncio.run(main()) != 0
