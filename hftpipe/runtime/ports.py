"""Ports: how a stage sees the rings it reads, with the hop histogram it writes for each."""

from __future__ import annotations

from dataclasses import dataclass

from hftpipe.substrate.histogram import Histogram
from hftpipe.substrate.ring import Ring


@dataclass(slots=True)
class InputPort:
    """A ring this stage consumes, with the histogram of that hop (which it writes)."""

    ring: Ring
    hop_histogram: Histogram
    producer_hop: int
    """Index into ``ts_hop`` that the producer stamps when it publishes."""
