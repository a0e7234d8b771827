"""A probe sink that also says what a trading stage says: a ``trading`` status, a named histogram.

For the exporter's and ``top``'s tests of the parts of the report that the shared
contract adds (the ``trading`` summary, ``ctx.histogram(name)``): the stage
publishes them with the contract's keys, the readers must show them.
"""

from __future__ import annotations

from hftpipe.runtime import StageContext
from stages.probe import ProbeSink

TRADING = {
    "state": "halted",
    "positions": {"BTCUSDT": "0.015"},
    "realized_pnl": "12.5",
    "unrealized_pnl": "-3.25",
    "orders_sent": 10,
    "acks": 9,
    "fills": 7,
    "rejects": 1,
    "fees": "0.75",
}
TICK_TO_ORDER_NS = (2_000_000, 3_000_000, 4_000_000)


class TradingStatusSink(ProbeSink):
    def __init__(self, ctx: StageContext) -> None:
        super().__init__(ctx)
        ctx.publish_status({"trading": TRADING})
        histogram = getattr(ctx, "histogram", None)  # the named histograms of the shared contract, once merged
        if histogram is not None:
            named = histogram("tick_to_order")
            for value in TICK_TO_ORDER_NS:
                named.record(value)
