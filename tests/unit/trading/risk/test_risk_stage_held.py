"""The risk stage when execution's ring is full: what waits is a copy, sent unchanged and in order later."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.unit.trading.risk.stage_harness import P, RiskHarness, bbo, intent

LIMITS = {"account": {"max_order_qty": "5", "price_band_bps": 100}, "watch_stages": []}  # no stage runs here


@pytest.fixture
def risk(pipeline_name: str) -> Iterator[RiskHarness]:
    h = RiskHarness(pipeline_name, LIMITS)
    yield h
    h.close()


def test_should_hold_a_copy_of_what_execution_has_no_room_for_and_send_it_unchanged_later(risk: RiskHarness) -> None:
    h = risk
    h.market(bbo(100 * P, 101 * P))
    sent = [intent(seq) for seq in range(1, 301)]
    h.send(*sent[:200])
    h.send(*sent[200:])  # the approved ring (256 slots) takes 56 of these; 44 wait in the stage
    # the stage took all 300 from its input ring, so the strategy may write over the slots the waiting ones
    # were read from: a view of them would now show these
    later = [intent(seq) for seq in range(301, 557)]
    for record in later:
        assert h._strat.offer(record, 2)
    out = h.to_exec()
    h.step()  # the 44 go out, then the 256 later ones are read and approved
    out += h.to_exec()
    h.step()
    out += h.to_exec()
    assert len(out) == len(sent) + len(later)
    for got, want in zip(out, sent + later, strict=True):
        assert got[:32] == want[:32] and got[64:] == want[64:]  # the hop stamps are the rings'
    assert h.to_strat() == []
