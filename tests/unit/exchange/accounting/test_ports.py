"""Accounting's ports: every ring's hop measured, every record stamped with when its cause was taken in."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from hftpipe.schema import exchange_codec as codec
from hftpipe.schema.exchange import EX_EVENT_DTYPE, Command, Event
from stages.exchange.protocol.topology import ACCOUNTING_TO_GATEWAY, GATEWAY_TO_ACCOUNTING, command_ring, event_ring
from tests.unit.exchange.accounting.harness import ALICE, BTCUSDT, BUY, Harness, MakeExchange


def _answers(h: Harness) -> np.ndarray[Any, Any]:
    """What accounting published on acct-gw since the last read, raw."""
    records = np.zeros(16, dtype=EX_EVENT_DTYPE)
    return records[: h.from_acct.poll_into(records)]


def _hops(h: Harness) -> dict[str, int]:
    control = h.owned.control
    return {ring.name: control.read_hop_histogram(i).count for i, ring in enumerate(h.config.rings)}


def _counters(h: Harness) -> dict[str, int]:
    control = h.owned.control
    return control.read_counters(control.stage_index("accounting"))


def test_should_stamp_each_record_with_when_it_took_its_cause_and_measure_every_hop(
    make_exchange: MakeExchange,
) -> None:
    h = make_exchange()
    h.start_live()
    _answers(h)
    hop = h.ctx.hop  # 1: the gateway stand-in is the pipeline's source, at 0
    hops, counters = _hops(h), _counters(h)
    sent = time.monotonic_ns()
    h.send(Command.NEW_ORDER, BTCUSDT, account=ALICE, side=BUY, price=5_000_000, qty=1_000)
    h.step()  # accounting takes the command and forwards it
    engine = h.engines[BTCUSDT]
    engine.step()  # the engine takes it and publishes its NEW
    h.step()  # accounting takes the NEW: NEW, BALANCE and DONE to the gateway
    done = time.monotonic_ns()

    command = engine.seen[-1]
    gateway_stamp, forwarded = command[codec.TS_HOP], command[codec.TS_HOP + hop]
    assert sent <= gateway_stamp <= forwarded <= done
    answers = _answers(h)
    assert [Event(e) for e in answers["event"]] == [Event.NEW, Event.BALANCE, Event.DONE]
    stamps = answers["ts_hop"][:, hop].tolist()
    assert forwarded < stamps[0] <= done and stamps == [stamps[0]] * 3  # all caused by the one NEW event

    assert {name: count - hops[name] for name, count in _hops(h).items()} == {
        GATEWAY_TO_ACCOUNTING: 1,  # measured by accounting's input port
        command_ring("BTCUSDT"): 1,  # by the engine's
        event_ring("BTCUSDT"): 1,  # by accounting's
        ACCOUNTING_TO_GATEWAY: 0,  # the test reads it bare
        command_ring("ETHUSDT"): 0,
        event_ring("ETHUSDT"): 0,
    }
    now = _counters(h)
    assert (now["messages_in"] - counters["messages_in"], now["messages_out"] - counters["messages_out"]) == (2, 4)


def test_should_keep_the_stamp_of_a_record_held_for_room(make_exchange: MakeExchange) -> None:
    h = make_exchange(gw_capacity=2)
    h.start_live()
    hop = h.ctx.hop
    backpressure = _counters(h)["backpressure"]
    h.send(Command.NEW_ORDER, BTCUSDT, account=ALICE, side=BUY, price=5_000_000, qty=1_000)
    h.step()
    h.engines[BTCUSDT].step()
    h.step()  # NEW and BALANCE fit acct-gw; DONE waits
    first = _answers(h)
    assert [Event(e) for e in first["event"]] == [Event.NEW, Event.BALANCE]
    assert _counters(h)["backpressure"] > backpressure
    time.sleep(0.002)
    h.step()  # DONE goes out now, with the stamp it got when it was made
    [held] = _answers(h)
    assert Event(held["event"]) is Event.DONE and held["flags"] & codec.END
    assert int(held["ts_hop"][hop]) == int(first["ts_hop"][0, hop])
