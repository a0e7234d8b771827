"""Replay server -> feed -> book -> recorder, as processes over loopback WebSockets and shm rings.

The venue serves a capture made of two connection segments: the first breaks
off halfway through the stream (the server closes it: a forced disconnect
mid-stream), the second is the whole capture. With ``loop = true`` the client
reconnects again and again. Whatever the timing, every top-of-book the book
stage publishes while the feed says SYNCED must equal the true book at that
update id, computed independently from the capture.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

from hftpipe.runtime.config import load_config
from hftpipe.runtime.supervisor import Supervisor
from hftpipe.schema.instruments import InstrumentRegistry
from hftpipe.schema.marketdata import BookState
from stages.marketdata.capture.books_sink import BooksSink
from stages.marketdata.capture.format import EventKind, format_event
from stages.marketdata.capture.replay import replay
from stages.marketdata.venues.binance.adapter import BinanceAdapter
from tests.captures import CAPTURES, capture
from tests.integration.probe_config import wait_for

DEPTH = 10


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _reference_tops() -> dict[tuple[int, int], tuple[list[list[int]], list[list[int]]]]:
    """(instrument, update id) -> top-10 bids and asks after that update, from the whole capture."""
    tops: dict[tuple[int, int], tuple[list[list[int]], list[list[int]]]] = {}

    class Recording(BooksSink):
        def book_level(
            self,
            instrument: int,
            side: int,
            price: int,
            qty: int,
            update_id: int,
            ts_venue: int,
            ts_recv: int,
            end: bool,
            snapshot: bool,
        ) -> None:
            super().book_level(instrument, side, price, qty, update_id, ts_venue, ts_recv, end, snapshot)
            if end:
                book = self.books[instrument]
                tops[(instrument, update_id)] = (
                    [[p, q] for p, q in book.bids(DEPTH)],
                    [[p, q] for p, q in book.asks(DEPTH)],
                )

    replay(BinanceAdapter(Recording(), InstrumentRegistry()), capture("BINANCE.ws.1.0"), capture("BINANCE.http.0.0"))
    return tops


def _two_segment_capture(path: Path) -> None:
    events = capture("BINANCE.ws.1.0")
    received = [e for e in events if e.kind is EventKind.RECEIVED]
    connect = next(e for e in events if e.kind is EventKind.CONNECT)
    half = [connect, *received[: len(received) // 2]]
    path.write_text("\n".join(format_event(e) for e in [*half, *events]) + "\n")


def test_should_never_publish_a_wrong_book_across_forced_disconnects(tmp_path: Path, pipeline_name: str) -> None:
    ws_capture = tmp_path / "binance.ws"
    _two_segment_capture(ws_capture)
    port = _free_port()
    recorded = tmp_path / "depth.jsonl"
    config_path = tmp_path / "pipeline.toml"
    config_path.write_text(f"""
[pipeline]
name = "{pipeline_name}"
on_failure = "stop"

[stages.venue]
class = "stages.marketdata.capture.replay_venue:ReplayVenueStage"
params.capture = "{ws_capture}"
params.snapshots = "{CAPTURES / "BINANCE.http.0.0"}"
params.port = {port}
params.pace = "fast"
params.loop = true

[stages.feed]
class = "stages.marketdata.feed.stage:FeedStage"
params.venue = "binance"
params.url = "ws://127.0.0.1:{port}/stream?streams=x"
params.rest_url = "http://127.0.0.1:{port}"
params.replay = true
params.reconnect_min_s = 0.05
params.reconnect_max_s = 0.2

[stages.book]
class = "stages.marketdata.book.stage:BookStage"
params = {{ depth = {DEPTH} }}

[stages.recorder]
class = "tests.integration.depth_recorder:DepthRecorder"
params = {{ path = "{recorded}" }}

[[rings]]
from = "feed"
to = "book"
capacity = 65536

[[rings]]
from = "book"
to = "recorder"
capacity = 16384
slot_size = 768
""")
    reference = _reference_tops()
    final_ids = {}
    for instrument, update_id in reference:
        final_ids[instrument] = max(update_id, final_ids.get(instrument, 0))
    supervisor = Supervisor(load_config(config_path))
    try:
        supervisor.start()
        feed = supervisor.config.stage_index("feed")

        # Three connections at least (broken off, whole, broken off again), each resynced by snapshots.
        def cycled() -> bool:
            counters = supervisor.control.read_counters(feed)
            return counters["reconnects"] >= 2 and counters["snapshots_fetched"] >= 12

        wait_for(lambda: supervisor.check() and cycled(), "two reconnects and their resyncs", timeout_s=60)
        supervisor.stop()
        assert supervisor.failure is None
        counters = supervisor.control.read_counters(feed)
        assert counters["malformed"] == counters["unknown"] == 0
    finally:
        supervisor.destroy()

    lines = [json.loads(line) for line in recorded.read_text().splitlines()]
    synced = [line for line in lines if line["state"] == BookState.SYNCED]
    assert synced, "the book stage never published a synced book"
    for line in synced:
        key = (line["instrument"], line["update_id"])
        assert key in reference, f"published update {key} never happened"
        assert (line["bids"], line["asks"]) == reference[key], f"wrong book published at {key}"
    seen_final = {line["instrument"] for line in synced if line["update_id"] == final_ids[line["instrument"]]}
    assert seen_final == set(final_ids), "the whole capture was not replayed in sync at least once"
