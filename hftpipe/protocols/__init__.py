"""Venue wire protocols that more than one application speaks: one home per recipe, no state, no I/O.

``binance_signing``: Binance's request signatures (the exchange's gateway
verifies them, its flow clients and the execution stage's venue client sign).
"""
