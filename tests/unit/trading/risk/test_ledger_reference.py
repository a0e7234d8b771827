"""Random fill streams against a plain ``Decimal`` reference of each cost method; the account against the strategies.

The reference is written differently on purpose: FIFO and LIFO keep signed
lots and match a fill against the opposite lots until it is used up
(whatever is left opens a lot), with no notion of a "flip"; average cost
keeps a Decimal size and cost and cuts a partial close's share at the
notional scale's last decimal with ``ROUND_DOWN``, which is the ledger's one
documented truncation.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import ROUND_DOWN, Decimal, localcontext
from typing import NamedTuple

from hypothesis import given, settings
from hypothesis import strategies as st

from hftpipe.schema.instruments import Instrument
from hftpipe.schema.trading import OrderSide
from stages.trading.risk.ledger import QUOTE_SCALE, Ledger, PositionLedger
from stages.trading.risk.lots import CostMethod

ZERO = Decimal(0)


class Fill(NamedTuple):
    buy: bool
    price: int
    """Fixed point, price scale."""
    qty: int
    """Fixed point, qty scale."""
    fee: int
    fee_in_base: bool


class Reference:
    """One position in Decimals: price and qty in units, money in quote units."""

    def __init__(self, method: CostMethod, notional_scale: int) -> None:
        self.method = method
        self.quantum = Decimal(1).scaleb(-notional_scale)
        self.lots: list[tuple[Decimal, Decimal]] = []
        """FIFO / LIFO: (price, signed size), oldest first."""
        self.size = ZERO
        """Average: signed size."""
        self.avg_cost = ZERO
        """Average: entry cost of the size, signed like it."""
        self.realized = ZERO
        self.fees = ZERO

    @property
    def qty(self) -> Decimal:
        return self.size if self.method is CostMethod.AVERAGE else sum((q for _, q in self.lots), ZERO)

    @property
    def cost(self) -> Decimal:
        return self.avg_cost if self.method is CostMethod.AVERAGE else sum((p * q for p, q in self.lots), ZERO)

    def fill(self, buy: bool, price: Decimal, qty: Decimal, fee: Decimal, fee_in_base: bool) -> Decimal:
        amount = qty if buy else -qty
        if fee_in_base:
            amount -= fee  # the venue keeps `fee` of the base asset
            self.fees += fee * price
        else:
            self.fees += fee
        before = self.realized
        if self.method is CostMethod.AVERAGE:
            self._average(price, amount)
        else:
            self._lots(price, amount)
        return self.realized - before

    def _lots(self, price: Decimal, amount: Decimal) -> None:
        while amount and self.lots:
            index = 0 if self.method is CostMethod.FIFO else -1
            lot_price, lot_qty = self.lots[index]
            if (lot_qty > 0) == (amount > 0):
                break
            matched = min(abs(amount), abs(lot_qty))
            direction = 1 if lot_qty > 0 else -1  # a long lot gains when sold above its price
            self.realized += (price - lot_price) * matched * direction
            lot_qty -= matched * direction
            amount += matched * direction
            if lot_qty:
                self.lots[index] = (lot_price, lot_qty)
            else:
                del self.lots[index]
        if amount:
            self.lots.append((price, amount))

    def _average(self, price: Decimal, amount: Decimal) -> None:
        if self.size and (self.size > 0) != (amount > 0):
            closed = min(abs(amount), abs(self.size))
            if closed == abs(self.size):
                share = self.avg_cost
            else:
                share = (self.avg_cost * closed / abs(self.size)).quantize(self.quantum, rounding=ROUND_DOWN)
            sign = 1 if self.size > 0 else -1
            self.realized += price * closed * sign - share
            self.avg_cost -= share
            self.size -= closed * sign
            amount += closed * sign
        self.size += amount
        self.avg_cost += price * amount


def _units(value: int, scale: int) -> Decimal:
    return Decimal(value).scaleb(-scale)


SCALES = st.sampled_from([(2, 3), (2, 5), (8, 0), (4, 2), (1, 7), (0, 8)])


@st.composite
def fills(draw: st.DrawFn, size: int = 60) -> list[Fill]:
    stream = []
    for _ in range(draw(st.integers(1, size))):
        qty = draw(st.integers(1, 20_000))
        kind = draw(st.sampled_from(["none", "quote", "base"]))
        fee = 0
        if kind == "quote":
            fee = draw(st.integers(-50, 5_000))  # negative: a rebate
        elif kind == "base":
            fee = draw(st.integers(0, qty))
        stream.append(Fill(draw(st.booleans()), draw(st.integers(1, 2_000_000)), qty, fee, kind == "base"))
    return stream


def _apply(position: PositionLedger, fill: Fill) -> int:
    side = OrderSide.BUY if fill.buy else OrderSide.SELL
    return position.apply_fill(side, fill.price, fill.qty, fill.fee, fill.fee_in_base)


def _ref_apply(reference: Reference, fill: Fill, inst: Instrument) -> Decimal:
    fee_scale = inst.qty_scale if fill.fee_in_base else inst.price_scale
    return reference.fill(
        fill.buy,
        _units(fill.price, inst.price_scale),
        _units(fill.qty, inst.qty_scale),
        _units(fill.fee, fee_scale),
        fill.fee_in_base,
    )


def _assert_same(position: PositionLedger, reference: Reference) -> None:
    inst = position.instrument
    notional = inst.price_scale + inst.qty_scale
    assert _units(position.qty, inst.qty_scale) == reference.qty
    assert _units(position.realized, notional) == reference.realized
    assert _units(position.fees, notional) == reference.fees
    assert _units(position.cost, notional) == reference.cost
    if reference.method is not CostMethod.AVERAGE:
        sign = 1 if position.qty > 0 else -1
        ours = [(_units(p, inst.price_scale), _units(q, inst.qty_scale) * sign) for p, q in position.lots]
        assert ours == reference.lots


@settings(max_examples=150, deadline=None)
@given(method=st.sampled_from(list(CostMethod)), scales=SCALES, stream=fills())
def test_every_method_matches_a_decimal_reference_fill_by_fill(
    method: CostMethod, scales: tuple[int, int], stream: list[Fill]
) -> None:
    inst = Instrument(id=1, venue="test", symbol="RNDUSDT", price_scale=scales[0], qty_scale=scales[1])
    notional = sum(scales)
    position = PositionLedger(inst, method)
    reference = Reference(method, notional)
    with localcontext() as context:
        context.prec = 80
        for n, fill in enumerate(stream):
            realized = _apply(position, fill)
            assert _units(realized, notional) == _ref_apply(reference, fill, inst), f"fill {n}: {fill}"
            _assert_same(position, reference)


INSTRUMENTS = (
    Instrument(id=1, venue="test", symbol="AAAUSDT", price_scale=2, qty_scale=5),
    Instrument(id=2, venue="test", symbol="BBBUSDT", price_scale=5, qty_scale=2),
)


@settings(max_examples=100, deadline=None)
@given(
    method=st.sampled_from(list(CostMethod)),
    stream=fills(80),
    owners=st.lists(st.tuples(st.integers(1, 3), st.sampled_from([1, 2])), min_size=80, max_size=80),
    marks=st.tuples(st.integers(1, 2_000_000), st.integers(1, 2_000_000)),
)
def test_the_account_is_the_merged_stream_and_its_qty_fees_and_net_pnl_are_the_strategies_sums(
    method: CostMethod, stream: list[Fill], owners: list[tuple[int, int]], marks: tuple[int, int]
) -> None:
    ledger = Ledger(INSTRUMENTS, method)
    by_id = {inst.id: inst for inst in INSTRUMENTS}
    strategy_refs: dict[tuple[int, int], Reference] = defaultdict(lambda: Reference(method, 7))
    account_refs = {iid: Reference(method, 7) for iid in by_id}
    with localcontext() as context:
        context.prec = 80
        for fill, (sid, iid) in zip(stream, owners, strict=False):
            side = OrderSide.BUY if fill.buy else OrderSide.SELL
            realized = ledger.apply_fill(sid, iid, side, fill.price, fill.qty, fill.fee, fill.fee_in_base)
            assert _units(realized, 7) == _ref_apply(strategy_refs[(sid, iid)], fill, by_id[iid])
            _ref_apply(account_refs[iid], fill, by_id[iid])
        for (sid, iid), reference in strategy_refs.items():
            _assert_same(ledger.position(sid, iid), reference)
        for iid, reference in account_refs.items():
            _assert_same(ledger.account(iid), reference)
    at = dict(zip(by_id, marks, strict=True))
    sids = ledger.strategies()
    for iid in by_id:
        assert ledger.account_qty(iid) == sum(ledger.strategy_qty(s, iid) for s in sids)
        account = ledger.account(iid)
        positions = [ledger.position(s, iid) for s in sids]
        assert account.fees == sum(p.fees for p in positions)
        assert account.volume == sum(p.volume for p in positions)
        assert account.pnl(at[iid]) == sum(p.pnl(at[iid]) for p in positions)
    # both instruments' money is at 7 decimals, so the 8-decimal totals are exact and add up
    assert QUOTE_SCALE >= 7
    assert ledger.fees() == sum(ledger.fees(s) for s in sids)
    assert ledger.pnl(at) == sum(ledger.pnl(at, s) for s in sids)
    assert ledger.net_exposure(at) == sum(ledger.net_exposure(at, s) for s in sids)
    assert ledger.pnl(at) == ledger.realized() + ledger.unrealized(at) - ledger.fees()
