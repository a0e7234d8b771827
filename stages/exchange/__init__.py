"""The exchange side: matching engine per symbol, gateway, market-data publisher, accounting."""
