"""The docs-only client against an in-process gateway whose accounting is a test stand-in.

The end-to-end run against ``hftpipe exchange run`` uses the same
``run_scenario``; here only the gateway is real, so this checks the Binance
surface (envelopes, signatures, errors, user data stream) on its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.exchange_docs_client.client import DocsClient, result_of, run_scenario
from tests.unit.exchange.gateway.harness import DEMO_KEY, DEMO_SECRET, MM_KEY, MM_SECRET, GatewayHarness, running


@pytest.fixture
def gateway(pipeline_name: str, tmp_path: Path) -> Iterator[GatewayHarness]:
    yield from running(pipeline_name, tmp_path / "state")


def test_should_pass_the_documented_round_trip_on_an_empty_book(gateway: GatewayHarness) -> None:
    summary = run_scenario(gateway.url, DEMO_KEY, DEMO_SECRET, "BTCUSDT")
    assert summary["events"].count("executionReport") == 2
    assert "outboundAccountPosition" in summary["events"]


def test_should_pass_the_documented_round_trip_beside_other_orders(gateway: GatewayHarness) -> None:
    with DocsClient(gateway.url, MM_KEY, MM_SECRET) as maker:
        for side, price in (("BUY", "3000.00"), ("SELL", "3100.00")):
            order = {"symbol": "ETHUSDT", "side": side, "type": "LIMIT", "timeInForce": "GTC", "price": price}
            result_of(maker.signed("order.place", {**order, "quantity": "1"}), "maker order")
        summary = run_scenario(gateway.url, DEMO_KEY, DEMO_SECRET, "ETHUSDT")
    assert summary["price"] == "1500"
