"""Synthetic orders: stops, take-profits, trailing stops, pegs, OCO / OTO / brackets, released as real orders.

Pure and deterministic: :class:`~stages.trading.execution.synthetic.book.SyntheticBook`
is the entry point; one module per concept beside it.
"""
