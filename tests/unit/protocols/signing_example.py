"""Binance's "SIGNED request example (HMAC)" (web-socket-api.md), verbatim: the one vector every signing test uses."""

from __future__ import annotations

import json
from typing import Any

SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
REQUEST = """{
  "id": "4885f793-e5ad-4c3b-8f6c-55d891472b71",
  "method": "order.place",
  "params": {
    "symbol":           "BTCUSDT",
    "side":             "SELL",
    "type":             "LIMIT",
    "timeInForce":      "GTC",
    "quantity":         "0.01000000",
    "price":            "52000.00",
    "newOrderRespType": "ACK",
    "recvWindow":       100,
    "timestamp":        1645423376532,
    "apiKey":           "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A",
    "signature":        "cc15477742bd704c29492d96c7ead9414dfd8e0ec4a00f947bb5bb454ddbd08a"
  }
}"""
"""The signed request as the docs show it."""
PAYLOAD = (
    "apiKey=vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A&newOrderRespType=ACK&price=52000.00"
    "&quantity=0.01000000&recvWindow=100&side=SELL&symbol=BTCUSDT&timeInForce=GTC&timestamp=1645423376532&type=LIMIT"
)
"""The signature payload the docs derive from it."""

_SIGNED: dict[str, Any] = json.loads(REQUEST)["params"]
API_KEY: str = _SIGNED["apiKey"]
TIMESTAMP_MS: int = _SIGNED["timestamp"]
RECV_WINDOW_MS: int = _SIGNED["recvWindow"]
SIGNATURE: str = _SIGNED["signature"]
PARAMS: dict[str, str] = {
    name: value for name, value in _SIGNED.items() if name not in ("apiKey", "timestamp", "recvWindow", "signature")
}
"""The order's own parameters (what a client signs: without apiKey, timestamp, recvWindow and signature)."""
