from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.unit.exchange.accounting.harness import Harness, exchange_table


@pytest.fixture
def make_exchange(pipeline_name: str, tmp_path: Path) -> Iterator[Callable[..., Harness]]:
    """``make_exchange(table=None, **harness_options)``: a harness on this test's pipeline and state dir.

    Several may be made one after another (a restart: same state dir, fresh shared memory);
    making one closes the previous one first.
    """
    made: list[Harness] = []

    def make(table: dict[str, Any] | None = None, **options: Any) -> Harness:
        for h in made:
            if not h.invoker.closed:
                h.close()
        harness = Harness(
            pipeline_name,
            table or exchange_table(tmp_path / "state"),
            **options,
        )
        made.append(harness)
        return harness

    yield make
    for h in made:
        if not h.invoker.closed:
            h.close()
