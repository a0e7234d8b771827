"""The exchange's accounting stage: a thin stage (``stage.py``: rings, journal, start-up) around a pure
core (``accountant.py``: admission, sequencing, settlement, queries, the ledger invariant)."""
