"""One ``hftpipe exchange run`` per client module (free ports, a private state dir, the flow live), and the table.

Each test names the (client, feature) cell it proves with ``@pytest.mark.compat(client, feature)``; with
``HFTPIPE_COMPAT_TABLE=README.md`` set, the run rewrites the README's compatibility table from the outcomes.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hftpipe.substrate.shm import remove_pipeline
from tests.conftest import SUITE_TAG, hftpipe_command, leftovers
from tests.integration.exchange.harness import RunningExchange, write_exchange_config
from tests.integration.exchange.trading import settings_of
from tests.integration.exchange_compat.table import Outcomes, mark_cell, write_table
from tests.integration.exchange_compat.venue import Venue

FLOW_ORDERS_PER_SECOND = 10
"""Slow enough that REST depth often stands at an update id a 100 ms diff ended on; fast enough to fill us."""

OUTCOMES = Outcomes()


@pytest.fixture(scope="module")
def venue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venue]:
    name = f"{SUITE_TAG}-{secrets.token_hex(4)}"
    directory: Path = tmp_path_factory.mktemp("exchange")
    config = write_exchange_config(directory, name, flow=True, flow_rate=FLOW_ORDERS_PER_SECOND)
    exchange = RunningExchange(hftpipe_command(), config)
    exchange.start()
    settings = settings_of(config)
    demo = next(k for k in settings.api_keys if k.account == "demo" and k.secret)
    try:
        venue = Venue(exchange, settings, demo.api_key, demo.secret)
        _wait_for_a_live_market(venue)
        yield venue
    finally:
        code = exchange.stop()
        left = leftovers(name)
        remove_pipeline(name)
        assert code == 0, "".join(exchange.output[-40:])
        assert not left, f"the exchange left shared memory behind: {left}"


def _wait_for_a_live_market(venue: Venue, timeout_s: float = 60.0) -> None:
    """The flow's makers quote both sides of every symbol and its takers trade soon after the start; the tests
    trade against those quotes and read klines and aggregate trades of those trades."""
    deadline = time.monotonic() + timeout_s
    for symbol in (s.symbol for s in venue.settings.symbols):
        while not all(venue.depth(symbol)[1].values()) or not venue.get(f"/api/v3/trades?symbol={symbol}&limit=1"):
            assert time.monotonic() < deadline, f"the flow never quoted both sides of {symbol} and traded"
            time.sleep(0.1)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    OUTCOMES.record(report)


def pytest_sessionfinish(session: pytest.Session) -> None:
    target = os.environ.get("HFTPIPE_COMPAT_TABLE")
    if target and OUTCOMES.cells:
        write_table(Path(target), OUTCOMES)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        mark_cell(item)
