"""The execution stage's params: bad values refused naming the key; live credentials from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from stages.trading.execution.binance.client import Ed25519Credentials, HmacCredentials
from stages.trading.execution.stage import ExecutionStage

Params = ExecutionStage.Params
URL = "ws://127.0.0.1:1/ws-api/v3"


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"mode": "sim"}, "mode"),
        ({"paper_entry_latency_us": -1}, "paper_entry_latency_us"),
        ({"paper_cancel_latency_us": -1}, "paper_cancel_latency_us"),
        ({"request_timeout_s": 0}, "request_timeout_s"),
        ({"mode": "live", "api_key": "k", "secret_env": "S"}, "ws_api_url"),
        ({"mode": "live", "ws_api_url": URL, "secret_env": "S"}, "api_key"),
        ({"mode": "live", "ws_api_url": URL, "api_key": "k"}, "private_key_path"),
    ],
)
def test_should_refuse_a_bad_value_naming_its_key(kwargs: dict[str, object], key: str) -> None:
    with pytest.raises(ValueError, match=key):
        Params(**kwargs)  # type: ignore[arg-type]


def test_should_take_live_credentials_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_KEY", "key")
    monkeypatch.setenv("T_SECRET", "secret")
    hmac = Params(mode="live", ws_api_url=URL, api_key_env="T_KEY", secret_env="T_SECRET").credentials()
    assert hmac == HmacCredentials("key", "secret")
    ed = Params(mode="live", ws_api_url=URL, api_key="k", private_key_path=Path("/k.pem")).credentials()
    assert ed == Ed25519Credentials("k", Path("/k.pem"))
    monkeypatch.delenv("T_SECRET")
    with pytest.raises(ValueError, match="secret_env"):
        Params(mode="live", ws_api_url=URL, api_key_env="T_KEY", secret_env="T_SECRET").credentials()
