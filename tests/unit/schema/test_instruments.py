"""instruments.py: the id <-> (venue, symbol) registry and per-instrument scales."""

from __future__ import annotations

import re

import pytest

from hftpipe.schema.fixedpoint import FixedPointError
from hftpipe.schema.instruments import Instrument, InstrumentRegistry


def _btc(instrument_id: int = 1, symbol: str = "BTCUSDT", venue: str = "binance") -> Instrument:
    return Instrument(id=instrument_id, venue=venue, symbol=symbol, price_scale=2, qty_scale=8, tick=1, lot=1000)


def test_should_find_an_instrument_by_id_and_by_venue_symbol() -> None:
    btc, eth = _btc(), _btc(2, "ETHUSDT")
    registry = InstrumentRegistry([btc, eth])
    assert registry.by_id(1) is btc
    assert registry.by_id(2) is eth
    assert registry.by_symbol("binance", "ETHUSDT") is eth
    assert len(registry) == 2
    assert list(registry) == [btc, eth]


def test_should_allow_the_same_symbol_on_different_venues() -> None:
    registry = InstrumentRegistry([_btc(1, venue="binance"), _btc(2, venue="okx")])
    assert registry.by_symbol("okx", "BTCUSDT").id == 2


def test_should_reject_a_duplicate_instrument_id() -> None:
    registry = InstrumentRegistry([_btc()])
    with pytest.raises(ValueError, match=re.escape("instrument id 1 is already registered")):
        registry.add(_btc(1, "ETHUSDT"))
    with pytest.raises(KeyError):
        registry.by_symbol("binance", "ETHUSDT")
    assert len(registry) == 1


def test_should_reject_a_duplicate_venue_symbol_without_registering_its_id() -> None:
    registry = InstrumentRegistry([_btc()])
    with pytest.raises(ValueError, match=re.escape("binance:BTCUSDT is already registered")):
        registry.add(_btc(7))
    with pytest.raises(KeyError):
        registry.by_id(7)
    assert len(registry) == 1


def test_should_reject_duplicates_passed_to_the_constructor() -> None:
    with pytest.raises(ValueError, match=re.escape("instrument id 1 is already registered")):
        InstrumentRegistry([_btc(), _btc(1, "ETHUSDT")])


@pytest.mark.parametrize("bad_id", [0, -1, 1 << 32])
def test_should_reject_an_id_that_does_not_fit_the_record_header(bad_id: int) -> None:
    with pytest.raises(ValueError, match=re.escape(f"instrument id must be 1..2^32-1, got {bad_id}")):
        _btc(bad_id)


def test_should_accept_the_largest_id_the_record_header_holds() -> None:
    assert _btc((1 << 32) - 1).id == (1 << 32) - 1


@pytest.mark.parametrize(("field", "value"), [("price_scale", -1), ("qty_scale", 19)])
def test_should_reject_a_scale_outside_0_to_18(field: str, value: int) -> None:
    kwargs = {"id": 1, "venue": "v", "symbol": "s", "price_scale": 2, "qty_scale": 8, field: value}
    with pytest.raises(ValueError, match=re.escape(f"{field} must be 0..18, got {value}")):
        Instrument(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("tick", "lot"), [(0, 1), (1, 0), (-5, 1)])
def test_should_reject_a_non_positive_tick_or_lot(tick: int, lot: int) -> None:
    with pytest.raises(ValueError, match=re.escape("tick and lot must be positive")):
        Instrument(id=1, venue="v", symbol="s", price_scale=2, qty_scale=8, tick=tick, lot=lot)


def test_should_parse_and_format_prices_and_quantities_at_their_own_scales() -> None:
    btc = _btc()
    assert btc.price("65432.10") == 6_543_210
    assert btc.qty("0.00012300") == 12_300
    assert btc.price_text(6_543_210) == "65432.1"
    assert btc.qty_text(12_300) == "0.000123"


def test_should_refuse_a_price_finer_than_the_instrument_scale() -> None:
    with pytest.raises(FixedPointError, match=re.escape("'1.005' has more than 2 decimal places")):
        _btc().price("1.005")
