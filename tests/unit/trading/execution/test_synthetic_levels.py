"""Sorted levels: the next level to be reached is a plain int; reached levels come out in order, ties by placement."""

from __future__ import annotations

import pytest

from stages.trading.execution.synthetic.levels import NEVER, LevelQueue


def _filled(up: bool, entries: list[tuple[int, int]]) -> LevelQueue[str]:
    queue: LevelQueue[str] = LevelQueue(up)
    for level, seq in entries:
        queue.add(level, seq, f"{level}/{seq}")
    return queue


def _drain(queue: LevelQueue[str], ref: int) -> list[str]:
    found = []
    while queue.reached(ref):
        found.append(queue.pop())
    return found


def test_an_empty_queue_is_reached_by_no_price() -> None:
    up: LevelQueue[str] = LevelQueue(up=True)
    down: LevelQueue[str] = LevelQueue(up=False)
    assert (up.next, down.next) == (NEVER, -NEVER)
    assert not up.reached(1 << 65) and not down.reached(-(1 << 65))  # past twice any int64: a MID reference


def test_up_levels_come_out_lowest_first_inclusive_equal_levels_in_placement_order() -> None:
    queue = _filled(True, [(105, 1), (101, 2), (103, 3), (101, 4)])
    assert queue.levels() == [101, 101, 103, 105]
    assert queue.next == 101
    assert _drain(queue, 100) == []
    assert _drain(queue, 103) == ["101/2", "101/4", "103/3"]
    assert queue.next == 105


def test_down_levels_come_out_highest_first_inclusive() -> None:
    queue = _filled(False, [(95, 1), (99, 2), (97, 3), (99, 4)])
    assert queue.levels() == [99, 99, 97, 95]
    assert _drain(queue, 100) == []
    assert _drain(queue, 97) == ["99/2", "99/4", "97/3"]
    assert queue.next == 95


def test_removing_an_entry_moves_the_next_level_and_a_missing_one_is_an_error() -> None:
    queue = _filled(True, [(101, 1), (102, 2)])
    queue.remove(101, 1)
    assert (queue.next, len(queue)) == (102, 1)
    with pytest.raises(KeyError):
        queue.remove(101, 1)
    with pytest.raises(KeyError):
        queue.remove(102, 3)
    queue.remove(102, 2)
    assert queue.next == NEVER
