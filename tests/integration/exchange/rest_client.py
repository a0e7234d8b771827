"""A signed REST client as Binance's documentation describes one, for tests against a running exchange."""

from __future__ import annotations

import http.client
import secrets
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from hftpipe.protocols.binance_signing import hmac_signature
from hftpipe.substrate.shm import remove_pipeline
from stages.exchange.protocol.settings import ExchangeSettings
from tests.conftest import SUITE_TAG, leftovers
from tests.integration.exchange.harness import RunningExchange, write_exchange_config
from tests.integration.exchange.trading import settings_of


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str]
    """Lower-case names."""
    body: Any


class RestClient:
    """One keep-alive connection; ``signed`` puts the parameters in the query (GET, DELETE) or the form
    body (POST), as python-binance does, and signs them with HMAC-SHA256."""

    def __init__(self, port: int, api_key: str = "", secret: str = "") -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.api_key = api_key
        self.secret = secret

    def close(self) -> None:
        self.connection.close()

    def request(
        self, method: str, target: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> Answer:
        sent = dict(headers or {})
        if body is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        self.connection.request(method, target, body=body, headers=sent)
        response = self.connection.getresponse()
        raw = response.read()
        return Answer(
            response.status, {k.lower(): v for k, v in response.getheaders()}, orjson.loads(raw) if raw else None
        )

    def signed(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        timestamp_ms: int | None = None,
        bad_signature: bool = False,
    ) -> Answer:
        text = "&".join(f"{name}={value}" for name, value in (params or {}).items())
        stamp = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
        text = f"{text}&timestamp={stamp}" if text else f"timestamp={stamp}"
        signature = hmac_signature(self.secret, text)
        if bad_signature:
            signature = hmac_signature(self.secret + "x", text)
        text += f"&signature={signature}"
        headers = {"X-MBX-APIKEY": self.api_key}
        if method == "POST":
            return self.request(method, path, text.encode(), headers)
        return self.request(method, f"{path}?{text}", None, headers)


@contextmanager
def running_exchange(tmp_path: Path, *, flow: bool) -> Iterator[ExchangeSettings]:
    """``hftpipe exchange run`` on free ports for a whole module; its shared memory removed afterwards."""
    name = f"{SUITE_TAG}-{secrets.token_hex(4)}"
    exe = shutil.which("hftpipe", path=str(Path(sys.executable).parent))
    command = [exe] if exe else [sys.executable, "-m", "hftpipe"]
    exchange = RunningExchange(command, write_exchange_config(tmp_path, name, flow=flow, flow_rate=20))
    try:
        exchange.start()
        yield settings_of(exchange.config)
    finally:
        code = exchange.stop()
        left = leftovers(name)
        remove_pipeline(name)
        assert code == 0, "".join(exchange.output[-40:])
        assert not left, f"left shared memory behind: {left}"


def demo_client(settings: ExchangeSettings, port: int | None = None) -> RestClient:
    key = next(k for k in settings.api_keys if k.account == "demo")
    return RestClient(settings.rest_port if port is None else port, key.api_key, key.secret or "")
