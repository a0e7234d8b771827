"""The exchange's accounting stage: sequencer, journal, ledger and order table (see ``stage.py``)."""
