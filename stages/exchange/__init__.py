"""The exchange side: matching engine per symbol, gateway, market-data publisher, accounting.

Floors, top down: ``cli`` > the stage packages (``engine``, ``accounting``, ``gateway``,
``publisher``, ``flow``; never each other) > ``protocol`` | ``core`` (shared by them).
"""
