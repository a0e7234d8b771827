"""The exchange core: matching engine, order book and symbol filters; pure, deterministic, no IO."""
