"""Orders/s through the engine stage (rings in and out, records packed) against the pure matching library.

The flow is ``bench/test_matching.py``'s (seeded, mixed: passive limits, cancels
by client id, marketable limits, MARKET by qty and by quote, STP), turned into
EX_COMMAND records as accounting would send them (``seq``/``tag`` = the client
order id, cancels by ``tag``) and packed before timing. A timed round pushes
them through a fresh :class:`~stages.exchange.engine.stage.EngineStage` over
real shared-memory rings of the production sizes (cmd 16384, evt 65536,
md 65536 slots), stepped by an AgentInvoker in this one process: the test
offers commands in chunks, invokes the stage until it idles and releases what
it wrote on the event and market-data rings (``peek_batch``/``advance``, no
copy), so nearly all the time measured is the stage's own. "Orders/s" counts
requests (new + cancel), as the pure benchmark does.

The pure library runs the same requests on an engine built exactly like the
stage's (``build_engine``: the symbol's filters, ``history=0``), calling
``new_order``/``cancel`` and dropping the events; the ratio stage/pure is
printed and kept in ``extra_info``. No timing is asserted. After the timed
rounds every stage must have ended in the pure engine's state (open orders,
next order and trade ids) and published as many events as the checked count.

Quick numbers without pytest (median of 5 rounds, collector on and off)::

    .venv/bin/python bench/test_engine_stage.py [requests]
"""

from __future__ import annotations

import gc
import itertools
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from pytest_benchmark.fixture import BenchmarkFixture
from test_matching import NEW, Op, make_flow, run_flow  # bench/ is on sys.path (pytest rootdir conftest, or run here)

from hftpipe.schema.exchange import EX_COMMAND_DTYPE, Command
from hftpipe.schema.records import RecordType
from hftpipe.substrate.ring import Ring
from stages.exchange.core.matching import MatchingEngine, Trade
from stages.exchange.engine.stage import EngineStage, build_engine, symbol_settings
from stages.exchange.protocol.settings import ExchangeSettings
from tests.unit.exchange.engine.harness import EXCHANGE, INSTRUMENT, SYMBOL, EngineHarness

CHUNK = 4096
"""Commands offered per step (the stage itself takes at most 256 per duty cycle)."""
_names = itertools.count()
_SYMBOL = symbol_settings(EngineStage.Params(settings=ExchangeSettings.from_raw(EXCHANGE), symbol=SYMBOL))
_QUOTE_UNIT = 10**_SYMBOL.qty_scale


def commands(ops: list[Op]) -> np.ndarray[Any, Any]:
    """The flow as EX_COMMAND records (untimed)."""
    records = np.zeros(len(ops), dtype=EX_COMMAND_DTYPE)
    records["rtype"] = int(RecordType.EX_COMMAND)
    records["instrument"] = INSTRUMENT
    for i, op in enumerate(ops):
        r = records[i]
        r["request_id"] = i + 1
        r["account"] = op[1]
        if op[0] == NEW:
            _, _, coid, side, otype, tif, price, qty, quote, stp, now = op
            r["command"] = int(Command.NEW_ORDER)
            r["seq"] = r["tag"] = coid
            r["ts_venue"] = now
            r["side"], r["order_type"], r["tif"], r["stp_mode"] = side, otype, tif, stp
            # commands carry quote_qty at price * qty scale; the library takes it at price scale
            r["price"], r["qty"], r["quote_qty"] = price, qty, quote * _QUOTE_UNIT
        else:
            _, _, _, target, now = op
            r["command"] = int(Command.CANCEL)
            r["seq"] = r["ts_venue"] = now
            r["tag"] = target
    return records


def pure_engine() -> MatchingEngine:
    return build_engine(_SYMBOL)


def expected_records(ops: list[Op]) -> tuple[MatchingEngine, int]:
    """The engine state and EX_EVENT count the stage must end with (untimed): one record per engine
    event, except that a match's three (trade, maker status, taker status) become two TRADE records."""
    engine = pure_engine()
    records = 0
    for op in ops:
        if op[0] == NEW:
            events = engine.new_order(op[1], op[2], op[3], op[4], op[5], op[6], op[7], op[8], op[9], op[10])
        else:
            events = engine.cancel(op[1], op[2], op[3], op[4])
        records += len(events) - sum(1 for e in events if type(e) is Trade)
    return engine, records


