"""The slippage estimate an order is sent with is walked after its request left, yet every report carries it.

The stage walks the estimate once the venue has the intent (the walk is not on
the way to the socket), or before the first report emitted while it handles
it: a live order refused before it is sent (an order type the WebSocket API
client does not offer) is reported at once, and that report carries the same
estimate a walk of the same book gives.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from hftpipe.runtime.config import parse_config
from hftpipe.runtime.wiring import create_pipeline_objects, open_stage_context
from hftpipe.schema import SPECS
from hftpipe.schema.marketdata import BookState
from hftpipe.schema.records import RecordType
from hftpipe.schema.trading import ExecType, IntentAction, OrderSide, OrderType, RejectReason, TimeInForce
from hftpipe.strategy import BookView
from stages.trading.execution.stage import ExecutionStage

_INTENT, _DEPTH, _REPORT = SPECS[RecordType.ORDER_INTENT], SPECS[RecordType.DEPTH], SPECS[RecordType.EXEC_REPORT]
LEVELS = 5
EPOCH = 1_765_000_000_000


@pytest.fixture
def wired(pipeline_name: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, list[Any], ExecutionStage]]:
    """``risk`` (probe) -> ``execution`` (live, never connected) -> ``sink`` (probe), on real rings."""
    monkeypatch.setenv("T_EST_SECRET", "secret")
    config = parse_config(
        {
            "pipeline": {"name": pipeline_name},
            "instruments": [
                {
                    "venue": "binance",
                    "symbol": "BTCUSDT",
                    "price_scale": 2,
                    "qty_scale": 5,
                    "tick": "0.01",
                    "lot": "0.00001",
                },
            ],
            "stages": {
                "risk": {"class": "stages.probe:ProbeSource"},
                "execution": {
                    "class": "stages.trading.execution.stage:ExecutionStage",
                    "params": {
                        "mode": "live",
                        "ws_api_url": "ws://127.0.0.1:1/ws-api/v3",
                        "api_key": "k",
                        "secret_env": "T_EST_SECRET",
                    },
                },
                "sink": {"class": "stages.probe:ProbeSink"},
            },
            "rings": [
                {"name": "in", "from": "risk", "to": "execution", "capacity": 64, "slot_size": _DEPTH.itemsize},
                {"name": "out", "from": "execution", "to": "sink", "capacity": 64, "slot_size": 192},
            ],
        },
        source="test",
    )
    owned = create_pipeline_objects(config)
    contexts = [open_stage_context(config, owned.control, s) for s in ("risk", "execution", "sink")]
    try:
        yield config, contexts, ExecutionStage(contexts[1])
    finally:
        for ctx in contexts:
            ctx.close()
        owned.destroy()


def _depth(instrument: int) -> bytes:
    row = np.zeros(1, dtype=_DEPTH.dtype)[0]
    row["rtype"], row["instrument"], row["seq"] = int(RecordType.DEPTH), instrument, 1
    row["update_id"], row["levels"], row["book_state"] = 1, LEVELS, int(BookState.SYNCED)
    row["bid_price"][:LEVELS] = [2_999_900 - i for i in range(LEVELS)]
    row["ask_price"][:LEVELS] = [2_999_950 + i for i in range(LEVELS)]
    row["bid_qty"][:LEVELS] = row["ask_qty"][:LEVELS] = [40] * LEVELS
    return bytes(row.tobytes())


def _intent(instrument: int, order_type: OrderType, qty: int) -> bytes:
    row = np.zeros(1, dtype=_INTENT.dtype)[0]
    row["rtype"], row["instrument"], row["order_seq"], row["qty"] = int(RecordType.ORDER_INTENT), instrument, 1, qty
    row["epoch"], row["strategy_id"], row["action"], row["side"] = EPOCH, 7, int(IntentAction.NEW), int(OrderSide.BUY)
    row["order_type"], row["tif"] = int(order_type), int(TimeInForce.GTC)
    return bytes(row.tobytes())


def test_should_carry_the_estimate_on_a_report_made_before_the_order_left(wired: Any) -> None:
    config, contexts, stage = wired
    instrument = config.instruments[0]
    now = time.monotonic_ns()
    feed = contexts[0].output_port()
    depth = _depth(instrument.id)
    assert feed.offer(depth, now)
    assert feed.offer(_intent(instrument.id, OrderType.STOP_MARKET, 100), now)  # not offered by the client
    assert stage.step(now) == 2
    reports: list[np.void] = []
    contexts[2].input_port().poll(
        lambda buf, offset, _: reports.append(np.frombuffer(buf, _REPORT.dtype, 1, offset)[0].copy()), 16
    )
    assert len(reports) == 1
    report = reports[0]
    assert (int(report["exec_type"]), int(report["reason"])) == (ExecType.REJECTED, RejectReason.VENUE)

    view = BookView(instrument)  # the same book, walked here for the order the stage estimated (a market order)
    view.take_depth(memoryview(depth), 0, now)
    walked = view.estimate_slippage(OrderSide.BUY, 100, 0)
    assert walked.filled_qty == 100 and walked.levels == 3  # 40 + 40 + 20: it walks, and it is not empty
    fields = ("est_avg_price", "est_qty", "ref_bid", "ref_ask", "est_touch_bps", "est_mid_bps")
    assert tuple(report[f].item() for f in fields) == (
        walked.avg_price, walked.filled_qty, walked.bid, walked.ask, walked.touch_bps, walked.mid_bps)  # fmt: skip
    assert stage.slippage.open == 0  # its report ended it: the estimate is not kept past it
