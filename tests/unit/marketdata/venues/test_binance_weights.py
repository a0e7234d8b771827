"""What Binance snapshots cost: the depth weight tables, and the weight and outcome of each snapshot request."""

from __future__ import annotations

import json

import pytest

from hftpipe.schema.instruments import InstrumentRegistry
from stages.marketdata.capture.books_sink import BooksSink
from stages.marketdata.capture.format import EventKind
from stages.marketdata.capture.replay import snapshot_symbol
from stages.marketdata.venues.binance.adapter import BinanceAdapter, BinanceFuturesAdapter
from stages.marketdata.venues.binance.weights import FUTURES_DEPTH_WEIGHTS, SPOT_DEPTH_WEIGHTS, depth_weight
from tests.captures import capture

SYMBOL = "NKNUSDT"


@pytest.mark.parametrize(
    ("limit", "spot", "futures"),
    [(5, 5, 2), (50, 5, 2), (100, 5, 5), (101, 25, 10), (500, 25, 10), (501, 50, 20), (1000, 50, 20)],
)
def test_should_weigh_a_depth_snapshot_by_its_limit(limit: int, spot: int, futures: int) -> None:
    assert depth_weight(limit, SPOT_DEPTH_WEIGHTS) == spot
    assert depth_weight(limit, FUTURES_DEPTH_WEIGHTS) == futures


def test_should_refuse_limits_the_venue_does_not_serve() -> None:
    assert depth_weight(5000, SPOT_DEPTH_WEIGHTS) == 250
    with pytest.raises(ValueError, match=r"^a depth limit must be <= 1000, got 5000$"):
        depth_weight(5000, FUTURES_DEPTH_WEIGHTS)
    with pytest.raises(ValueError, match=r"^a depth limit must be >= 1, got 0$"):
        depth_weight(0, SPOT_DEPTH_WEIGHTS)


@pytest.mark.parametrize(("cls", "weight", "limit"), [(BinanceAdapter, 50, 6000), (BinanceFuturesAdapter, 20, 2400)])
def test_should_ask_for_snapshots_with_their_weight(cls: type[BinanceAdapter], weight: int, limit: int) -> None:
    adapter = cls(BooksSink(), InstrumentRegistry())
    first = next(e for e in capture("BINANCE.ws.1.0") if f'"s":"{SYMBOL}","U"' in e.payload)
    adapter.on_message(first.payload, first.time_ns)
    [request] = adapter.take_snapshot_requests()
    assert (request.symbol, request.weight) == (SYMBOL, weight)
    assert request.url.endswith(f"?symbol={SYMBOL}&limit=1000")
    assert adapter.rest_weight_per_minute == limit


def test_should_say_whether_a_snapshot_was_used() -> None:
    """Malformed or older than the buffered diffs: not used, asked for again; otherwise used."""
    ws, http = capture("BINANCE.ws.1.0"), capture("BINANCE.http.0.0")
    adapter = BinanceAdapter(BooksSink(), InstrumentRegistry())
    first = next(e for e in ws if f'"s":"{SYMBOL}","U"' in e.payload)
    adapter.on_message(first.payload, first.time_ns)
    assert len(adapter.take_snapshot_requests()) == 1
    real = next(e for e in http if e.kind is EventKind.HTTP and snapshot_symbol(e.url) == SYMBOL)
    stale = {**json.loads(real.payload), "lastUpdateId": json.loads(first.payload)["data"]["U"] - 5}
    for body in ('{"code": -1}', json.dumps(stale)):
        assert adapter.on_snapshot(SYMBOL, body, real.time_ns) is False
        assert [r.symbol for r in adapter.take_snapshot_requests()] == [SYMBOL]
    assert adapter.on_snapshot(SYMBOL, real.payload, real.time_ns) is True
    assert adapter.take_snapshot_requests() == []
    assert adapter.synced[SYMBOL]
