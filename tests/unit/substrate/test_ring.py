"""ring.py + ring_descriptor.py: the SPSC ring, both ends in one process on one segment."""

from __future__ import annotations

import contextlib
import os
import re
import struct
from collections.abc import Callable, Iterator

import numpy as np
import posix_ipc
import pytest

from hftpipe.schema import SPECS
from hftpipe.schema.records import RecordType
from hftpipe.substrate import ring as ring_module
from hftpipe.substrate.ring import Ring, is_total_store_order
from hftpipe.substrate.ring_descriptor import (
    DATA_OFFSET,
    FULL_COUNT_OFFSET,
    HEAD_OFFSET,
    MAX_CAPACITY,
    PARKED_OFFSET,
    TAIL_OFFSET,
    check_ring_shape,
    ring_segment_size,
)
from hftpipe.substrate.shm import KIND_RING, SHM_DIR, Segment

SLOT = 16
RECORD = struct.Struct("<Qq")  # sequence, payload
PROBE = SPECS[RecordType.PROBE]

RingPair = tuple[Ring, Ring]


@contextlib.contextmanager
def ring_pair(name: str, capacity: int = 8, slot_size: int = SLOT) -> Iterator[RingPair]:
    """Producer end (the creator) and consumer end (a second attach) of one segment."""
    producer = Ring.create(name, capacity, slot_size)
    try:
        consumer = Ring.attach(name)
        try:
            yield producer, consumer
        finally:
            consumer.close()
    finally:
        producer.close()
        producer.unlink()


@pytest.fixture
def pair(ring_name: Callable[[str], str]) -> Iterator[RingPair]:
    with ring_pair(ring_name("r")) as rings:
        yield rings


def _record(seq: int) -> bytes:
    return RECORD.pack(seq, -seq * 1_000_003)


def _collect(out: list[int]) -> Callable[[memoryview, int], None]:
    def handler(buf: memoryview, offset: int) -> None:
        seq, payload = RECORD.unpack_from(buf, offset)
        assert payload == -seq * 1_000_003
        out.append(seq)

    return handler


def _probes(first_seq: int, count: int) -> np.ndarray:
    records = PROBE.zeros(count)
    records["seq"] = np.arange(first_seq, first_seq + count, dtype=np.uint64)
    records["ts_hop"][:, 1] = -records["seq"].astype(np.int64)
    return records


