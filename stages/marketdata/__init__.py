"""Market data: venue adapters, the feed and book stages, capture and replay.

Floors, top down: ``cli`` > ``feed`` | ``book`` (the stages) > ``capture`` (file format,
offline replay, the loopback venue) > ``venues`` (pure adapters, one package per venue).
"""
