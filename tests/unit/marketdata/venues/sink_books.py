"""The book a BooksSink holds, as exact decimals: what the venue tests compare with their references."""

from __future__ import annotations

from decimal import Decimal

from hftpipe.schema.instruments import InstrumentRegistry
from stages.marketdata.capture.books_sink import BooksSink

DecimalBook = dict[str, dict[Decimal, Decimal]]
"""``{"bids": {price: qty}, "asks": {price: qty}}``."""


def book_as_decimals(sink: BooksSink, registry: InstrumentRegistry, symbol: str) -> DecimalBook:
    """``symbol``'s book in ``sink``, each level read back through its instrument's scales.

    The instrument is the one registry entry named ``symbol`` (a test's registry holds one venue).
    """
    [instrument] = [i for i in registry if i.symbol == symbol]
    book = sink.books[instrument.id]
    return {
        "bids": {Decimal(instrument.price_text(p)): Decimal(instrument.qty_text(q)) for p, q in book.bids()},
        "asks": {Decimal(instrument.price_text(p)): Decimal(instrument.qty_text(q)) for p, q in book.asks()},
    }