def _words(ring: Ring, offset: int) -> int:
    return int(ring.segment.words[offset // 8])


# ----------------------------------------------------------------------------- layout
def test_should_keep_producer_consumer_and_parked_words_on_separate_line_pairs() -> None:
    assert (TAIL_OFFSET, FULL_COUNT_OFFSET, HEAD_OFFSET, PARKED_OFFSET, DATA_OFFSET) == (128, 136, 256, 384, 512)
    assert ring_segment_size(8, 64) == 512 + 8 * 64


def test_should_write_its_shape_into_the_segment_for_attachers(pair: RingPair) -> None:
    _, consumer = pair
    assert (consumer.capacity, consumer.slot_size) == (8, SLOT)
    assert consumer.segment.size == ring_segment_size(8, SLOT)
    assert consumer.segment.owner_pid == os.getpid()


def test_should_create_the_segment_with_mode_0600_whatever_the_umask(ring_name: Callable[[str], str]) -> None:
    name = ring_name("mode")
    old = os.umask(0o277)  # would leave 0400 without the explicit fchmod
    try:
        ring = Ring.create(name, 8, SLOT)
    finally:
        os.umask(old)
    try:
        assert os.stat(os.path.join(SHM_DIR, name.lstrip("/"))).st_mode & 0o777 == 0o600
    finally:
        ring.close()
        ring.unlink()


# ----------------------------------------------------------------------------- shapes
@pytest.mark.parametrize(
    ("capacity", "slot_size", "message"),
    [
        (6, SLOT, "ring capacity must be a power of two, got 6"),
        (0, SLOT, "ring capacity must be a power of two, got 0"),
        (-8, SLOT, "ring capacity must be a power of two, got -8"),
        (MAX_CAPACITY * 2, SLOT, f"ring capacity must be at most {MAX_CAPACITY}, got {MAX_CAPACITY * 2}"),
        (8, 12, "ring slot size must be a multiple of 8 and >= 8, got 12"),
        (8, 0, "ring slot size must be a multiple of 8 and >= 8, got 0"),
        (8, 4, "ring slot size must be a multiple of 8 and >= 8, got 4"),
        (
            MAX_CAPACITY,
            128,
            "ring slots may take at most 1073741824 bytes (1 GiB), got capacity 16777216 x slot size 128 = 2147483648",
        ),
    ],
)
def test_should_reject_a_bad_ring_shape_without_creating_a_segment(
    ring_name: Callable[[str], str], capacity: int, slot_size: int, message: str
) -> None:
    name = ring_name("bad")
    with pytest.raises(ValueError) as exc:
        check_ring_shape(capacity, slot_size)
    assert str(exc.value) == message
    with pytest.raises(ValueError, match=re.escape(message)):
        Ring.create(name, capacity, slot_size)
    assert not os.path.exists(os.path.join(SHM_DIR, name.lstrip("/")))


def test_should_accept_the_smallest_and_largest_shapes() -> None:
    check_ring_shape(1, 8)
    check_ring_shape(MAX_CAPACITY, 8)


def test_should_refuse_to_create_a_second_ring_on_the_same_name(pair: RingPair) -> None:
    producer, _ = pair
    with pytest.raises(FileExistsError, match=re.escape(f"shared-memory segment {producer.name} already exists")):
        Ring.create(producer.name, 8, SLOT)


def test_should_refuse_to_attach_a_ring_its_creator_has_not_published(ring_name: Callable[[str], str]) -> None:
    name = ring_name("unready")
    segment = Segment.create(name, ring_segment_size(8, SLOT), KIND_RING)  # layout version still 0
    try:
        with pytest.raises(ValueError, match=re.escape(f"{name}: ring layout version 0, expected 1")):
            Ring.attach(name)
    finally:
        segment.close()
        segment.unlink()


def test_should_refuse_to_attach_a_missing_ring(ring_name: Callable[[str], str]) -> None:
    name = ring_name("missing")
    with pytest.raises(FileNotFoundError, match=re.escape(f"shared-memory segment {name} does not exist")):
        Ring.attach(name)


# ----------------------------------------------------------------------------- memory order
def test_should_classify_x86_as_total_store_order_and_arm_as_not() -> None:
    assert is_total_store_order("x86_64")
    assert is_total_store_order("AMD64")
    assert not is_total_store_order("aarch64")
    assert not is_total_store_order("ppc64le")


def test_should_refuse_to_create_a_ring_on_a_weakly_ordered_cpu_unless_allowed(
    ring_name: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ring_module.platform, "machine", lambda: "aarch64")
    name = ring_name("weak")
    with pytest.raises(RuntimeError) as exc:
        Ring.create(name, 8, SLOT)
    assert str(exc.value) == "rings rely on x86-64 store ordering; this CPU is aarch64"
    assert not os.path.exists(os.path.join(SHM_DIR, name.lstrip("/")))
    ring = Ring.create(name, 8, SLOT, allow_weak_ordering=True)
    ring.close()
    ring.unlink()


# ----------------------------------------------------------------------------- offer / poll
def test_should_return_zero_from_poll_on_an_empty_ring(pair: RingPair) -> None:
    _, consumer = pair
    seen: list[int] = []
    assert consumer.poll(_collect(seen), 10) == 0
    assert seen == []
    assert not consumer.has_data()
    assert consumer.poll_into(np.zeros(4, dtype=f"V{SLOT}")) == 0


def test_should_deliver_records_in_order_across_many_wraps(pair: RingPair) -> None:
    producer, consumer = pair
    seen: list[int] = []
    next_seq = 0
    # Uneven offer/poll sizes so the wrap falls at every slot position.
    for round_no in range(300):
        for _ in range(1 + round_no % 8):
            if not producer.offer(_record(next_seq)):
                break
            next_seq += 1
        consumer.poll(_collect(seen), 1 + (round_no * 5) % 7)
    while consumer.poll(_collect(seen), 8):
        pass
    assert next_seq > 8 * 100
    assert seen == list(range(next_seq))
    assert producer.producer_position == consumer.consumer_position == next_seq


def test_should_hand_the_handler_a_slot_sized_record_at_the_offset(pair: RingPair) -> None:
    producer, consumer = pair
    offsets: list[int] = []
    for seq in range(10):
        assert producer.offer(_record(seq))
        consumer.poll(lambda _buf, off: offsets.append(off), 1)
    assert offsets == [DATA_OFFSET + (seq % 8) * SLOT for seq in range(10)]


def test_should_respect_the_poll_limit(pair: RingPair) -> None:
    producer, consumer = pair
    for seq in range(5):
        producer.offer(_record(seq))
    seen: list[int] = []
    assert consumer.poll(_collect(seen), 2) == 2
    assert seen == [0, 1]
    assert consumer.poll(_collect(seen), 100) == 3
    assert seen == [0, 1, 2, 3, 4]


def test_should_time_each_record_against_the_stamp_in_its_slot(pair: RingPair) -> None:
    """poll_timed: latency = now - the int64 at stamp_offset, then handler(buf, offset, now), in order."""
    producer, consumer = pair
    assert consumer.poll_timed(lambda *_: None, 8, 8, lambda _: None) == 0
    taken: list[tuple[int, int]] = []
    latencies: list[int] = []

    def handler(buf: memoryview, offset: int, now: int) -> None:
        seq, _ = RECORD.unpack_from(buf, offset)
        taken.append((seq, now))

    delivered = 0
    for round_no in range(6):  # 18 records through 8 slots: the wrap is crossed
        for seq in range(delivered, delivered + 3):
            assert producer.offer(RECORD.pack(seq, 1_000 * seq - 7))
        delivered += 3
        assert consumer.poll_timed(handler, 2, 8, latencies.append) == 2
        assert consumer.poll_timed(handler, 5, 8, latencies.append) == 1
        assert consumer.consumer_position == delivered, round_no
    assert [seq for seq, _ in taken] == list(range(delivered))
    assert latencies == [now - (1_000 * seq - 7) for seq, now in taken]
    nows = [now for _, now in taken]
    assert nows == sorted(nows)


def test_should_accept_a_record_shorter_than_the_slot(pair: RingPair) -> None:
    producer, consumer = pair
    assert producer.offer(b"\x07" * 8)
    got: list[bytes] = []
    consumer.poll(lambda buf, off: got.append(bytes(buf[off : off + 8])), 1)
    assert got == [b"\x07" * 8]


def test_should_reject_offer_when_ring_full_and_count_it_without_raising(pair: RingPair) -> None:
    producer, consumer = pair
    for seq in range(8):
        assert producer.offer(_record(seq))
    assert producer.offer(_record(8)) is False
    assert producer.offer(_record(8)) is False
    assert producer.full_count == 2
    assert consumer.full_count == 2  # visible from the other end
    assert producer.remaining_capacity() == 0
    seen: list[int] = []
    consumer.poll(_collect(seen), 1)
    assert producer.offer(_record(8))  # one slot freed: the producer re-reads the head
    while consumer.poll(_collect(seen), 100):
        pass
    assert seen == list(range(9))
    assert producer.full_count == 2


def test_should_count_a_full_ring_on_try_claim_and_offer_batch_too(pair: RingPair) -> None:
    producer, _ = pair
    for seq in range(8):
        producer.offer(_record(seq))
    assert producer.try_claim() == -1
    assert producer.offer_batch(np.zeros(3, dtype=f"V{SLOT}")) == 0
    assert producer.full_count == 2


# ----------------------------------------------------------------------------- claim / commit
def test_should_publish_a_claimed_slot_only_on_commit(pair: RingPair) -> None:
    producer, consumer = pair
    offset = producer.try_claim()
    assert offset == DATA_OFFSET
    RECORD.pack_into(producer.buffer, offset, 41, -41 * 1_000_003)
    assert not consumer.has_data()
    producer.commit()
    assert consumer.has_data()
    seen: list[int] = []
    assert consumer.poll(_collect(seen), 10) == 1
    assert seen == [41]


def test_should_claim_successive_slots_across_the_wrap(pair: RingPair) -> None:
    producer, consumer = pair
    seen: list[int] = []
    for seq in range(20):
        offset = producer.try_claim()
        assert offset == DATA_OFFSET + (seq % 8) * SLOT
        RECORD.pack_into(producer.buffer, offset, seq, -seq * 1_000_003)
        producer.commit()
        consumer.poll(_collect(seen), 1)
    assert seen == list(range(20))


def test_should_raise_on_commit_without_claim(pair: RingPair) -> None:
    producer, consumer = pair
    with pytest.raises(RuntimeError, match=re.escape("commit() without a successful try_claim()")):
        producer.commit()
    assert not consumer.has_data()


def test_should_raise_on_a_second_commit_of_one_claim(pair: RingPair) -> None:
    producer, _ = pair
    producer.try_claim()
    producer.commit()
    with pytest.raises(RuntimeError, match=re.escape("commit() without a successful try_claim()")):
        producer.commit()
    assert producer.producer_position == 1


def test_should_raise_on_commit_after_a_failed_claim(pair: RingPair) -> None:
    producer, _ = pair
    for _ in range(8):
        assert producer.try_claim() >= 0
        producer.commit()
    assert producer.try_claim() == -1
    with pytest.raises(RuntimeError, match=re.escape("commit() without a successful try_claim()")):
        producer.commit()
    assert producer.producer_position == 8


# ----------------------------------------------------------------------------- batches
@pytest.fixture
def probe_pair(ring_name: Callable[[str], str]) -> Iterator[RingPair]:
    with ring_pair(ring_name("probe"), 8, PROBE.itemsize) as rings:
        yield rings


def test_should_offer_and_poll_a_batch_across_the_wrap(probe_pair: RingPair) -> None:
    producer, consumer = probe_pair
    assert producer.offer_batch(_probes(0, 5)) == 5
    assert consumer.poll_into(PROBE.zeros(5)) == 5  # head and tail now at slot 5
    batch = _probes(5, 6)  # slots 5, 6, 7, 0, 1, 2
    assert producer.offer_batch(batch) == 6
    out = PROBE.zeros(10)
    assert consumer.poll_into(out) == 6
    assert out[:6].tobytes() == batch.tobytes()
    assert out["seq"][:6].tolist() == list(range(5, 11))
    assert out["ts_hop"][:6, 1].tolist() == [-s for s in range(5, 11)]


def test_should_write_a_partial_batch_when_not_enough_space(probe_pair: RingPair) -> None:
    producer, consumer = probe_pair
    assert producer.offer_batch(_probes(0, 6)) == 6
    assert producer.offer_batch(_probes(6, 4)) == 2
    assert producer.full_count == 0  # partial is not full
    assert producer.remaining_capacity() == 0
    out = PROBE.zeros(8)
    assert consumer.poll_into(out) == 8
    assert out["seq"].tolist() == list(range(8))


def test_should_poll_into_a_partial_batch_when_fewer_records_are_readable(probe_pair: RingPair) -> None:
    producer, consumer = probe_pair
    producer.offer_batch(_probes(0, 7))
    consumer.poll_into(PROBE.zeros(6))
    producer.offer_batch(_probes(7, 3))  # slots 7, 0, 1
    out = PROBE.zeros(3)
    assert consumer.poll_into(out[:2]) == 2
    assert out["seq"][:2].tolist() == [6, 7]
    assert consumer.poll_into(out) == 2
    assert out["seq"][:2].tolist() == [8, 9]


def test_should_reject_a_batch_whose_itemsize_is_not_the_slot_size(probe_pair: RingPair) -> None:
    producer, consumer = probe_pair
    trade = SPECS[RecordType.TRADE].zeros(2)
    with pytest.raises(ValueError, match=re.escape("batch itemsize 128 != ring slot size 64")):
        producer.offer_batch(trade)
    with pytest.raises(ValueError, match=re.escape("out itemsize 128 != ring slot size 64")):
        consumer.poll_into(trade)


def test_should_mix_single_offers_and_batches_in_one_sequence(probe_pair: RingPair) -> None:
    producer, consumer = probe_pair
    seq = 0
    seen: list[int] = []
    for round_no in range(60):
        if round_no % 2:
            seq += producer.offer_batch(_probes(seq, 1 + round_no % 5))
        elif producer.offer(_probes(seq, 1).tobytes()):
            seq += 1
        out = PROBE.zeros(1 + round_no % 3)
        got = consumer.poll_into(out)
        seen.extend(out["seq"][:got].tolist())
    out = PROBE.zeros(8)
    seen.extend(out["seq"][: consumer.poll_into(out)].tolist())
    assert seen == list(range(seq))


# ----------------------------------------------------------------------------- peek / advance
def test_should_stop_peek_batch_at_the_wrap(probe_pair: RingPair) -> None:
    producer, consumer = probe_pair
    producer.offer_batch(_probes(0, 6))
    consumer.poll_into(PROBE.zeros(6))
    producer.offer_batch(_probes(6, 4))  # slots 6, 7, 0, 1
    rows = consumer.peek_batch(10)
    assert rows.shape == (2, PROBE.itemsize)
    assert rows.view(PROBE.dtype)["seq"].ravel().tolist() == [6, 7]
    consumer.advance(len(rows))
    rows = consumer.peek_batch(10)
    assert rows.view(PROBE.dtype)["seq"].ravel().tolist() == [8, 9]
    consumer.advance(2)
    assert consumer.peek_batch(10).shape == (0, PROBE.itemsize)
    assert producer.remaining_capacity() == 8


def test_should_peek_without_consuming(probe_pair: RingPair) -> None:
    producer, consumer = probe_pair
    producer.offer_batch(_probes(0, 3))
    first = consumer.peek_batch(2).view(PROBE.dtype)["seq"].ravel().tolist()
    again = consumer.peek_batch(2).view(PROBE.dtype)["seq"].ravel().tolist()
    assert first == again == [0, 1]
    assert consumer.consumer_position == 0
    assert producer.remaining_capacity() == 5


@pytest.mark.parametrize("count", [3, -1])
def test_should_reject_advance_beyond_what_is_readable(probe_pair: RingPair, count: int) -> None:
    producer, consumer = probe_pair
    producer.offer_batch(_probes(0, 2))
    consumer.peek_batch(8)
    with pytest.raises(ValueError) as exc:
        consumer.advance(count)
    assert str(exc.value) == f"cannot advance by {count}: 2 readable"
    assert consumer.consumer_position == 0


def test_should_allow_advance_by_zero(probe_pair: RingPair) -> None:
    _, consumer = probe_pair
    consumer.advance(0)
    assert consumer.consumer_position == 0


# ----------------------------------------------------------------------------- two handles
def test_should_show_each_end_the_positions_of_the_other(pair: RingPair) -> None:
    producer, consumer = pair
    for seq in range(5):
        producer.offer(_record(seq))
    assert consumer.producer_position == 5
    assert consumer.size() == 5
    assert consumer.has_data()
    consumer.poll(_collect([]), 3)
    assert producer.consumer_position == 3
    assert producer.size() == 2
    assert producer.remaining_capacity() == 6
    assert _words(producer, TAIL_OFFSET) == 5
    assert _words(producer, HEAD_OFFSET) == 3


def test_should_let_a_readonly_observer_see_positions_and_full_count(pair: RingPair) -> None:
    producer, consumer = pair
    observer = Ring.attach(producer.name, readonly=True)
    try:
        for seq in range(9):
            producer.offer(_record(seq))
        consumer.poll(_collect([]), 4)
        assert (observer.producer_position, observer.consumer_position) == (8, 4)
        assert observer.size() == 4
        assert observer.full_count == 1
        assert (observer.capacity, observer.slot_size) == (8, SLOT)
    finally:
        observer.close()


def test_should_let_a_reattached_producer_continue_where_the_last_one_stopped(pair: RingPair) -> None:
    producer, consumer = pair
    for seq in range(3):
        producer.offer(_record(seq))
    successor = Ring.attach(producer.name)
    try:
        assert successor.offer(_record(3))
        seen: list[int] = []
        consumer.poll(_collect(seen), 10)
        assert seen == [0, 1, 2, 3]
    finally:
        successor.close()


# ----------------------------------------------------------------------------- doorbell
@pytest.fixture
def bell(pipeline_name: str) -> Iterator[posix_ipc.Semaphore]:
    sem = posix_ipc.Semaphore(f"/hftpipe.{pipeline_name}.bell.x", posix_ipc.O_CREX, initial_value=0)
    try:
        yield sem
    finally:
        sem.unlink()
        sem.close()


def test_should_ring_the_doorbell_only_when_the_consumer_is_parked(pair: RingPair, bell: posix_ipc.Semaphore) -> None:
    producer, consumer = pair
    producer.attach_doorbell(bell)
    producer.offer(_record(0))
    assert bell.value == 0
    consumer.set_parked(True)
    assert _words(producer, PARKED_OFFSET) == 1
    producer.offer(_record(1))
    producer.try_claim()
    producer.commit()
    producer.offer_batch(np.zeros(1, dtype=f"V{SLOT}"))
    assert bell.value == 3
    consumer.set_parked(False)
    producer.offer(_record(4))
    assert bell.value == 3
