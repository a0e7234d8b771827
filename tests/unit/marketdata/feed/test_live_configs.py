"""The shipped live configs are valid and point at each venue's public endpoint."""

from __future__ import annotations

import json

import pytest

from hftpipe.runtime.config import load_config
from hftpipe.schema.instruments import InstrumentRegistry
from stages.marketdata.capture.books_sink import BooksSink
from stages.marketdata.venues.registry import adapter_class
from tests.conftest import REPO

LIVE = {
    "binance": "wss://stream.binance.com:9443/stream?streams=",
    "binance-futures": "wss://fstream.binance.com/stream?streams=",
    "coinbase": "wss://ws-feed.exchange.coinbase.com",
    "kraken": "wss://ws.kraken.com",
    "bybit": "wss://stream.bybit.com/v5/public/linear",
}


@pytest.mark.parametrize(("venue", "url_prefix"), LIVE.items())
def test_should_ship_a_live_config_that_subscribes_to_the_venue_public_endpoint(venue: str, url_prefix: str) -> None:
    config = load_config(REPO / "configs" / f"{venue}-live.toml")
    params = config.stage("feed").params
    assert params.venue == venue
    assert params.url == ""  # the venue's own endpoint
    adapter = adapter_class(venue)(
        BooksSink(), InstrumentRegistry(), symbols=params.symbols, depth=params.depth
    )
    url = adapter.websocket_urls()[0]
    assert url.startswith(url_prefix)
    subscriptions = adapter.subscriptions(url)
    if venue.startswith("binance"):
        assert subscriptions == []  # combined streams are named in the URL
        for symbol in params.symbols:
            assert f"{symbol.lower()}@depth@100ms" in url
    else:
        assert subscriptions
        text = " ".join(subscriptions)
        for symbol in params.symbols:
            assert symbol in text
        for message in subscriptions:
            json.loads(message)
    assert [(r.producer, r.consumer) for r in config.rings] == [("feed", "book"), ("book", "sink")]
