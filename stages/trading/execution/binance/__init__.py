"""Binance's spot WebSocket API as a venue: the client (``client.py``), pure request builders and answer / event
parsers (``messages.py``), and what each error answer means for the caller (``errors.py``)."""
