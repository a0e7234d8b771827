"""``hftpipe bench ring``: the shm ring against ``faster_fifo`` and ``multiprocessing.Queue``.

Every measurement runs a producer and a consumer in two fresh processes
(``fork``), pinned to two different cores when there are two (see
:mod:`bench.procs`), with the garbage collector disabled in both.
All transports carry the same 64-byte payload, laid out like a probe record
(sequence at offset 8, send time at offset 24, the rest zero).

One-way latency
    The producer paces its sends: it waits until ``pacing_ns`` after the
    previous send started (10 µs; 20 µs for mp.Queue, which cannot keep up
    with 10), reads ``time.monotonic_ns()``, writes it into the payload and
    sends. The consumer spins polling (every transport: see
    :data:`IDLE_STRATEGY`), reads the clock as soon as it has the record and
    stores ``now - sent`` at ``latencies[seq]`` in a preallocated int64 array
    (nothing is allocated per message on the ring path). The first ``warmup``
    records are discarded; every sequence number must arrive. Percentiles come
    from :meth:`HistogramSnapshot.from_values`. Each transport runs
    ``repetitions`` times, interleaved (ring, faster-fifo, mp.Queue, ring, ...)
    so that noise on this shared machine falls on all of them alike; the
    reported percentiles are the medians over the runs. One extra run times
    faster-fifo with a blocking ``get()``, for reference.

Throughput, single records
    The producer sends ``count`` records one at a time as fast as it can
    (retrying when full); the consumer checks that record ``i`` carries
    sequence ``i`` (any loss, repeat or reordering fails the benchmark) and
    rates are ``(count - first) / (t_last - t_first)``, both clock reads taken
    in the consumer: ``first`` records arrived by the time of the first read.

Throughput, batched
    Batches of ``batch`` PROBE_DTYPE records: ``offer_batch``/``poll_into``
    through a ring of ``batch_ring_capacity`` slots, ``put_many``/``get_many``
    for faster-fifo, and one ``put`` of a list of 64-byte ``bytes`` per batch
    for multiprocessing.Queue. The consumer checks every sequence number.
"""

from __future__ import annotations

import os
import platform
import queue as stdlib_queue
import statistics
import struct
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Final

import faster_fifo
import numpy as np
import numpy.typing as npt

from bench.procs import (
    START_METHOD,
    BenchmarkError,
    Pinning,
    Work,
    await_go,
    choose_pinning,
    run_pair,
    signal_ready,
)
from hftpipe.schema.records import PROBE_DTYPE, SEQ_OFFSET, TS_ORIGIN_OFFSET
from hftpipe.substrate.histogram import HistogramSnapshot
from hftpipe.substrate.ring import Ring
from hftpipe.substrate.shm import clean_stale, segment_name

PAYLOAD: Final = struct.Struct("<8xQ8xq32x")
"""``(seq, sent_ns)`` at the probe record's ``seq`` and ``ts_origin`` offsets; 64 bytes."""
PAYLOAD_SIZE: Final = PAYLOAD.size
assert PAYLOAD_SIZE == PROBE_DTYPE.itemsize == 64
assert PAYLOAD.pack(7, 9)[SEQ_OFFSET] == 7 and PAYLOAD.pack(7, 9)[TS_ORIGIN_OFFSET] == 9

TRANSPORTS: Final = ("ring", "faster_fifo", "mp_queue")
LABELS: Final = {"ring": "shm ring", "faster_fifo": "faster-fifo", "mp_queue": "mp.Queue"}
METRIC_KEYS: Final = ("p50_ns", "p99_ns", "p999_ns", "msgs_per_s", "batch_records_per_s")

LATENCY_RING_CAPACITY: Final = 4096
THROUGHPUT_RING_CAPACITY: Final = 16384
FASTER_FIFO_BYTES: Final = 4 * 1024 * 1024
"""faster-fifo's buffer: four times the throughput ring's bytes (its messages carry a length prefix)."""
QUEUE_TIMEOUT_S: Final = 120.0
POLL_LIMIT: Final = 1024

