"""``[[instruments]]``: ids, scales, tick and lot every stage of a pipeline agrees on."""

from __future__ import annotations

from typing import Any

import pytest

from hftpipe.runtime.instruments_config import parse_instruments
from hftpipe.runtime.validation import ConfigError
from hftpipe.schema.instruments import Instrument, InstrumentRegistry
from stages.marketdata.venues.binance.adapter import BinanceAdapter


def test_should_number_instruments_in_order_and_read_tick_and_lot_at_their_scales() -> None:
    parsed = parse_instruments(
        [
            {"venue": "binance", "symbol": "NKNUSDT", "tick": "0.00001", "lot": "1"},
            {"venue": "binance", "symbol": "RUNEEUR", "price_scale": 4, "qty_scale": 2, "tick": "0.001", "lot": "0.01"},
            {"venue": "kraken", "symbol": "XBT/USD", "id": 40},
        ]
    )
    assert parsed == (
        Instrument(id=1, venue="binance", symbol="NKNUSDT", price_scale=8, qty_scale=8, tick=1000, lot=100_000_000),
        Instrument(id=2, venue="binance", symbol="RUNEEUR", price_scale=4, qty_scale=2, tick=10, lot=1),
        Instrument(id=40, venue="kraken", symbol="XBT/USD", price_scale=8, qty_scale=8, tick=1, lot=1),
    )


@pytest.mark.parametrize(
    ("raw", "key", "reason"),
    [
        ({"instruments": 1}, "instruments", "must be an array of tables ([[instruments]])"),
        ([{"symbol": "A"}], "instruments[0].venue", "missing"),
        ([{"venue": "v", "symbol": "A", "tick": 0.01}], "instruments[0].tick",
         'must be a decimal string like "0.01", got 0.01'),
        ([{"venue": "v", "symbol": "A", "tick": "0.000000001"}], "instruments[0].tick",
         "'0.000000001' has more than 8 decimal places"),
        ([{"venue": "v", "symbol": "A", "lot": "0"}], "instruments[0].lot", "must be positive, got '0'"),
        ([{"venue": "v", "symbol": "A", "size": 1}], "instruments[0].size", None),
        ([{"venue": "v", "symbol": "A"}, {"venue": "v", "symbol": "B", "id": 1}], "instruments[1].id",
         "id 1 is already instruments[0]'s"),
        ([{"venue": "v", "symbol": "A"}, {"venue": "v", "symbol": "A"}], "instruments[1].symbol",
         "v:A is already instruments[0]"),
        ([{"venue": "v", "symbol": "A", "price_scale": 19}], "instruments[0]", "price_scale must be 0..18, got 19"),
    ],
)  # fmt: skip
def test_should_name_the_key_of_each_instrument_error(raw: Any, key: str, reason: str | None) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_instruments(raw["instruments"] if isinstance(raw, dict) else raw)
    assert caught.value.key == key
    if reason is not None:
        assert caught.value.reason == reason


class _Nowhere:
    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


def test_should_keep_declared_ids_and_give_an_undeclared_symbol_the_next_free_one() -> None:
    declared = parse_instruments([{"venue": "binance", "symbol": "LRCBTC", "id": 7}])
    adapter = BinanceAdapter(_Nowhere(), InstrumentRegistry(declared), symbols=["LRCBTC", "BLZETH"])
    assert adapter.instrument("LRCBTC").id == 7
    assert adapter.instrument("BLZETH").id == 8
    assert adapter.instrument("NKNUSDT").id == 9
