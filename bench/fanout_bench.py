"""``python -m bench.fanout_bench``: what fanning one stream out costs its producer, two designs side by side.

Designs, named by topology (the pytest-benchmark versions in ``bench/test_fanout.py`` use the same names):

* ``spsc-x1``: one SPSC ring, ``offer`` per record. **The baseline**: every
  ratio is against its median in the same run.
* ``spsc-xN``: one SPSC ring per consumer (N = 2, 4), the producer offers
  each record to every ring.
* ``broadcast-xN``: one broadcast ring with N receivers (N = 1, 2, 4), one
  ``offer`` per record whatever N.

The slow-consumer case: two consumers, one of which never reads.

* ``broadcast-x2-stalled``: the producer goes on at full speed; when the
  stalled receiver finally polls it gets the newest record and counts the
  rest as lost (exactly ``published - 1``).
* ``spsc-x2-stalled``: the stalled consumer's ring fills after ``capacity``
  records. A producer that must not block drops from then on (each refused
  offer is counted as ring-full: ``published - capacity``); one that blocks
  would stop at ``capacity`` records and wait for the stalled consumer for
  ever, holding up the healthy one too. Measured here: the dropping producer.

Method (in-process): the producer publishes ``count`` 64-byte records in
chunks of 1,024 timed with ``time.perf_counter_ns`` (gc off); between chunks,
untimed, every consumer that reads drains what it was sent (SPSC:
``peek_batch``/``advance``; broadcast: ``poll``), so an SPSC ring is never
full unless it is the stalled one. What is timed is the producer's Python
cost alone, the figure that decides how many consumers a book stage can feed:
no reader runs concurrently, so the cache-line traffic of live readers is
not in it. The topologies run interleaved (every topology once per
repetition, ``repetitions`` times), so drift on this shared machine falls on
all of them alike; reported: the median over repetitions, and the median of
the per-repetition ratios to ``spsc-x1``. Every run checks what it timed:
positions, ring-full counts, lost counts.

Live (``--live``): ``spsc-x1-live`` and ``broadcast-x1-live`` run the
producer and one consumer in two processes pinned to the two cores (see
:mod:`bench.procs`), the consumer busy-spinning on ``poll``; the producer's
cost per record now includes the cache lines the reader pulls away.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import statistics
import struct
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from typing import Any, Final

from bench.procs import BenchmarkError, await_go, choose_pinning, run_pair, signal_ready
from hftpipe.substrate.broadcast import BroadcastReceiver, BroadcastTransmitter
from hftpipe.substrate.ring import Ring
from hftpipe.substrate.shm import segment_name

PAYLOAD: Final = struct.Struct("<8xQ8xq32x")
"""A 64-byte probe-shaped record: sequence at 8, a value at 24."""
SLOT: Final = PAYLOAD.size
CAPACITY: Final = 4096
CHUNK: Final = 1024
BASELINE: Final = "spsc-x1"
FANOUTS: Final = (1, 2, 4)
TOPOLOGIES: Final = (
    BASELINE,
    *(f"spsc-x{n}" for n in FANOUTS if n > 1),
    *(f"broadcast-x{n}" for n in FANOUTS),
    "broadcast-x2-stalled",
    "spsc-x2-stalled",
)


def _name(label: str) -> str:
    return segment_name(f"bench{os.getpid()}", "ring", label)


@contextmanager
def spsc_rings(label: str, count: int, capacity: int = CAPACITY) -> Iterator[tuple[list[Ring], list[Ring]]]:
    """``count`` fresh SPSC rings: producer ends, consumer ends; unlinked whatever happens."""
    producers: list[Ring] = []
    consumers: list[Ring] = []
    try:
        for i in range(count):
            producers.append(Ring.create(_name(f"{label}{i}"), capacity, SLOT))
            consumers.append(Ring.attach(producers[-1].name))
        yield producers, consumers
    finally:
        for ring in consumers:
            ring.close()
        for ring in producers:
            ring.close()
            ring.unlink()


@contextmanager
def broadcast_ring(
    label: str, receivers: int, capacity: int = CAPACITY
) -> Iterator[tuple[BroadcastTransmitter, list[BroadcastReceiver]]]:
    """A fresh broadcast ring and its receivers; unlinked whatever happens."""
    transmitter = BroadcastTransmitter.create(_name(label), capacity, SLOT, receivers)
    ends: list[BroadcastReceiver] = []
    try:
        ends.extend(BroadcastReceiver.attach(transmitter.name, i) for i in range(receivers))
        yield transmitter, ends
    finally:
        for end in ends:
            end.close()
        transmitter.close()
        transmitter.unlink()


def drain_ring(consumer: Ring) -> int:
    """Consume everything readable, O(1) calls per wrap."""
    drained = 0
    while True:
        view = consumer.peek_batch(consumer.capacity)
        n = len(view)
        if not n:
            return drained
        del view
        consumer.advance(n)
        drained += n


def _ignore(buf: memoryview, offset: int) -> None:
    pass


def drain_receiver(receiver: BroadcastReceiver) -> int:
    drained = 0
    while True:
        n = receiver.poll(_ignore, CAPACITY)
        if not n:
            return drained
        drained += n


def _timed_chunks(count: int, publish: Callable[[int], None], between: Callable[[], None]) -> int:
    """Nanoseconds spent in ``publish(n)`` over ``count`` records in chunks; ``between()`` runs untimed."""
    clock = time.perf_counter_ns
    elapsed = 0
    for start in range(0, count, CHUNK):
        n = min(CHUNK, count - start)
        began = clock()
        publish(n)
        elapsed += clock() - began
        between()
    return elapsed


def run_spsc(count: int, rings: int, stalled: bool = False) -> dict[str, Any]:
    """One SPSC ring per consumer; with ``stalled`` the last consumer never reads (the producer drops)."""
    payload = PAYLOAD.pack(7, 99)
    with spsc_rings(f"s{rings}{'st' if stalled else ''}", rings) as (producers, consumers):
        reading = consumers[:-1] if stalled else consumers
        offers = [ring.offer for ring in producers]
        offer = offers[0]

        def publish_one(n: int) -> None:
            for _ in range(n):
                offer(payload)

        def publish_each(n: int) -> None:
            for _ in range(n):
                for each in offers:
                    each(payload)

        def between() -> None:
            for consumer in reading:
                drain_ring(consumer)

        elapsed = _timed_chunks(count, publish_one if rings == 1 else publish_each, between)
        for consumer in reading:
            if consumer.consumer_position != count or consumer.full_count:
                raise BenchmarkError(f"spsc-x{rings}: a reading consumer got {consumer.consumer_position} of {count}")
        result: dict[str, Any] = {"ns_per_record": elapsed / count, "published": count}
        if stalled:
            stuck = producers[-1]
            if (stuck.producer_position, stuck.full_count) != (CAPACITY, count - CAPACITY):
                raise BenchmarkError(f"spsc stalled: {stuck.producer_position} in, {stuck.full_count} full")
            result.update(
                ring_full=stuck.full_count, delivered_to_stalled=stuck.producer_position, blocks_after=CAPACITY
            )
        return result


def run_broadcast(count: int, receivers: int, stalled: bool = False) -> dict[str, Any]:
    """One broadcast ring; with ``stalled`` the last receiver reads only once, at the end."""
    payload = PAYLOAD.pack(7, 99)
    with broadcast_ring(f"b{receivers}{'st' if stalled else ''}", receivers) as (transmitter, ends):
        reading = ends[:-1] if stalled else ends
        offer = transmitter.offer

        def publish(n: int) -> None:
            for _ in range(n):
                offer(payload)

        def between() -> None:
            for end in reading:
                drain_receiver(end)

        elapsed = _timed_chunks(count, publish, between)
        for end in reading:
            if (end.position, end.lost) != (count, 0):
                raise BenchmarkError(f"broadcast-x{receivers}: receiver {end.index} at {end.position}, lost {end.lost}")
        result: dict[str, Any] = {"ns_per_record": elapsed / count, "published": count}
        if stalled:
            late = ends[-1]
            received = drain_receiver(late)
            if (received, late.lost, late.position) != (1, count - 1, count):
                raise BenchmarkError(f"broadcast stalled: {received} received, {late.lost} lost")
            result.update(stalled_received=received, stalled_lost=late.lost)
        return result


def run_topology(topology: str, count: int) -> dict[str, Any]:
    kind, _, rest = topology.partition("-x")
    fanout, _, stalled = rest.partition("-")
    runner = run_broadcast if kind == "broadcast" else run_spsc
    return runner(count, int(fanout), stalled == "stalled")


# =============================================================================== live
def _live_producer(conn: Connection, kind: str, name: str, count: int) -> dict[str, int]:
    end: Ring | BroadcastTransmitter = Ring.attach(name) if kind == "spsc" else BroadcastTransmitter.attach(name)
    offer = end.offer
    payload = PAYLOAD.pack(7, 99)
    full = 0
    clock = time.perf_counter_ns
    signal_ready(conn)
    await_go(conn)
    began = clock()
    for _ in range(count):
        while not offer(payload):
            full += 1
    elapsed = clock() - began
    end.close()
    return {"elapsed_ns": elapsed, "full": full}


def _live_consumer(conn: Connection, kind: str, name: str, count: int) -> dict[str, int]:
    end = Ring.attach(name) if kind == "spsc" else BroadcastReceiver.attach(name, 0)
    poll = end.poll
    received = 0
    signal_ready(conn)
    if isinstance(end, Ring):
        while received < count:
            received += poll(_ignore, CHUNK)
        lost = 0
    else:
        while end.position < count:
            received += poll(_ignore, CHUNK)
        lost = end.lost
    end.close()
    if received + lost != count:
        raise BenchmarkError(f"{kind} live: {received} received + {lost} lost != {count}")
    return {"received": received, "lost": lost}


def run_live(kind: str, count: int) -> dict[str, Any]:
    """Producer and one busy-spinning consumer in two pinned processes."""
    pinning = choose_pinning()
    with contextlib.ExitStack() as stack:
        if kind == "spsc":
            name = stack.enter_context(spsc_rings("live", 1))[0][0].name
        else:
            name = stack.enter_context(broadcast_ring("live", 1))[0].name
        pair = run_pair(
            f"{kind}-x1-live",
            (_live_producer, (kind, name, count)),
            (_live_consumer, (kind, name, count)),
            pinning,
            timeout_s=300.0,
        )
    return {
        "ns_per_record": pair.producer["elapsed_ns"] / count,
        "ring_full_retries": pair.producer["full"],
        "received": pair.consumer["received"],
        "lost": pair.consumer["lost"],
        "preempted": pair.preempted,
        "pinning": pinning.describe(),
    }


# ============================================================================== report
def run_fanout_benchmark(count: int = 100_000, repetitions: int = 5, live: bool = False) -> dict[str, Any]:
    """Every topology ``repetitions`` times, interleaved; medians and ratios to the same run's baseline."""
    if count < CAPACITY + 1 or repetitions < 1:
        raise ValueError(f"count must be > {CAPACITY} (the stalled SPSC ring must fill) and repetitions >= 1")
    runs: dict[str, list[dict[str, Any]]] = {t: [] for t in TOPOLOGIES}
    started = time.monotonic()
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repetitions):
            for topology in TOPOLOGIES:
                runs[topology].append(run_topology(topology, count))
    finally:
        if enabled:
            gc.enable()
    base = [r["ns_per_record"] for r in runs[BASELINE]]
    topologies: dict[str, Any] = {}
    for topology, results in runs.items():
        ns = [r["ns_per_record"] for r in results]
        ratios = [a / b for a, b in zip(ns, base, strict=True)]
        topologies[topology] = {
            "ns_per_record": statistics.median(ns),
            "ratio_to_baseline": statistics.median(ratios),
            "runs_ns": [round(v, 1) for v in ns],
            **{k: v for k, v in results[-1].items() if k not in ("ns_per_record", "published")},
        }
    result: dict[str, Any] = {
        "setup": {
            "count": count,
            "repetitions": repetitions,
            "capacity": CAPACITY,
            "slot_size": SLOT,
            "chunk": CHUNK,
            "baseline": BASELINE,
            "python": sys.version.split()[0],
            "cores": sorted(os.sched_getaffinity(0)),
        },
        "topologies": topologies,
    }
    if live:
        result["live"] = {f"{kind}-x1-live": run_live(kind, count * 10) for kind in ("spsc", "broadcast")}
    result["setup"]["took_s"] = round(time.monotonic() - started, 1)
    return result