# The targets, shown beside the measurements.
TARGET_P50_NS: Final = 500
TARGET_P99_NS: Final = 3_000
TARGET_RATIO_VS_FASTER_FIFO: Final = 30.0
TARGET_SINGLE_PER_S: Final = 5_000_000
TARGET_BATCH_PER_S: Final = 100_000_000

MP_QUEUE_MIN_PACING_NS: Final = 20_000
"""multiprocessing.Queue cannot take a send every 10 µs without a backlog building up
(measured: p50 jumps from ~15 µs to ms now and then), so it is paced at least this far apart."""

IDLE_STRATEGY: Final = {
    "ring": (
        "latency: producer busy-waits on time.monotonic_ns() between paced sends (retries try_claim() while "
        "full); consumer busy-spins on Ring.poll() (no sleep, no yield, no syscall). Throughput: both spin"
    ),
    "faster_fifo": (
        "latency: producer busy-waits like the ring's; consumer busy-spins on get(block=False), retrying on "
        "queue.Empty (no sleep). Throughput: put()/put_many() and get()/get_many() block on faster-fifo's "
        "process-shared mutex and condition variable. Raw bytes (dumps = loads = bytes, no pickle)"
    ),
    "mp_queue": (
        "latency: producer waits between paced sends calling os.sched_yield() in its loop, which releases "
        "the GIL so the Queue's feeder thread can pickle and write the message (a pure busy-wait holds the "
        "GIL and starves that thread for up to sys.getswitchinterval() = 5 ms); consumer busy-spins on "
        "get(block=False) (lock + poll() on the Queue's pipe per try), retrying on queue.Empty. "
        "Throughput: put() returns at once (the feeder thread sends), get() blocks reading the pipe. "
        "Items are pickled, its only mode"
    ),
}
BLOCKING_RUN_SCALE: Final = 4
FASTER_FIFO_BLOCKING: Final = (
    "extra run (a quarter of the samples), not in the headline ratios: faster-fifo's consumer blocks in "
    "get() (waits on its condition variable) instead of spinning; paced like mp.Queue"
)


