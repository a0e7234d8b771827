"""A price-level (L2) order book in fixed-point integers.

Shared by the feed adapters (which keep a replica where a venue's checksum
needs one) and the book stage (which publishes BBO and top-N), so both agree
on what a book is. Each side is a dict price -> qty for O(1) level updates
plus a sorted price list (``bisect``) for the top of book; a new or removed
level costs one ``memmove`` of at most a few KiB.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from typing import Final

from hftpipe.schema.marketdata import BookSide

BID: Final = int(BookSide.BID)
ASK: Final = int(BookSide.ASK)


class L2Book:
    __slots__ = ("_ask_prices", "_asks", "_bid_prices", "_bids", "instrument", "update_id")

    def __init__(self, instrument: int = 0) -> None:
        self.instrument = instrument
        self._bids: dict[int, int] = {}
        self._asks: dict[int, int] = {}
        self._bid_prices: list[int] = []  # ascending; best bid is the last
        self._ask_prices: list[int] = []  # ascending; best ask is the first
        self.update_id = 0

    def clear(self) -> None:
        self._bids.clear()
        self._asks.clear()
        self._bid_prices.clear()
        self._ask_prices.clear()

    def set_level(self, side: int, price: int, qty: int) -> None:
        """Absolute size at ``price``; 0 removes the level (absent levels are ignored)."""
        levels, prices = (self._bids, self._bid_prices) if side == BID else (self._asks, self._ask_prices)
        if qty:
            if price not in levels:
                insort(prices, price)
            levels[price] = qty
        elif levels.pop(price, None) is not None:
            del prices[bisect_left(prices, price)]

    def qty_at(self, side: int, price: int) -> int:
        return (self._bids if side == BID else self._asks).get(price, 0)

    def best_bid(self) -> tuple[int, int] | None:
        if not self._bid_prices:
            return None
        price = self._bid_prices[-1]
        return price, self._bids[price]

    def best_ask(self) -> tuple[int, int] | None:
        if not self._ask_prices:
            return None
        price = self._ask_prices[0]
        return price, self._asks[price]

    def is_crossed(self) -> bool:
        return bool(self._bid_prices and self._ask_prices and self._bid_prices[-1] >= self._ask_prices[0])

    def bids(self, depth: int | None = None) -> list[tuple[int, int]]:
        """Best first."""
        prices = self._bid_prices if depth is None else self._bid_prices[-depth:] if depth else []
        return [(p, self._bids[p]) for p in reversed(prices)]

    def asks(self, depth: int | None = None) -> list[tuple[int, int]]:
        """Best first."""
        prices = self._ask_prices if depth is None else self._ask_prices[:depth]
        return [(p, self._asks[p]) for p in prices]

    def top(self, depth: int) -> tuple[list[int], list[int], list[int], list[int]]:
        """Bid prices, bid qtys, ask prices, ask qtys of the best ``depth`` levels, best first.

        Columns rather than pairs: the book stage packs them straight into a DEPTH record.
        """
        bid_prices = self._bid_prices[: -depth - 1 : -1] if depth > 0 else []
        ask_prices = self._ask_prices[:depth]
        bids, asks = self._bids, self._asks
        return bid_prices, [bids[p] for p in bid_prices], ask_prices, [asks[p] for p in ask_prices]

    def depth(self) -> tuple[int, int]:
        return len(self._bid_prices), len(self._ask_prices)

    def truncate(self, depth: int) -> list[tuple[int, int]]:
        """Keep only the best ``depth`` levels per side (venues with a subscribed depth).

        Returns the removed levels as ``(side, price)``: the bids first, then the
        asks, each side worst first.
        """
        if depth < 0:
            raise ValueError(f"depth must be >= 0, got {depth}")
        removed: list[tuple[int, int]] = []
        bid_prices = self._bid_prices  # ascending: the worst bids come first
        excess = len(bid_prices) - depth
        if excess > 0:
            cut = bid_prices[:excess]
            del bid_prices[:excess]
            bids = self._bids
            for price in cut:
                del bids[price]
            removed += [(BID, price) for price in cut]
        ask_prices = self._ask_prices  # ascending: the worst asks come last
        if len(ask_prices) > depth:
            cut = ask_prices[depth:]
            del ask_prices[depth:]
            asks = self._asks
            for price in cut:
                del asks[price]
            removed += [(ASK, price) for price in reversed(cut)]
        return removed