def format_fanout_report(result: dict[str, Any]) -> str:
    setup = result["setup"]
    lines = [
        f"fan-out: producer cost per 64-byte record, {setup['count']:,} records x {setup['repetitions']} interleaved"
        f" repetitions, capacity {setup['capacity']}; python {setup['python']}; took {setup['took_s']} s",
        f"{'topology':<24}{'median ns/record':>18}{'ratio to ' + setup['baseline']:>20}   notes",
    ]
    for topology, info in result["topologies"].items():
        notes = []
        if "stalled_lost" in info:
            notes.append(f"stalled receiver: {info['stalled_received']} received, {info['stalled_lost']:,} lost")
        if "ring_full" in info:
            notes.append(
                f"stalled ring: {info['delivered_to_stalled']:,} delivered, {info['ring_full']:,} ring-full drops"
                f" (a blocking producer stops after {info['blocks_after']:,})"
            )
        lines.append(
            f"{topology:<24}{info['ns_per_record']:>18.1f}{info['ratio_to_baseline']:>19.2f}x   {'; '.join(notes)}"
        )
    for topology, info in result.get("live", {}).items():
        lines.append(
            f"{topology:<24}{info['ns_per_record']:>18.1f}{'':>20}   a consumer process busy-spinning"
            f" ({info['pinning']}): {info['received']:,} received, {info['lost']:,} lost,"
            f" {info['ring_full_retries']:,} ring-full retries"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fanout_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the text report")
    parser.add_argument("--count", type=int, default=100_000, help="records per run")
    parser.add_argument("--repetitions", type=int, default=5, help="interleaved repetitions (medians reported)")
    parser.add_argument("--live", action="store_true", help="also the two-process runs (10x count records each)")
    args = parser.parse_args(argv)
    result = run_fanout_benchmark(args.count, args.repetitions, args.live)
    print(json.dumps(result) if args.json else format_fanout_report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
