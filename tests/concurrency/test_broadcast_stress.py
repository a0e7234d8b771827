"""Real processes on one broadcast ring: a producer that never waits, receivers that fall behind.

1. Stress: a producer publishes numbered records as fast as it can (offer and
   claim/commit mixed) into a small ring; two receivers read in processes of
   their own, one deliberately slow (it also waits, now and then, until it
   has certainly been lapped), one stalling at random. Every record carries
   a CRC32 of its other bytes, so a torn or stale copy is caught. For each
   receiver: sequence numbers strictly increase, the last one received is the
   last one published, and received + lost == published, exactly.
2. Doorbell: a receiver parked on its doorbell (BlockingIdle) is woken by the
   transmitter's post for every record, never by the park timeout.

Both hold with more processes than cores: nothing waits by the clock for
correctness, and every wait has a deadline only so that a hang fails.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import struct
import time
import zlib
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import posix_ipc

from hftpipe.substrate.broadcast import BroadcastReceiver, BroadcastTransmitter
from hftpipe.substrate.broadcast_descriptor import PARKED_OFFSET
from hftpipe.substrate.idle import BlockingIdle, IdleSettings
from hftpipe.substrate.shm import SEGMENT_MODE, segment_name

CAPACITY = 64
BODY = struct.Struct("<Q6q")  # sequence, six words derived from it
RECORD_SIZE = BODY.size + 8  # then the CRC32 of those 56 bytes
CRC = struct.Struct("<Q")
DEADLINE_S = 120.0
_MIX = (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93, 0xFF51AFD7ED558CCD, 0xC4CEB9FE)


def make_record(seq: int) -> bytes:
    body = BODY.pack(seq, *(((seq + 1) * k & (1 << 63) - 1) - (seq & 1) for k in _MIX))
    return body + CRC.pack(zlib.crc32(body))


def check_record(buf: memoryview, offset: int) -> int | None:
    """The record's sequence number, or None when its bytes do not add up (torn or stale)."""
    body = buf[offset : offset + BODY.size]
    seq: int = BODY.unpack_from(body)[0]
    intact = CRC.unpack_from(buf, offset + BODY.size)[0] == zlib.crc32(body) and bytes(body) == make_record(seq)[:56]
    return seq if intact else None


def _deadline_passed(started: float, what: str) -> None:
    if time.monotonic() - started > DEADLINE_S:
        raise TimeoutError(f"{what} for more than {DEADLINE_S} s")


def _produce(name: str, total: int, seed: int, conn: Connection) -> None:
    transmitter = BroadcastTransmitter.attach(name)
    rng = random.Random(seed)
    buf = transmitter.buffer
    try:
        for seq in range(total):
            record = make_record(seq)
            if rng.random() < 0.5:
                transmitter.offer(record)
            else:
                offset = transmitter.try_claim()
                buf[offset : offset + RECORD_SIZE] = record
                transmitter.commit()
        conn.send({"published": transmitter.producer_position})
    finally:
        transmitter.close()


def _receive(name: str, index: int, total: int, seed: int, slow: bool, conn: Connection) -> None:
    """Reads until it has seen position ``total``; reports what it got (no list of every record)."""
    receiver = BroadcastReceiver.attach(name, index)
    rng = random.Random(seed)
    state: dict[str, Any] = {"received": 0, "last": -1, "problem": None}

    def on_record(buf: memoryview, offset: int) -> None:
        seq = check_record(buf, offset)
        if state["problem"] is None:
            if seq is None:
                state["problem"] = f"torn record after {state['last']}"
            elif seq <= state["last"]:
                state["problem"] = f"record {seq} after {state['last']}: repeated or out of order"
        state["received"] += 1
        state["last"] = seq if seq is not None else state["last"]
        if slow:
            for _ in range(50):  # work per record: the producer is far faster
                pass

    started = time.monotonic()
    try:
        while receiver.position < total:
            _deadline_passed(started, f"receiver {index} short of record {total}")
            got = receiver.poll(on_record, rng.randint(1, 16))
            roll = rng.random()
            if slow and roll < 0.02:  # wait until it has certainly been lapped, whatever the speeds
                target = min(receiver.position + 3 * CAPACITY, total)
                while receiver.producer_position < target:
                    _deadline_passed(started, f"receiver {index} waiting for a lap")
                    os.sched_yield()
            elif roll < 0.05:
                time.sleep(rng.random() * 0.0005)
            elif not got:
                os.sched_yield()
        conn.send({**state, "lost": receiver.lost, "position": receiver.position, "laps": receiver.laps})
    finally:
        receiver.close()


