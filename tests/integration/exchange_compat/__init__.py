"""Real Binance clients (official SDK, ccxt, python-binance, cryptofeed) against ``hftpipe exchange run``."""
