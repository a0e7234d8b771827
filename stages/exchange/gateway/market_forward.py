"""The gateway's one way to market data: ``GET`` on the publisher's read-only REST over loopback.

The publisher answers every public market-data question (one implementation of
each) and never sees a key or an account; the gateway forwards the public REST
paths and the WebSocket API's ``klines`` / ``uiKlines`` here, after counting
their weight.
"""

from __future__ import annotations

import asyncio
from typing import Final

import h11

FORWARD_TIMEOUT_S: Final = 30.0
"""How long a forwarded question may take (the publisher answers from memory: this is a hang)."""


async def forward_get(host: str, port: int, target: str) -> tuple[int, bytes]:
    """``GET target`` on the publisher's REST over loopback: (status, body), one connection each."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        client = h11.Connection(h11.CLIENT)
        headers = [("Host", f"{host}:{port}"), ("Connection", "close")]
        request = h11.Request(method="GET", target=target, headers=headers)
        writer.write((client.send(request) or b"") + (client.send(h11.EndOfMessage()) or b""))
        status, body = 0, bytearray()
        while True:
            event = client.next_event()
            if event is h11.NEED_DATA:
                client.receive_data(await reader.read(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                return status, bytes(body)
    finally:
        writer.close()