def _start(target: Callable[..., None], *args: Any) -> tuple[mp.Process, Connection]:
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=target, args=(*args, child))
    process.start()
    return process, parent


def _result(process: mp.Process, conn: Connection) -> dict[str, Any]:
    if not conn.poll(DEADLINE_S + 30):
        raise AssertionError(f"{process.name} sent no result")
    result: dict[str, Any] = conn.recv()
    process.join(30)
    return result


def run_broadcast_stress(name: str, total: int, seed: int) -> list[dict[str, Any]]:
    transmitter = BroadcastTransmitter.create(name, CAPACITY, RECORD_SIZE, 2)
    processes: list[tuple[mp.Process, Connection]] = []
    try:
        processes.append(_start(_receive, name, 0, total, seed + 1, True))
        processes.append(_start(_receive, name, 1, total, seed + 2, False))
        processes.append(_start(_produce, name, total, seed))
        slow, other, produced = (_result(*pair) for pair in processes)
        assert produced == {"published": total}
        for i, result in enumerate((slow, other)):
            assert result["problem"] is None, result["problem"]
            assert result["last"] == total - 1, "the last record published was not the last received"
            assert result["received"] + result["lost"] == total, result
            assert result["position"] == transmitter.receiver_position(i) == total
            assert result["lost"] == transmitter.receiver_lost(i)
        assert slow["lost"] > 0 and slow["laps"] > 0, "the slow receiver was never lapped"
        return [slow, other]
    finally:
        for process, _ in processes:
            if process.is_alive():
                process.kill()
                process.join()
        transmitter.close()
        transmitter.unlink()


def test_should_hand_each_receiver_intact_records_in_order_and_count_every_other_one_lost(
    ring_name: Callable[[str], str],
) -> None:
    run_broadcast_stress(ring_name("bstress"), 300_000, seed=20261201)


# ----------------------------------------------------------------------------- doorbell
def _parked_receiver(name: str, bell_name: str, total: int, conn: Connection) -> None:
    receiver = BroadcastReceiver.attach(name, 1)
    bell = posix_ipc.Semaphore(bell_name)
    idle = BlockingIdle(IdleSettings(max_spins=0, park_timeout_ns=60 * 10**9), [receiver], bell)
    seen: list[int | None] = []
    try:
        while receiver.position < total:
            idle.idle(receiver.poll(lambda buf, offset: seen.append(check_record(buf, offset)), 64))
        conn.send({"in_order": seen == list(range(total)), "lost": receiver.lost, "timeouts": idle.timeouts})
    finally:
        bell.close()
        receiver.close()


def test_should_wake_a_parked_receiver_by_post_for_every_record(ring_name: Callable[[str], str]) -> None:
    name = ring_name("bwake")
    bell_name = segment_name(name.split(".")[1], "bell", "receiver")
    transmitter = BroadcastTransmitter.create(name, CAPACITY, RECORD_SIZE, 2)
    bell = posix_ipc.Semaphore(bell_name, posix_ipc.O_CREX, mode=SEGMENT_MODE)
    transmitter.attach_doorbell(1, bell)
    total = 500
    process, conn = _start(_parked_receiver, name, bell_name, total)
    try:
        parked = transmitter.segment.buf
        started = time.monotonic()
        for seq in range(total):
            while not parked[PARKED_OFFSET + 1]:  # receiver 1 is (about to be) asleep on its doorbell
                _deadline_passed(started, "waiting for the receiver to park")
                os.sched_yield()
            transmitter.offer(make_record(seq))
            while transmitter.receiver_position(1) <= seq:  # and it woke up for this record
                _deadline_passed(started, "waiting for the receiver to wake")
                os.sched_yield()
        result = _result(process, conn)
        assert result == {"in_order": True, "lost": 0, "timeouts": 0}
    finally:
        if process.is_alive():
            process.kill()
            process.join()
        bell.close()
        posix_ipc.unlink_semaphore(bell_name)
        transmitter.close()
        transmitter.unlink()
