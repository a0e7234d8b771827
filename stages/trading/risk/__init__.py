"""The risk stage: pre-trade checks, positions and PnL, stops, kill switch."""
