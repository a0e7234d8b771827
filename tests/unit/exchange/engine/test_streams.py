"""Whole command streams: back-pressure loses nothing, runs are byte-identical, the stage stays consistent."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from hftpipe.schema.exchange import EX_EVENT_DTYPE, Command, Event, OrderStatus
from hftpipe.schema.records import RecordFlag
from hftpipe.schema.trading import OrderSide
from hftpipe.substrate.counters import CounterKind
from tests.unit.exchange.engine.conftest import MakeHarness
from tests.unit.exchange.engine.flow import Flow, random_commands
from tests.unit.exchange.engine.harness import END, EngineHarness, as_dict

BUY, SELL = int(OrderSide.BUY), int(OrderSide.SELL)


def run_flow(h: EngineHarness, flow: Flow, chunk: int = 64) -> None:
    """Send the flow in chunks (several commands per duty cycle), draining both outputs."""
    for start in range(0, len(flow), chunk):
        for cmd, fields in flow[start : start + chunk]:
            h.send(cmd, **fields)
        h.run()
        h.drain_events()
        h.drain_md()


def test_should_publish_every_event_in_order_through_a_tiny_event_ring(make_harness: MakeHarness) -> None:
    reference = make_harness()
    tiny = make_harness(evt_capacity=4)
    sweep: Flow = [
        (Command.NEW_ORDER, {"account": 1 + i % 2, "side": SELL, "order_type": 0, "tif": 0, "price": 10000 + i,
                             "qty": 100})
        for i in range(30)
    ]  # fmt: skip
    sweep.append((Command.NEW_ORDER, {"account": 3, "side": BUY, "order_type": 0, "tif": 0, "price": 10100,
                                      "qty": 3000}))  # fmt: skip  # 1 + 2 * 30 events
    sweep += random_commands(300, seed=3)
    for cmd, fields in sweep:
        reference.send(cmd, **fields)
        tiny.send(cmd, **fields)
    reference.run()
    expected = reference.drain_events()
    # The tiny ring: publish what fits, hold the rest, take no further command until it is all out.
    while tiny.cmd.size() or tiny.stage.events.pending or tiny.evt.size():
        tiny.invoker.invoke()
        if tiny.stage.events.pending:  # nothing read the events: the stage must stand still
            taken, queued = tiny.cmd.consumer_position, tiny.stage.events.pending
            assert tiny.invoker.invoke() == 0
            assert (tiny.cmd.consumer_position, tiny.stage.events.pending) == (taken, queued)
            assert tiny.evt.size() == 4
        tiny.drain_events(limit=3)
    assert tiny.event_bytes == expected
    assert tiny.counter(CounterKind.BACKPRESSURE) > 0
    assert tiny.counter(CounterKind.MESSAGES_OUT) == len(expected) + tiny.md.size()  # both rings' ports count
    assert tiny.md.size() == tiny.counter("md_records") > 0
    assert tiny.counter(CounterKind.MESSAGES_IN) == len(sweep)
    assert tiny.evt.full_count > 0
    assert sum(1 for raw in expected if as_dict(raw, EX_EVENT_DTYPE)["flags"] & END) == len(sweep)


def test_should_give_byte_identical_event_and_market_data_streams_for_the_same_commands(
    make_harness: MakeHarness,
) -> None:
    flow = random_commands(4000, seed=2024)
    first, second, squeezed = make_harness(), make_harness(), make_harness(evt_capacity=8)
    run_flow(first, flow)
    run_flow(second, flow, chunk=1)
    for cmd, fields in flow:  # a slow reader: back-pressure all along, the same bytes in the end
        squeezed.send(cmd, **fields)
        while squeezed.invoker.invoke() or squeezed.stage.events.pending:
            squeezed.drain_events(limit=5)
            squeezed.drain_md()
    squeezed.drain_events()
    squeezed.drain_md()
    assert len(first.event_bytes) > 8000 and len(first.md_bytes) > 3000
    assert first.event_bytes == second.event_bytes == squeezed.event_bytes
    assert first.md_bytes == second.md_bytes == squeezed.md_bytes


def test_should_stay_consistent_with_the_engine_over_a_random_stream(make_harness: MakeHarness) -> None:
    """Per command: >= 1 event, END only on the last; per order: trades add up to cum_qty/cum_quote;
    the stage's open-order table matches the engine's open orders."""
    h = make_harness()
    fills: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    finished: set[int] = set()
    counts: dict[int, int] = defaultdict(int)
    for cmd, fields in random_commands(3000, seed=99):
        h.send(cmd, **fields)
        h.run()
        events = h.events()
        assert events and [e["flags"] & END for e in events] == [0] * (len(events) - 1) + [END]
        assert {(e["seq"], e["ts_venue"]) for e in events} == {(events[0]["seq"], events[0]["ts_venue"])}
        for e in events:
            counts[e["event"]] += 1
            oid = e["order_id"]
            if e["event"] == Event.TRADE:
                assert oid not in finished
                fills[oid][0] += e["last_qty"]
                fills[oid][1] += e["last_price"] * e["last_qty"]
                assert (e["cum_qty"], e["cum_quote"]) == tuple(fills[oid]), e
                if e["status"] == OrderStatus.FILLED:
                    finished.add(oid)
            elif e["event"] in (Event.CANCELED, Event.EXPIRED):
                assert oid not in finished
                assert (e["cum_qty"], e["cum_quote"]) == tuple(fills[oid]), e
                finished.add(oid)
            if e["event"] not in (Event.REJECTED, Event.DEPTH_LEVEL, Event.DONE, Event.CANCEL_REPLACE):
                assert e["qty"] or e["quote_qty"], e
        engine = h.stage.engine
        stage_open = h.stage.processor.open
        assert {o.order_id: (o.side, o.price, o.qty, o.account) for o in engine.open_orders()} == {
            oid: (info[0], info[4], info[5], info[8]) for oid, info in stage_open.items()
        }
        engine.check_invariants()
    for kind in (Event.NEW, Event.TRADE, Event.CANCELED, Event.EXPIRED, Event.REJECTED, Event.CANCEL_REPLACE,
                 Event.DEPTH_LEVEL, Event.DONE):  # fmt: skip
        assert counts[kind] > 10, (kind, counts)
    assert h.stage.processor.unknown_reasons == 0
    assert h.counter(CounterKind.ERRORS) == 0


def test_should_skip_a_record_that_is_not_a_command_and_count_it(make_harness: MakeHarness) -> None:
    h = make_harness()
    h.send_raw(bytes(256))
    h.send(Command.DEPTH, journaled=False)
    h.run()
    events: list[dict[str, Any]] = h.events()
    assert [e["event"] for e in events] == [Event.DONE]
    assert h.counter(CounterKind.ERRORS) == 1 and h.counter(CounterKind.MESSAGES_IN) == 2
    assert int(RecordFlag.END_OF_UPDATE) == END


def test_should_measure_every_command_and_stamp_what_it_caused_with_when_it_was_taken(
    make_harness: MakeHarness,
) -> None:
    h = make_harness()
    flow = random_commands(300, seed=5)
    published = 0
    for cmd, fields in flow:
        sent = h.send(cmd, **fields)
        h.run()
        records = [*h.events(), *h.market_data()]
        stamps = {tuple(h.stamped(sent["ts_hop"], r["ts_hop"])) for r in records}
        assert len(stamps) == 1, stamps  # the whole output of one command: that command's now
        published += len(records)
    control = h.owned.control
    assert control.read_hop_histogram(0).count == len(flow)  # the accounting -> engine ring (cmd), first
    assert h.counter(CounterKind.MESSAGES_IN) == len(flow)
    assert h.counter(CounterKind.MESSAGES_OUT) == published > len(flow)
