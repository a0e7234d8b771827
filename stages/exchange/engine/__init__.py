"""The matching-engine stage of the exchange: one process per symbol around :mod:`stages.exchange.core.matching`.

``stage.EngineStage`` reads EX_COMMAND records from ``cmd-<SYMBOL>``, runs them
through the symbol's :class:`~stages.exchange.core.matching.MatchingEngine`
(``processor``), writes what they caused as EX_EVENT records to
``evt-<SYMBOL>`` (``event_writer``: never drops, back-pressure) and the book's
changes as TRADE/BOOK_DELTA records to ``md-<SYMBOL>`` (``market_data``: never
blocks, drops and resyncs with a snapshot). The records go through
:mod:`hftpipe.schema.exchange_codec`.
"""
