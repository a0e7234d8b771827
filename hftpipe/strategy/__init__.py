"""The public strategy API: what user strategies import to turn market data into decisions."""
