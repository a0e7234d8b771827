"""``make_harness(**ring_capacities)``: engine stages over real rings under this test's unique pipeline name."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.unit.exchange.engine.harness import EngineHarness

MakeHarness = Callable[..., EngineHarness]


@pytest.fixture
def make_harness(pipeline_name: str) -> Iterator[MakeHarness]:
    made: list[EngineHarness] = []
    counter = itertools.count(1)

    def make(**capacities: Any) -> EngineHarness:
        made.append(EngineHarness(f"{pipeline_name}-{next(counter)}", **capacities))
        return made[-1]

    yield make
    for harness in made:
        harness.close()
