"""The synthetic flow generator: seeded market makers, takers and cancellers.

They trade through the exchange's Binance WebSocket API like any outside
client (signed requests over ``ws://HOST:API_PORT/ws-api/v3``); the flow
stage has no rings. ``client`` is the small API client, ``market`` the shared
fair values and the symbol's filters, ``participants`` what each role sends,
``stage`` the lock-step loop that paces them.
"""