@dataclass(frozen=True, slots=True)
class RingBenchPlan:
    """Everything one run measures; derived from the two CLI sizes by :meth:`from_sizes`."""

    latency_samples: int
    """Measured one-way samples per run and transport (after the warm-up)."""
    warmup: int
    repetitions: int
    """Latency runs per transport; also throughput runs of the ring (the queues' take longer: one)."""
    pacing_ns: dict[str, int]
    single_counts: dict[str, int]
    batch_counts: dict[str, int]
    batch: int = 1024
    batch_ring_capacity: int = THROUGHPUT_RING_CAPACITY
    timeout_s: float = 300.0

    @classmethod
    def from_sizes(
        cls, messages: int, throughput_messages: int, *, repetitions: int = 3, pacing_ns: int = 10_000
    ) -> RingBenchPlan:
        if messages < 1 or throughput_messages < 1 or repetitions < 1 or pacing_ns < 0:
            raise ValueError("messages, throughput_messages and repetitions must be >= 1, pacing_ns >= 0")
        batch = 1024
        # The queues move 10-100x fewer records per second than the ring: they get fewer,
        # so that the whole run stays well under a minute on two cores.
        baseline = max(throughput_messages // 10, 2)
        return cls(
            latency_samples=messages,
            warmup=min(messages // 10, 20_000),
            repetitions=repetitions,
            pacing_ns={
                "ring": pacing_ns,
                "faster_fifo": pacing_ns,
                "mp_queue": max(pacing_ns, MP_QUEUE_MIN_PACING_NS),
                "faster_fifo_blocking": max(pacing_ns, MP_QUEUE_MIN_PACING_NS),
            },
            single_counts={"ring": max(throughput_messages, 2), "faster_fifo": baseline, "mp_queue": baseline},
            batch_counts={
                "ring": max(throughput_messages * 20, 4 * batch),
                "faster_fifo": max(baseline * 5, 4 * batch),
                "mp_queue": max(baseline * 10, 4 * batch),
            },
            batch=batch,
        )


# =============================================================================== latency
def _ring_latency_producer(conn: Connection, name: str, total: int, pacing_ns: int) -> dict[str, int]:
    ring = Ring.attach(name)
    buf = ring.buffer
    claim = ring.try_claim
    commit = ring.commit
    pack = PAYLOAD.pack_into
    clock = time.monotonic_ns
    full = 0
    signal_ready(conn)
    await_go(conn)
    due = clock()
    for seq in range(total):
        while clock() < due:
            pass
        sent = clock()
        offset = claim()
        while offset < 0:
            full += 1
            offset = claim()
        pack(buf, offset, seq, sent)
        commit()
        due = sent + pacing_ns
    return {"sent": total, "full": full}


def _ring_latency_consumer(conn: Connection, name: str, total: int) -> npt.NDArray[np.int64]:
    ring = Ring.attach(name)
    latencies = np.full(total, -1, dtype=np.int64)
    clock = time.monotonic_ns
    unpack = PAYLOAD.unpack_from

    def on_record(buf: memoryview, offset: int) -> None:
        now = clock()
        seq, sent = unpack(buf, offset)
        latencies[seq] = now - sent

    poll = ring.poll
    received = 0
    signal_ready(conn)
    while received < total:
        received += poll(on_record, POLL_LIMIT)
    return latencies


def _queue_latency_producer(
    conn: Connection, channel: Any, total: int, pacing_ns: int, yield_gil: bool
) -> dict[str, int]:
    put = channel.put
    pack = PAYLOAD.pack
    clock = time.monotonic_ns
    sched_yield = os.sched_yield
    signal_ready(conn)
    await_go(conn)
    due = clock()
    for seq in range(total):
        if yield_gil:
            while clock() < due:
                sched_yield()
        else:
            while clock() < due:
                pass
        sent = clock()
        put(pack(seq, sent))
        due = sent + pacing_ns
    return {"sent": total, "full": 0}


def _queue_latency_consumer(conn: Connection, channel: Any, total: int, spin: bool) -> npt.NDArray[np.int64]:
    latencies = np.full(total, -1, dtype=np.int64)
    clock = time.monotonic_ns
    unpack = PAYLOAD.unpack
    get = channel.get
    empty = stdlib_queue.Empty
    received = 0
    signal_ready(conn)
    while received < total:
        if spin:
            try:
                data = get(False)
            except empty:
                continue
        else:
            data = get()
        now = clock()
        seq, sent = unpack(data)
        latencies[seq] = now - sent
        received += 1
    return latencies


# ============================================================================ throughput
def _check_sequence(transport: str, expected: int, got: int) -> None:
    raise BenchmarkError(f"{transport}: record {expected} carried sequence {got}: lost, repeated or reordered")


def _ring_single_producer(conn: Connection, name: str, total: int) -> dict[str, int]:
    ring = Ring.attach(name)
    buf = ring.buffer
    claim = ring.try_claim
    commit = ring.commit
    pack = PAYLOAD.pack_into
    full = 0
    signal_ready(conn)
    await_go(conn)
    for seq in range(total):
        offset = claim()
        while offset < 0:
            full += 1
            offset = claim()
        pack(buf, offset, seq, 0)
        commit()
    return {"sent": total, "full": full}


def _ring_single_consumer(conn: Connection, name: str, total: int) -> dict[str, int]:
    ring = Ring.attach(name)
    unpack = PAYLOAD.unpack_from
    expected = 0

    def on_record(buf: memoryview, offset: int) -> None:
        nonlocal expected
        seq = unpack(buf, offset)[0]
        if seq != expected:
            _check_sequence("ring", expected, seq)
        expected += 1

    poll = ring.poll
    clock = time.monotonic_ns
    signal_ready(conn)
    received = 0
    while not received:
        received = poll(on_record, POLL_LIMIT)
    first_ns = clock()
    first = received
    while received < total:
        received += poll(on_record, POLL_LIMIT)
    last_ns = clock()
    return {"received": received, "first": first, "elapsed_ns": last_ns - first_ns, "next_seq": expected}


def _queue_single_producer(conn: Connection, channel: Any, total: int) -> dict[str, int]:
    put = channel.put
    pack = PAYLOAD.pack
    signal_ready(conn)
    await_go(conn)
    for seq in range(total):
        put(pack(seq, 0), True, QUEUE_TIMEOUT_S)
    return {"sent": total, "full": 0}


def _queue_single_consumer(conn: Connection, channel: Any, total: int, transport: str) -> dict[str, int]:
    get = channel.get
    unpack = PAYLOAD.unpack
    clock = time.monotonic_ns
    signal_ready(conn)
    seq = unpack(get(True, QUEUE_TIMEOUT_S))[0]
    first_ns = clock()
    if seq != 0:
        _check_sequence(transport, 0, seq)
    expected = 1
    while expected < total:
        seq = unpack(get(True, QUEUE_TIMEOUT_S))[0]
        if seq != expected:
            _check_sequence(transport, expected, seq)
        expected += 1
    last_ns = clock()
    return {"received": expected, "first": 1, "elapsed_ns": last_ns - first_ns, "next_seq": expected}


class _BatchChecker:
    """Checks that a batch holds the next ``n`` sequence numbers, without allocating."""

    def __init__(self, transport: str, batch: int) -> None:
        self.transport = transport
        self.expected = np.arange(batch, dtype=np.uint64)
        self._mismatch = np.empty(batch, dtype=np.bool_)
        self.next_seq = 0

    def check(self, seqs: npt.NDArray[np.uint64], n: int) -> None:
        mismatch = self._mismatch[:n]
        np.not_equal(seqs[:n], self.expected[:n], out=mismatch)
        if mismatch.any():
            i = int(np.argmax(mismatch))
            _check_sequence(self.transport, self.next_seq + i, int(seqs[i]))
        self.expected += n
        self.next_seq += n


def _batch_source(batch: int) -> tuple[npt.NDArray[np.void], npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    records = np.zeros(batch, dtype=PROBE_DTYPE)
    records["rtype"] = 1
    return records, records["seq"], np.arange(batch, dtype=np.uint64)


def _ring_batch_producer(conn: Connection, name: str, total: int, batch: int) -> dict[str, int]:
    ring = Ring.attach(name)
    records, seqs, offsets = _batch_source(batch)
    offer = ring.offer_batch
    full = 0
    signal_ready(conn)
    await_go(conn)
    for start in range(0, total, batch):
        n = min(batch, total - start)
        np.add(offsets, start, out=seqs)
        view = records[:n]
        sent = offer(view)
        while sent < n:
            written = offer(view[sent:])
            if not written:
                full += 1
            sent += written
    return {"sent": total, "full": full}


def _ring_batch_consumer(conn: Connection, name: str, total: int, batch: int) -> dict[str, int]:
    ring = Ring.attach(name)
    out = np.zeros(batch, dtype=PROBE_DTYPE)
    seqs = out["seq"]
    checker = _BatchChecker("ring", batch)
    poll_into = ring.poll_into
    clock = time.monotonic_ns
    signal_ready(conn)
    received = 0
    while not received:
        received = poll_into(out)
    first_ns = clock()
    checker.check(seqs, received)
    first = received
    while received < total:
        n = poll_into(out)
        if n:
            checker.check(seqs, n)
            received += n
    last_ns = clock()
    return {"received": received, "first": first, "elapsed_ns": last_ns - first_ns, "next_seq": checker.next_seq}


def _queue_batch_producer(conn: Connection, channel: Any, total: int, batch: int, transport: str) -> dict[str, int]:
    many = transport == "faster_fifo"
    records, seqs, offsets = _batch_source(batch)
    size = PAYLOAD_SIZE
    send: Callable[..., Any] = channel.put_many if many else channel.put
    signal_ready(conn)
    await_go(conn)
    for start in range(0, total, batch):
        n = min(batch, total - start)
        np.add(offsets, start, out=seqs)
        raw = records[:n].tobytes()
        send([raw[i : i + size] for i in range(0, n * size, size)], True, QUEUE_TIMEOUT_S)
    return {"sent": total, "full": 0}


def _queue_batch_consumer(conn: Connection, channel: Any, total: int, batch: int, transport: str) -> dict[str, int]:
    many = transport == "faster_fifo"
    checker = _BatchChecker(transport, batch)
    clock = time.monotonic_ns

    def receive() -> list[bytes]:
        if many:
            items: list[bytes] = channel.get_many(True, QUEUE_TIMEOUT_S, batch)
            return items
        got: list[bytes] = channel.get(True, QUEUE_TIMEOUT_S)
        return got

    def check(items: list[bytes]) -> int:
        seqs = np.frombuffer(b"".join(items), dtype=PROBE_DTYPE)["seq"]
        checker.check(seqs, len(items))
        return len(items)

    signal_ready(conn)
    received = check(receive())
    first_ns = clock()
    first = received
    while received < total:
        received += check(receive())
    last_ns = clock()
    return {"received": received, "first": first, "elapsed_ns": last_ns - first_ns, "next_seq": checker.next_seq}


# ================================================================================ parent
def run_tag() -> str:
    """The pipeline part of our segment names: ``bench<pid>`` of the process that creates them."""
    return f"bench{os.getpid()}"


@contextmanager
def _ring_channel(label: str, capacity: int) -> Iterator[str]:
    """A fresh ring segment for one measurement, unlinked whatever happens."""
    name = segment_name(run_tag(), "ring", label)
    ring = Ring.create(name, capacity, PAYLOAD_SIZE)
    try:
        yield name
    finally:
        try:
            ring.close()
        finally:
            ring.unlink()


def _faster_fifo_queue() -> Any:
    # bytes in, bytes out: the same 64 bytes on the wire as the ring, no pickling.
    return faster_fifo.Queue(max_size_bytes=FASTER_FIFO_BYTES, dumps=bytes, loads=bytes)


def _mp_queue() -> Any:
    import multiprocessing

    return multiprocessing.get_context(START_METHOD).Queue()


def _new_queue(transport: str) -> Any:
    return _faster_fifo_queue() if transport == "faster_fifo" else _mp_queue()


def _close_queue(channel: Any) -> None:
    close = getattr(channel, "close", None)
    if close is not None:
        close()


def _latency_run(transport: str, plan: RingBenchPlan, pinning: Pinning, run: int, scale: int = 1) -> dict[str, Any]:
    """One latency run of ``1/scale`` of the plan's samples.

    ``transport`` may also be ``faster_fifo_blocking``: faster-fifo with a blocking consumer.
    """
    samples = max(plan.latency_samples // scale, 1)
    warmup = plan.warmup // scale
    total = samples + warmup
    pacing = plan.pacing_ns[transport]
    label = f"{transport} latency run {run + 1}"
    if transport == "ring":
        with _ring_channel(f"lat{run}", LATENCY_RING_CAPACITY) as name:
            pair = run_pair(
                label,
                (_ring_latency_producer, (name, total, pacing)),
                (_ring_latency_consumer, (name, total)),
                pinning,
                plan.timeout_s,
            )
    else:
        kind = "mp_queue" if transport == "mp_queue" else "faster_fifo"
        channel = _new_queue(kind)
        try:
            pair = run_pair(
                label,
                (_queue_latency_producer, (channel, total, pacing, kind == "mp_queue")),
                (_queue_latency_consumer, (channel, total, transport != "faster_fifo_blocking")),
                pinning,
                plan.timeout_s,
            )
        finally:
            _close_queue(channel)
    produced, latencies = pair.producer, pair.consumer
    missing = int(np.count_nonzero(latencies < 0))
    if produced["sent"] != total or missing:
        raise BenchmarkError(f"{label}: sent {produced['sent']} of {total}, {missing} sequence numbers never arrived")
    summary: dict[str, Any] = HistogramSnapshot.from_values(latencies[warmup:]).summary()
    summary["received"] = total
    summary["ring_full"] = produced["full"]
    summary["preempted"] = pair.preempted
    return summary


def _throughput_run(transport: str, mode: str, plan: RingBenchPlan, pinning: Pinning, run: int) -> float:
    counts = plan.single_counts if mode == "single" else plan.batch_counts
    total = counts[transport]
    label = f"{transport} {mode} throughput run {run + 1}"
    producer: tuple[Work, tuple[Any, ...]]
    consumer: tuple[Work, tuple[Any, ...]]
    if transport == "ring":
        with _ring_channel(f"{mode}{run}", plan.batch_ring_capacity) as name:
            if mode == "single":
                producer = (_ring_single_producer, (name, total))
                consumer = (_ring_single_consumer, (name, total))
            else:
                producer = (_ring_batch_producer, (name, total, plan.batch))
                consumer = (_ring_batch_consumer, (name, total, plan.batch))
            pair = run_pair(label, producer, consumer, pinning, plan.timeout_s)
    else:
        channel = _new_queue(transport)
        try:
            if mode == "single":
                producer = (_queue_single_producer, (channel, total))
                consumer = (_queue_single_consumer, (channel, total, transport))
            else:
                producer = (_queue_batch_producer, (channel, total, plan.batch, transport))
                consumer = (_queue_batch_consumer, (channel, total, plan.batch, transport))
            pair = run_pair(label, producer, consumer, pinning, plan.timeout_s)
        finally:
            _close_queue(channel)
    produced, consumed = pair.producer, pair.consumer
    if produced["sent"] != total or consumed["received"] != total or consumed["next_seq"] != total:
        raise BenchmarkError(
            f"{label}: sent {produced['sent']}, received {consumed['received']} "
            f"(next sequence {consumed['next_seq']}) of {total}"
        )
    timed = total - consumed["first"]
    if timed <= 0 or consumed["elapsed_ns"] <= 0:
        raise BenchmarkError(f"{label}: all {total} records arrived at once; raise the count to time them")
    return float(timed * 1e9 / consumed["elapsed_ns"])


def _median_int(values: list[float]) -> int:
    return round(statistics.median(values))


def _latency_row(runs: list[dict[str, Any]]) -> dict[str, int]:
    return {key: _median_int([r[key] for r in runs]) for key in ("p50_ns", "p99_ns", "p999_ns")}


def run_ring_benchmark(
    messages: int, throughput_messages: int, *, repetitions: int = 3, pacing_ns: int = 10_000
) -> dict[str, Any]:
    """Measure the three transports in one run; a JSON-ready dict (see the module docstring).

    Raises :class:`BenchmarkError` on any lost, repeated or reordered record, a
    crashed child or a timeout. Ring segments are unlinked and child processes
    stopped whatever happens.
    """
    plan = RingBenchPlan.from_sizes(messages, throughput_messages, repetitions=repetitions, pacing_ns=pacing_ns)
    pinning = choose_pinning()
    clean_stale(run_tag())  # leftovers of a dead process that had our pid
    started = time.monotonic()

    runs: dict[str, list[dict[str, Any]]] = {t: [] for t in TRANSPORTS}
    for run in range(plan.repetitions):  # interleaved, so that noise hits every transport alike
        for transport in TRANSPORTS:
            runs[transport].append(_latency_run(transport, plan, pinning, run))
    blocking = _latency_run("faster_fifo_blocking", plan, pinning, 0, scale=BLOCKING_RUN_SCALE)
    rates: dict[str, dict[str, list[float]]] = {"single": {}, "batch": {}}
    for mode, per_transport in rates.items():
        for transport in TRANSPORTS:
            count = plan.repetitions if transport == "ring" else 1
            per_transport[transport] = [_throughput_run(transport, mode, plan, pinning, r) for r in range(count)]

    result: dict[str, Any] = {}
    for transport in TRANSPORTS:
        result[transport] = {
            **_latency_row(runs[transport]),
            "msgs_per_s": _median_int(rates["single"][transport]),
            "batch_records_per_s": _median_int(rates["batch"][transport]),
        }
    ring_p50 = max(result["ring"]["p50_ns"], 1)
    result["ratio_p50_vs_faster_fifo"] = round(result["faster_fifo"]["p50_ns"] / ring_p50, 2)
    result["ratio_p50_vs_mp_queue"] = round(result["mp_queue"]["p50_ns"] / ring_p50, 2)
    result["setup"] = {
        "cores_available": len(pinning.cores_available),
        "cores": list(pinning.cores_available),
        "pinned": pinning.pinned,
        "producer_core": pinning.producer_core,
        "consumer_core": pinning.consumer_core,
        "pinning": f"{pinning.describe()} (os.sched_setaffinity), the same for every transport",
        "processes": f"producer and consumer in two fresh processes ({START_METHOD}) per measurement, "
        "gc disabled in both, results sent to the parent over a Pipe after the timed part",
        "idle_strategy": dict(IDLE_STRATEGY),
        "payload_bytes": PAYLOAD_SIZE,
        "payload": "probe-record layout: seq (u64) at offset 8, send time (monotonic ns, i64) at 24, rest zero",
        "latency": {
            "samples_per_run": plan.latency_samples,
            "warmup_discarded_per_run": plan.warmup,
            "runs": plan.repetitions,
            "pacing_ns": plan.pacing_ns,
            "pacing": "the producer waits until pacing_ns after the previous send started, then reads "
            "time.monotonic_ns() and sends it (ring: clock, try_claim, pack_into, commit; queues: clock, "
            "put(struct.pack(...)))",
            "method": "the consumer stores its clock on receipt minus the send time at latencies[seq] "
            "(preallocated int64 array); percentiles via HistogramSnapshot.from_values; each reported "
            "percentile is the median over the runs, run in turn ring, faster-fifo, mp.Queue, ring, ...",
            "ring_capacity": LATENCY_RING_CAPACITY,
            "runs_detail": runs,
            "faster_fifo_blocking_get": {**blocking, "what": FASTER_FIFO_BLOCKING},
            "ratio_p50_vs_faster_fifo_blocking_get": round(blocking["p50_ns"] / ring_p50, 2),
        },
        "throughput": {
            "single_counts": plan.single_counts,
            "batch_counts": plan.batch_counts,
            "runs": {t: plan.repetitions if t == "ring" else 1 for t in TRANSPORTS},
            "rates_detail": {mode: {t: [round(v) for v in rs] for t, rs in pt.items()} for mode, pt in rates.items()},
            "batch_size": plan.batch,
            "ring_capacity": plan.batch_ring_capacity,
            "faster_fifo_max_size_bytes": FASTER_FIFO_BYTES,
            "mp_queue_maxsize": "unbounded",
            "method": "rate = (count - records already there at the first receive) / "
            "(last receive - first receive), both clock reads in the consumer; every sequence number "
            "checked (any loss, repeat or reordering fails the run); median over the runs",
            "single": "ring: try_claim + struct.pack_into + commit, consumer Ring.poll(handler); "
            "queues: put(bytes) / get(), one record at a time",
            "batched": "ring: offer_batch / poll_into of PROBE_DTYPE arrays; faster-fifo: put_many / "
            "get_many(max_messages_to_get=1024) of 64-byte bytes; mp.Queue: put(list of 1024 64-byte bytes, "
            "pickled as one item) / get()",
        },
        "python": platform.python_version(),
        "machine": platform.machine(),
        "wall_s": round(time.monotonic() - started, 1),
    }
    return result


# ================================================================================ report
def _us(ns: float) -> str:
    return f"{ns / 1000:.2f} µs"


def format_ring_report(result: dict[str, Any]) -> str:
    setup = result["setup"]
    latency = setup["latency"]
    throughput = setup["throughput"]
    pacing = ", ".join(f"{latency['pacing_ns'][t] / 1000:g} µs ({LABELS[t]})" for t in TRANSPORTS)
    lines = [
        f"hftpipe bench ring: {setup['payload_bytes']}-byte payload; {setup['pinning']}",
        f"cores available: {setup['cores_available']} {setup['cores']}; python {setup['python']}; "
        f"took {setup['wall_s']} s",
        "",
        f"one-way latency: {latency['runs']} runs x {latency['samples_per_run']:,} samples per transport "
        f"(+{latency['warmup_discarded_per_run']:,} warm-up discarded per run), median over the runs; "
        f"a send every {pacing}",
        f"throughput: single records / batches of {throughput['batch_size']}, consumer-timed, "
        f"median of {throughput['runs']['ring']} runs for the ring, 1 for the queues",
        "",
        f"{'transport':<13}{'p50':>11}{'p99':>11}{'p99.9':>12}{'single msgs/s':>16}{'batched recs/s':>17}",
    ]
    for transport in TRANSPORTS:
        row = result[transport]
        lines.append(
            f"{LABELS[transport]:<13}{_us(row['p50_ns']):>11}{_us(row['p99_ns']):>11}{_us(row['p999_ns']):>12}"
            f"{row['msgs_per_s']:>16,}{row['batch_records_per_s']:>17,}"
        )
    blocking = latency["faster_fifo_blocking_get"]
    lines += [
        "",
        f"ring p50 is {result['ratio_p50_vs_faster_fifo']:g}x lower than faster-fifo's and "
        f"{result['ratio_p50_vs_mp_queue']:g}x lower than multiprocessing.Queue's (both consumers spinning)",
        f"faster-fifo with a blocking get() instead: p50 {_us(blocking['p50_ns'])}, p99 {_us(blocking['p99_ns'])}, "
        f"p99.9 {_us(blocking['p999_ns'])} (1 run, a send every {latency['pacing_ns']['faster_fifo_blocking'] / 1000:g}"
        f" µs): {latency['ratio_p50_vs_faster_fifo_blocking_get']:g}x the ring's p50",
        "",
        "latency per run: p50 / p99 / p99.9 [involuntary context switches of producer/consumer: how often",
        "something else took their core; mp.Queue's producer also counts its yields to its feeder thread]:",
    ]
    for transport in TRANSPORTS:
        per_run = "; ".join(
            f"{_us(r['p50_ns'])} / {_us(r['p99_ns'])} / {_us(r['p999_ns'])} "
            f"[{r['preempted']['producer']}/{r['preempted']['consumer']}]"
            for r in latency["runs_detail"][transport]
        )
        lines.append(f"  {LABELS[transport]:<12} {per_run}")
    lines.append("throughput per run (single; batched), records/s:")
    detail = throughput["rates_detail"]
    for transport in TRANSPORTS:
        single = ", ".join(f"{v:,}" for v in detail["single"][transport])
        batched = ", ".join(f"{v:,}" for v in detail["batch"][transport])
        lines.append(
            f"  {LABELS[transport]:<12} {single}; {batched}  "
            f"({throughput['single_counts'][transport]:,} / {throughput['batch_counts'][transport]:,} records)"
        )
    lines += ["", "idle strategy:", *(f"  {LABELS[t]}: {setup['idle_strategy'][t]}" for t in TRANSPORTS)]
    ring = result["ring"]
    targets = [
        (f"ring p50 <= {_us(TARGET_P50_NS)}", ring["p50_ns"] <= TARGET_P50_NS, _us(ring["p50_ns"])),
        (f"ring p99 <= {_us(TARGET_P99_NS)}", ring["p99_ns"] <= TARGET_P99_NS, _us(ring["p99_ns"])),
        (
            f"p50 >= {TARGET_RATIO_VS_FASTER_FIFO:g}x lower than faster-fifo",
            result["ratio_p50_vs_faster_fifo"] >= TARGET_RATIO_VS_FASTER_FIFO,
            f"{result['ratio_p50_vs_faster_fifo']:g}x (blocking get: "
            f"{latency['ratio_p50_vs_faster_fifo_blocking_get']:g}x)",
        ),
        (
            f"single >= {TARGET_SINGLE_PER_S / 1e6:g} M records/s",
            ring["msgs_per_s"] >= TARGET_SINGLE_PER_S,
            f"{ring['msgs_per_s'] / 1e6:.2f} M/s",
        ),
        (
            f"batched >= {TARGET_BATCH_PER_S / 1e6:g} M records/s",
            ring["batch_records_per_s"] >= TARGET_BATCH_PER_S,
            f"{ring['batch_records_per_s'] / 1e6:.1f} M/s",
        ),
    ]
    lines += ["", "targets (2 pinned cores):"]
    for what, ok, value in targets:
        lines.append(f"  {what:<40} {'met' if ok else 'MISSED':<7} {value}".rstrip())
    if not setup["pinned"]:
        lines.append("  (unpinned: fewer than two cores, so the targets do not apply)")
    return "\n".join(lines)
