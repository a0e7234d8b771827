"""``hftpipe book`` on the shipped captures, as a user runs it."""

from __future__ import annotations

import json
import subprocess

import pytest

from stages.marketdata.capture.book_report import book_report
from tests.captures import CAPTURES, capture

CASES = [
    ("binance", "BINANCE.ws.1.0", "BINANCE.http.0.0", {"NKNUSDT", "BLZETH", "LRCBTC", "RUNEEUR"}),
    (
        "binance-futures",
        "BINANCE_FUTURES.ws.1.0",
        "BINANCE_FUTURES.http.0.0",
        {"SUSHIUSDT", "AKROUSDT", "KEEPUSDT", "CTKUSDT"},
    ),
    (
        "coinbase",
        "COINBASE.ws.28.0",
        None,
        {
            "SKL-USD",
            "SKL-BTC",
            "BAND-GBP",
            "NMR-EUR",
            "BAND-BTC",
            "YFI-BTC",
            "DASH-BTC",
            "NU-GBP",
            "CRV-EUR",
            "SKL-GBP",
        },
    ),
    (
        "kraken",
        "KRAKEN.ws.50.0",
        None,
        {
            "WAVES/EUR",
            "XMR/USD",
            "KSM/XBT",
            "GRT/ETH",
            "SC/EUR",
            "ETH/CHF",
            "OCEAN/XBT",
            "OMG/USD",
            "XBT/CHF",
            "ADA/XBT",
        },
    ),
    ("bybit", "BYBIT.ws.26.0", None, {"BTCUSD", "EOSUSD"}),
]


@pytest.mark.parametrize(("venue", "ws", "http", "symbols"), CASES, ids=[c[0] for c in CASES])
def test_should_print_synced_books_keyed_by_venue_symbol(
    hftpipe_cmd: list[str], venue: str, ws: str, http: str, symbols: set[str]
) -> None:
    capture(ws)  # skips when the captures are not here
    snapshots = ["--snapshots", str(CAPTURES / http)] if http else []
    result = subprocess.run(
        [*hftpipe_cmd, "book", "--venue", venue, "--capture", str(CAPTURES / ws), *snapshots, "--depth", "5", "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) == symbols
    for entry in report.values():
        assert entry["state"] == "synced"
        assert len(entry["bids"]) == len(entry["asks"]) == 5
        bids = [float(price) for price, _ in entry["bids"]]
        asks = [float(price) for price, _ in entry["asks"]]
        assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
        assert bids[0] < asks[0]
        assert set(entry["stats"]) == {
            "messages",
            "applied",
            "dropped",
            "gaps",
            "resyncs",
            "checksums_ok",
            "checksum_failures",
        }
    assert report == book_report(venue, CAPTURES / ws, CAPTURES / http if http else None, depth=5)


def test_should_exit_65_on_a_capture_that_is_not_in_the_capture_format(hftpipe_cmd: list[str], tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.ws"
    bad.write_text("wss://x <-> 1.0\nnot-a-time: {}\n")
    result = subprocess.run(
        [*hftpipe_cmd, "book", "--venue", "binance", "--capture", str(bad), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 65
    assert result.stderr.strip() == f"hftpipe: bad capture {bad}: line 2: bad timestamp in 'not-a-time: {{}}'"