def release(ring: Ring) -> int:
    """Consume everything readable without copying it; how many records."""
    total = 0
    while count := len(ring.peek_batch(1 << 16)):
        ring.advance(count)
        total += count
    return total


def run_stage(h: EngineHarness, records: np.ndarray[Any, Any]) -> int:
    """Push every command through the stage; returns the events it published."""
    cmd, evt, md, invoke = h.cmd, h.evt, h.md, h.invoker.invoke
    events = 0
    sent = 0
    while sent < len(records):
        sent += cmd.offer_batch(records[sent : sent + CHUNK])
        while invoke():
            events += release(evt)
            release(md)
        events += release(evt)
        release(md)
    return events


def new_harness() -> EngineHarness:
    return EngineHarness(
        f"enginebench{os.getpid()}-{next(_names)}", cmd_capacity=16384, evt_capacity=65536, md_capacity=65536
    )


def median_rate(run: Callable[[], None], n: int, rounds: int = 5) -> float:
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        rates.append(n / (time.perf_counter() - start))
    return statistics.median(rates)


@pytest.mark.benchmark(group="engine-stage")
def test_engine_stage_throughput(benchmark: BenchmarkFixture) -> None:
    ops = make_flow(50_000)
    records = commands(ops)
    reference, expected_events = expected_records(ops)
    made: list[EngineHarness] = []
    try:

        def setup() -> tuple[tuple[EngineHarness, np.ndarray[Any, Any]], dict[str, Any]]:
            made.append(new_harness())
            return (made[-1], records), {}

        published = benchmark.pedantic(run_stage, setup=setup, rounds=5, iterations=1)
        assert published == expected_events
        for h in made:  # every timed run did what the pure engine did
            assert h.stage.engine.open_orders() == reference.open_orders()
            assert (h.stage.engine.next_order_id, h.stage.engine.next_trade_id) == (
                reference.next_order_id,
                reference.next_trade_id,
            )
            assert not h.stage.events.pending and h.stage.market_data.drops == 0
    finally:
        for h in made:
            h.close()
    stage_rate = len(ops) / benchmark.stats.stats.median
    pure_rate = median_rate(lambda: run_flow(pure_engine(), ops) and None, len(ops))
    benchmark.extra_info["requests_per_round"] = len(ops)
    benchmark.extra_info["stage_requests_per_s_median"] = round(stage_rate)
    benchmark.extra_info["pure_requests_per_s_median"] = round(pure_rate)
    benchmark.extra_info["stage_over_pure"] = round(stage_rate / pure_rate, 3)
    print(
        f"\nengine stage: {stage_rate:,.0f} requests/s median; pure library: {pure_rate:,.0f}/s; "
        f"ratio {stage_rate / pure_rate:.2f} ({len(ops)} requests, {expected_events} EX_EVENT records per round)"
    )


def main(argv: list[str]) -> None:
    n = int(argv[1]) if len(argv) > 1 else 200_000
    ops = make_flow(n)
    records = commands(ops)
    reference, events = expected_records(ops)
    print(f"{len(ops)} requests, {events} EX_EVENT records per run")
    for label, collector in (("gc enabled", True), ("gc disabled", False)):
        stage_rates, pure_rates = [], []
        for _ in range(5):
            h = new_harness()
            try:
                if not collector:
                    gc.disable()
                start = time.perf_counter()
                published = run_stage(h, records)
                stage_rates.append(len(ops) / (time.perf_counter() - start))
                gc.enable()
                assert published == events and h.stage.engine.open_orders() == reference.open_orders()
            finally:
                gc.enable()
                h.close()
            engine = pure_engine()
            if not collector:
                gc.disable()
            start = time.perf_counter()
            run_flow(engine, ops)
            pure_rates.append(len(ops) / (time.perf_counter() - start))
            gc.enable()
        stage, pure = statistics.median(stage_rates), statistics.median(pure_rates)
        print(f"{label:12} median requests/s: stage {stage:,.0f}  pure {pure:,.0f}  ratio {stage / pure:.2f}")


if __name__ == "__main__":
    main(sys.argv)
