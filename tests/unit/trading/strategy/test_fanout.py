"""Market data fanned out on a broadcast ring: a slow strategy never slows the book stage.

feed (driven by the test through the feed's own RingSink) → book stage → broadcast
``md`` → {strategy stage, a second receiver}. The book stage publishes far more
than the ring holds while the strategy is not stepped at all; then the strategy
runs once: what it lost is counted exactly, and the book it hands its strategy is
the newest the book stage published.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from hftpipe.runtime import AgentInvoker
from hftpipe.runtime.config import parse_config
from hftpipe.runtime.wiring import create_pipeline_objects, open_stage_context
from hftpipe.schema.marketdata import BookSide, BookState
from hftpipe.substrate.counters import CounterKind
from stages.marketdata.book.stage import BookStage
from stages.marketdata.feed.ring_sink import RingSink
from stages.trading.strategy.stage import StrategyStage
from tests.unit.trading.strategy.harness import INSTRUMENTS

CAPACITY = 64
P = 1_000_000


@pytest.fixture
def pipeline(pipeline_name: str) -> Iterator[dict[str, Any]]:
    config = parse_config(
        {
            "pipeline": {"name": pipeline_name},
            "instruments": INSTRUMENTS,
            "stages": {
                "feed": {"class": "stages.probe:ProbeSource"},
                "book": {"class": "stages.marketdata.book.stage:BookStage", "params": {"depth": 5}},
                "strategy": {
                    "class": "stages.trading.strategy.stage:StrategyStage",
                    "params": {"id": 1, "name": "slow", "class": "tests.unit.trading.strategy.strategies:Recorder"},
                },
                "other": {"class": "stages.probe:ProbeSink"},
                "venue": {"class": "stages.probe:ProbeSink"},
            },
            "rings": [
                {"from": "feed", "to": "book", "capacity": 4096, "slot_size": 128},
                {
                    "name": "md",
                    "kind": "broadcast",
                    "from": "book",
                    "to": ["strategy", "other"],
                    "capacity": CAPACITY,
                    "slot_size": 768,
                },
                {"from": "strategy", "to": "venue", "capacity": 64, "slot_size": 192},
            ],
        },
        source="test",
        allowed_cpus={0, 1},
    )
    owned = create_pipeline_objects(config)
    contexts = {
        name: open_stage_context(config, owned.control, name) for name in ("feed", "book", "strategy", "other", "venue")
    }
    book, strategy = AgentInvoker(BookStage(contexts["book"])), AgentInvoker(StrategyStage(contexts["strategy"]))
    book.start()
    strategy.start()
    try:
        yield {
            "contexts": contexts,
            "book": book,
            "strategy": strategy,
            "sink": RingSink(contexts["feed"].output_port()),
        }
    finally:
        book.close()
        strategy.close()
        for ctx in contexts.values():
            ctx.close()
        owned.destroy()


def test_should_count_what_a_lapped_strategy_lost_and_hand_it_the_newest_book(pipeline: dict[str, Any]) -> None:
    sink, book, strategy = pipeline["sink"], pipeline["book"], pipeline["strategy"]
    sink.book_clear(1, 1, 0, 1)
    sink.book_level(1, BookSide.BID, 100 * P, 10, 1, 0, 1, False, True)
    sink.book_level(1, BookSide.ASK, 101 * P, 10, 1, 0, 1, True, True)
    sink.book_state(1, BookState.SYNCED, 2)
    updates = 500
    for i in range(updates):  # far more book updates than the broadcast ring holds
        sink.book_level(1, BookSide.BID, (100 - i % 7) * P, 10 + i, 2 + i, 0, 10 + i, True, False)
        while book.invoke():
            pass
    contexts = pipeline["contexts"]
    book_counters = contexts["book"].control.read_counters(contexts["book"].index)
    published = book_counters["messages_out"]
    assert book_counters["backpressure"] == 0  # the book stage never waited for anyone
    assert published >= 2 * updates  # a BBO and a DEPTH per update, and the forwarded state

    while strategy.invoke():
        pass
    counters = contexts["strategy"].control.read_counters(contexts["strategy"].index)
    assert counters["lost.md"] > 0
    assert counters["lost.md"] + counters[CounterKind.MESSAGES_IN.label] == published  # every record accounted for
    view = strategy.agent.books[1]
    bid_prices, bid_qtys, ask_prices, ask_qtys = book.agent.books[1].top(5)  # the book stage's own book, now
    assert view.update_id == 2 + updates - 1
    assert (view.bid_prices.tolist(), view.bid_qtys.tolist()) == (list(bid_prices), list(bid_qtys))
    assert (view.ask_prices[:1].tolist(), view.ask_qtys[:1].tolist()) == (list(ask_prices), list(ask_qtys))
    seen = [what for kind, what in strategy.agent.runners[0].strategy.seen if kind == "book"]
    assert seen == [(1, view.update_id, bid_prices[0], 101 * P, "SYNCED")]  # one conflated hand-over, the newest
