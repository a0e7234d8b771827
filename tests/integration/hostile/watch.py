"""What a hostile client must never change on a running exchange, checked from outside.

After each hostile frame or flood: a ``ping`` on a fresh connection is
answered (the gateway still serves), every stage still runs under the pid it
had at the start (nothing died and nothing was restarted), and at the end the
balances are exactly what they were (nothing executed, nothing lost).
"""

from __future__ import annotations

import json
import socket
from typing import Any

from websockets.sync.client import ClientConnection, connect

from hftpipe.substrate.control import ControlFile
from stages.exchange.cli import admin_call
from stages.exchange.protocol.settings import ExchangeSettings
from tests.integration.exchange.trading import api_url

RECV_TIMEOUT_S = 30.0
"""Bounds a hung test only: every answer comes long before."""


def open_client(
    settings: ExchangeSettings, source_ip: str = "127.0.0.1", rcvbuf: int | None = None
) -> ClientConnection:
    """A client from ``source_ip`` (the gateway limits weight per IP, and all of 127/8 is loopback);
    ``rcvbuf`` shrinks its socket's receive buffer (a slow reader)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.bind((source_ip, 0))
    sock.settimeout(RECV_TIMEOUT_S)
    sock.connect((settings.host, settings.api_port))
    sock.settimeout(None)
    return connect(api_url(settings), sock=sock, max_size=None, close_timeout=1.0)


def request(ws: ClientConnection, message: dict[str, Any]) -> dict[str, Any]:
    ws.send(json.dumps(message))
    answer: dict[str, Any] = json.loads(ws.recv(timeout=RECV_TIMEOUT_S))
    return answer


class ExchangeWatch:
    def __init__(self, settings: ExchangeSettings, pipeline: str) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.pids = self._pids()
        assert all(self.pids.values()), self.pids
        self.balances = self._balances()
        assert self.balances["invariant_ok"] is True

    def _pids(self) -> dict[str, int]:
        control = ControlFile.attach(self.pipeline, readonly=True)
        try:
            return {name: control.stage_pid(index) for index, name in enumerate(control.stage_names)}
        finally:
            control.close()

    def _balances(self) -> dict[str, Any]:
        result: dict[str, Any] = admin_call(self.settings.admin_socket, "balances")
        return result

    def gateway_counters(self) -> dict[str, int]:
        control = ControlFile.attach(self.pipeline, readonly=True)
        try:
            return control.read_counters(control.stage_index("gateway"))
        finally:
            control.close()

    def check_alive(self, after: str) -> None:
        """The gateway answers a fresh connection and no stage was replaced."""
        with open_client(self.settings) as ws:
            pong = request(ws, {"id": "alive", "method": "ping"})
        assert (pong["id"], pong["status"]) == ("alive", 200), f"after {after}: {pong}"
        assert self._pids() == self.pids, f"after {after}: a stage died or was restarted"

    def check_conserved(self) -> None:
        """Hostile input moved nothing: balances are exactly as they were, and the invariant holds."""
        assert self._balances() == self.balances
