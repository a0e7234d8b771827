"""What every indicator shares: warm-up bookkeeping, argument checks, and the batch helper.

An indicator takes one input per ``update`` and answers its current value, or
``None`` while it warms up. ``lookback`` is TA-Lib's: the number of inputs
consumed before the first value, so a fresh indicator answers ``None`` exactly
``lookback`` times. ``compute`` feeds whole arrays through ``update`` of a
fresh copy, so batch and incremental values are identical by construction.

Hot paths check finiteness as ``x - x != 0.0``: true for NaN and ±inf only,
and cheaper than a call to ``math.isfinite``.
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, Generic, Self, TypeVar

import numpy as np
import numpy.typing as npt

V = TypeVar("V")
FloatArray = npt.NDArray[np.float64]

NAN = float("nan")


class Indicator(ABC, Generic[V]):
    """Base of every indicator; ``V`` is what ``update`` answers once warm (a float or a tuple of floats)."""

    __slots__ = ("_count", "_lookback")

    _count: int
    _lookback: int

    def __init__(self, lookback: int) -> None:
        self._lookback = lookback
        self.reset()

    @property
    def count(self) -> int:
        """Inputs seen since construction or the last ``reset()``."""
        return self._count

    @property
    def lookback(self) -> int:
        """Inputs consumed before the first value (TA-Lib's ``*_Lookback``)."""
        return self._lookback

    @property
    def ready(self) -> bool:
        """Whether ``value`` holds a value."""
        return self.value is not None

    @property
    @abstractmethod
    def value(self) -> V | None:
        """The value ``update`` last answered (``None`` during warm-up)."""

    def reset(self) -> None:
        """Forget every input: the indicator then behaves exactly like a fresh one."""
        self._count = 0
        self._clear()

    @abstractmethod
    def _clear(self) -> None:
        """Set every piece of state to its fresh value; the constructor calls it too, so the two cannot differ."""

    @abstractmethod
    def _fresh(self) -> Self:
        """A new instance with the same parameters (``compute`` runs on one, leaving this one alone)."""


def check_period(owner: str, name: str, value: object, minimum: int) -> int:
    """``value`` as an int, or a ValueError naming the owner and the bound."""
    if isinstance(value, int | np.integer) and not isinstance(value, bool) and value >= minimum:
        return int(value)
    raise ValueError(f"{owner}: {name} must be an integer >= {minimum}, got {value!r}")


def check_number(owner: str, name: str, value: object, minimum: float, *, strict: bool, unit: str = "") -> float:
    """``value`` as a float over (``strict``) or at least ``minimum``, or a ValueError naming owner and bound."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        number = float(value)
        if math.isfinite(number) and (number > minimum if strict else number >= minimum):
            return number
    bound = f"{'>' if strict else '>='} {minimum:g}{unit}"
    raise ValueError(f"{owner}: {name} must be a finite number {bound}, got {value!r}")


def not_finite(owner: str, name: str, value: float) -> ValueError:
    return ValueError(f"{owner}.update: {name} must be finite, got {value!r}")


def series(owner: str, names: Sequence[str], arrays: Sequence[npt.ArrayLike]) -> list[list[float]]:
    """The inputs of ``compute`` as lists of Python floats (what ``update`` is fastest on), checked for shape."""
    columns = [np.asarray(a, dtype=np.float64) for a in arrays]
    for name, column in zip(names, columns, strict=True):
        if column.ndim != 1:
            raise ValueError(f"{owner}.compute: {name} must be one-dimensional, got shape {column.shape}")
    lengths = [len(c) for c in columns]
    if len(set(lengths)) > 1:
        raise ValueError(
            f"{owner}.compute: {', '.join(names)} must have the same length, got {', '.join(map(str, lengths))}"
        )
    return [c.tolist() for c in columns]


def replay(update: Callable[..., Any], columns: Sequence[list[float]]) -> list[Any]:
    """``update`` over the rows of ``columns``; a rejected input is reported with its index."""
    out: list[Any] = [None] * len(columns[0])
    i = 0
    try:
        for i, row in enumerate(zip(*columns, strict=True)):
            out[i] = update(*row)
    except ValueError as exc:
        raise ValueError(f"{exc} (at index {i})") from None
    return out


def as_array(values: Sequence[float | None]) -> FloatArray:
    return np.array([NAN if v is None else v for v in values], dtype=np.float64)


def as_arrays(values: Sequence[tuple[float, ...] | None], width: int) -> tuple[FloatArray, ...]:
    gap = (NAN,) * width
    rows = np.array([gap if v is None else v for v in values], dtype=np.float64).reshape(len(values), width)
    return tuple(np.ascontiguousarray(rows[:, j]) for j in range(width))
