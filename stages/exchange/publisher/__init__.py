"""The market-data publisher: Binance's public WebSocket streams and REST market data.

It reads only the engines' ``md-<SYMBOL>`` rings (BOOK_DELTA and TRADE records,
so no account data can reach it), keeps a replica book and trade statistics per
symbol, and serves them on one port: ``/ws/<stream>``, ``/stream?streams=...``
and ``GET /api/v3/...``. Every module here is one concept; :mod:`.stage` wires
them into the stage process.
"""
