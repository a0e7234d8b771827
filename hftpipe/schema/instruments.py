"""Instrument registry: the small integer id on every record <-> venue symbol and scales."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from hftpipe.schema.fixedpoint import MAX_SCALE, format_fixed, parse_fixed


@dataclass(frozen=True, slots=True, kw_only=True)
class Instrument:
    """One tradable symbol on one venue, with the decimal scales of its numbers.

    ``tick`` and ``lot`` are fixed-point at ``price_scale`` and ``qty_scale``.
    """

    id: int
    venue: str
    symbol: str
    price_scale: int
    qty_scale: int
    tick: int = 1
    lot: int = 1

    def __post_init__(self) -> None:
        if not 0 < self.id < 1 << 32:
            raise ValueError(f"instrument id must be 1..2^32-1, got {self.id}")
        for name in ("price_scale", "qty_scale"):
            value = getattr(self, name)
            if not 0 <= value <= MAX_SCALE:
                raise ValueError(f"{name} must be 0..{MAX_SCALE}, got {value}")
        if self.tick <= 0 or self.lot <= 0:
            raise ValueError("tick and lot must be positive")

    def price(self, text: str) -> int:
        return parse_fixed(text, self.price_scale)

    def qty(self, text: str) -> int:
        return parse_fixed(text, self.qty_scale)

    def price_text(self, value: int) -> str:
        return format_fixed(value, self.price_scale)

    def qty_text(self, value: int) -> str:
        return format_fixed(value, self.qty_scale)


class InstrumentRegistry:
    """Both directions of the id <-> (venue, symbol) mapping; ids are unique."""

    def __init__(self, instruments: Iterable[Instrument] = ()) -> None:
        self._by_id: dict[int, Instrument] = {}
        self._by_symbol: dict[tuple[str, str], Instrument] = {}
        for instrument in instruments:
            self.add(instrument)

    def add(self, instrument: Instrument) -> None:
        key = (instrument.venue, instrument.symbol)
        if instrument.id in self._by_id:
            raise ValueError(f"instrument id {instrument.id} is already registered")
        if key in self._by_symbol:
            raise ValueError(f"{instrument.venue}:{instrument.symbol} is already registered")
        self._by_id[instrument.id] = instrument
        self._by_symbol[key] = instrument

    def next_id(self) -> int:
        """An id no instrument has yet: one past the largest (declared ids need not be dense)."""
        return max(self._by_id, default=0) + 1

    def by_id(self, instrument_id: int) -> Instrument:
        return self._by_id[instrument_id]

    def by_symbol(self, venue: str, symbol: str) -> Instrument:
        return self._by_symbol[(venue, symbol)]

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Instrument]:
        return iter(self._by_id.values())
