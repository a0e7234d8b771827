"""broadcast.py + broadcast_descriptor.py: one transmitter, several receivers, all in one process on one segment."""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import re
import struct
from collections.abc import Callable, Iterator

import posix_ipc
import pytest

from hftpipe.substrate import broadcast as broadcast_module
from hftpipe.substrate.broadcast import BroadcastReceiver, BroadcastTransmitter
from hftpipe.substrate.broadcast_descriptor import (
    DATA_OFFSET,
    MAX_RECEIVERS,
    PARKED_OFFSET,
    RECEIVERS_TABLE_OFFSET,
    TAIL_INTENT_OFFSET,
    TAIL_OFFSET,
    broadcast_segment_size,
    check_broadcast_shape,
    receiver_slot,
)
from hftpipe.substrate.ring import Ring
from hftpipe.substrate.ring_descriptor import MAX_CAPACITY
from hftpipe.substrate.shm import KIND_BROADCAST, SEGMENT_MODE, SHM_DIR, Segment, segment_name

SLOT = 16
CAPACITY = 8
RECORD = struct.Struct("<Qq")  # sequence, payload derived from it

Group = tuple[BroadcastTransmitter, list[BroadcastReceiver]]


@contextlib.contextmanager
def broadcast_group(name: str, receivers: int = 2, capacity: int = CAPACITY, slot_size: int = SLOT) -> Iterator[Group]:
    """The transmitter (the creator) and one attached receiver per index, on one segment."""
    transmitter = BroadcastTransmitter.create(name, capacity, slot_size, receivers)
    ends: list[BroadcastReceiver] = []
    try:
        ends.extend(BroadcastReceiver.attach(name, i) for i in range(receivers))
        yield transmitter, ends
    finally:
        for end in ends:
            end.close()
        transmitter.close()
        transmitter.unlink()


@pytest.fixture
def group(ring_name: Callable[[str], str]) -> Iterator[Group]:
    with broadcast_group(ring_name("b")) as pair:
        yield pair


def _record(seq: int) -> bytes:
    return RECORD.pack(seq, -seq * 1_000_003)


def _collect(out: list[int]) -> Callable[[memoryview, int], None]:
    def handler(buf: memoryview, offset: int) -> None:
        seq, payload = RECORD.unpack_from(buf, offset)
        assert payload == -seq * 1_000_003, f"record {seq} torn"
        out.append(seq)

    return handler


def _publish(transmitter: BroadcastTransmitter, first: int, count: int) -> int:
    for seq in range(first, first + count):
        assert transmitter.offer(_record(seq)) is True
    return first + count


def _drain(receiver: BroadcastReceiver, out: list[int]) -> None:
    while receiver.poll(_collect(out), 3):
        pass


# ----------------------------------------------------------------------------- layout
def test_should_keep_transmitter_parked_bytes_and_each_receiver_on_separate_line_pairs() -> None:
    assert (TAIL_INTENT_OFFSET, TAIL_OFFSET, PARKED_OFFSET, RECEIVERS_TABLE_OFFSET) == (128, 136, 256, 384)
    assert [receiver_slot(i) for i in (0, 1, MAX_RECEIVERS - 1)] == [384, 512, 384 + 15 * 128]
    assert DATA_OFFSET == 384 + MAX_RECEIVERS * 128 == 2432
    assert broadcast_segment_size(8, 64, 3) == 2432 + 8 * 64


def test_should_write_its_shape_into_the_segment_for_attachers(group: Group) -> None:
    transmitter, (receiver, _) = group
    attached = BroadcastTransmitter.attach(transmitter.name, readonly=True)
    try:
        assert (attached.capacity, attached.slot_size, attached.receivers) == (CAPACITY, SLOT, 2)
        assert (receiver.capacity, receiver.slot_size, receiver.index) == (CAPACITY, SLOT, 0)
        assert attached.segment.size == broadcast_segment_size(CAPACITY, SLOT, 2)
        assert attached.segment.owner_pid == os.getpid()
    finally:
        attached.close()


def test_should_create_the_segment_with_mode_0600_whatever_the_umask(ring_name: Callable[[str], str]) -> None:
    name = ring_name("mode")
    old = os.umask(0o277)
    try:
        transmitter = BroadcastTransmitter.create(name, 8, SLOT, 1)
    finally:
        os.umask(old)
    try:
        assert os.stat(os.path.join(SHM_DIR, name.lstrip("/"))).st_mode & 0o777 == SEGMENT_MODE
    finally:
        transmitter.close()
        transmitter.unlink()


# ----------------------------------------------------------------------------- shapes
@pytest.mark.parametrize(
    ("capacity", "slot_size", "receivers", "message"),
    [
        (6, SLOT, 1, "broadcast ring capacity must be a power of two, got 6"),
        (0, SLOT, 1, "broadcast ring capacity must be a power of two, got 0"),
        (1, SLOT, 1, "broadcast ring capacity must be at least 2, got 1"),
        (
            MAX_CAPACITY * 2,
            SLOT,
            1,
            f"broadcast ring capacity must be at most {MAX_CAPACITY}, got {MAX_CAPACITY * 2}",
        ),
        (8, 12, 1, "broadcast ring slot size must be a multiple of 8 and >= 8, got 12"),
        (8, 0, 1, "broadcast ring slot size must be a multiple of 8 and >= 8, got 0"),
        (
            MAX_CAPACITY,
            128,
            1,
            "broadcast ring slots may take at most 1073741824 bytes (1 GiB), got capacity 16777216 x slot size 128"
            " = 2147483648",
        ),
        (8, SLOT, 0, "a broadcast ring takes 1..16 receivers, got 0"),
        (8, SLOT, 17, "a broadcast ring takes 1..16 receivers, got 17"),
    ],
)
def test_should_reject_a_bad_broadcast_shape_without_creating_a_segment(
    ring_name: Callable[[str], str], capacity: int, slot_size: int, receivers: int, message: str
) -> None:
    name = ring_name("bad")
    with pytest.raises(ValueError) as exc:
        check_broadcast_shape(capacity, slot_size, receivers)
    assert str(exc.value) == message
    with pytest.raises(ValueError, match=re.escape(message)):
        BroadcastTransmitter.create(name, capacity, slot_size, receivers)
    assert not os.path.exists(os.path.join(SHM_DIR, name.lstrip("/")))


def test_should_accept_the_smallest_and_largest_shapes() -> None:
    check_broadcast_shape(2, 8, 1)
    check_broadcast_shape(MAX_CAPACITY, 8, MAX_RECEIVERS)


def test_should_refuse_a_receiver_index_the_ring_was_not_made_for(group: Group) -> None:
    transmitter, _ = group
    message = f"{transmitter.name}: no receiver 2 (the ring has receivers 0..1)"
    with pytest.raises(ValueError, match=re.escape(message)):
        BroadcastReceiver.attach(transmitter.name, 2)
    with pytest.raises(ValueError, match=re.escape(message)):
        transmitter.receiver_lost(2)
    with pytest.raises(ValueError, match=re.escape(f"{transmitter.name}: no receiver -1")):
        BroadcastReceiver.attach(transmitter.name, -1)


def test_should_refuse_to_attach_a_ring_as_a_broadcast_and_the_other_way_round(
    group: Group, ring_name: Callable[[str], str]
) -> None:
    transmitter, _ = group
    with pytest.raises(ValueError, match=re.escape(f"{transmitter.name}: segment kind 3 is not an SPSC ring (2)")):
        Ring.attach(transmitter.name)
    ring = Ring.create(ring_name("spsc"), 8, SLOT)
    try:
        with pytest.raises(ValueError, match=re.escape(f"{ring.name}: segment kind 2 is not a broadcast ring (3)")):
            BroadcastTransmitter.attach(ring.name)
        with pytest.raises(ValueError, match=re.escape(f"{ring.name}: segment kind 2 is not a broadcast ring (3)")):
            BroadcastReceiver.attach(ring.name, 0)
    finally:
        ring.close()
        ring.unlink()


def test_should_refuse_to_attach_a_broadcast_ring_its_creator_has_not_published(
    ring_name: Callable[[str], str],
) -> None:
    name = ring_name("unready")
    segment = Segment.create(name, broadcast_segment_size(8, SLOT), KIND_BROADCAST)  # layout version still 0
    try:
        with pytest.raises(ValueError, match=re.escape(f"{name}: broadcast layout version 0, expected 1")):
            BroadcastReceiver.attach(name, 0)
    finally:
        segment.close()
        segment.unlink()


def test_should_refuse_to_create_a_second_broadcast_ring_on_the_same_name(group: Group) -> None:
    transmitter, _ = group
    with pytest.raises(FileExistsError, match=re.escape(f"shared-memory segment {transmitter.name} already exists")):
        BroadcastTransmitter.create(transmitter.name, 8, SLOT, 1)


def test_should_refuse_to_create_on_a_weakly_ordered_cpu_unless_allowed(
    ring_name: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(broadcast_module.platform, "machine", lambda: "aarch64")
    name = ring_name("weak")
    with pytest.raises(RuntimeError) as exc:
        BroadcastTransmitter.create(name, 8, SLOT, 1)
    assert str(exc.value) == "broadcast rings rely on x86-64 store ordering; this CPU is aarch64"
    assert not os.path.exists(os.path.join(SHM_DIR, name.lstrip("/")))
    transmitter = BroadcastTransmitter.create(name, 8, SLOT, 1, allow_weak_ordering=True)
    transmitter.close()
    transmitter.unlink()


# ----------------------------------------------------------------------------- delivery
def test_should_deliver_every_record_in_order_to_each_receiver_that_keeps_up(group: Group) -> None:
    transmitter, (fast, slow) = group
    seen_fast: list[int] = []
    seen_slow: list[int] = []
    seq = 0
    for round_no in range(200):  # uneven sizes: the wrap falls at every slot
        seq = _publish(transmitter, seq, 1 + round_no % 4)
        fast.poll(_collect(seen_fast), 8)
        if round_no % 2:
            slow.poll(_collect(seen_slow), 8)
    _drain(slow, seen_slow)
    assert seen_fast == seen_slow == list(range(seq))
    assert fast.lost == slow.lost == 0
    assert transmitter.producer_position == fast.position == slow.position == seq
    assert [transmitter.receiver_position(i) for i in (0, 1)] == [seq, seq]


def test_should_return_zero_from_poll_when_nothing_is_new(group: Group) -> None:
    transmitter, (receiver, _) = group
    seen: list[int] = []
    assert receiver.poll(_collect(seen), 10) == 0
    assert not receiver.has_data()
    _publish(transmitter, 0, 1)
    assert receiver.has_data()
    assert receiver.poll(_collect(seen), 10) == 1
    assert receiver.poll(_collect(seen), 10) == 0
    assert seen == [0]


def test_should_respect_the_poll_limit(group: Group) -> None:
    transmitter, (receiver, _) = group
    _publish(transmitter, 0, 5)
    seen: list[int] = []
    assert receiver.poll(_collect(seen), 2) == 2
    assert receiver.poll(_collect(seen), 100) == 3
    assert seen == [0, 1, 2, 3, 4]


def test_should_hand_the_handler_its_own_copy_at_offset_zero(group: Group) -> None:
    transmitter, (receiver, _) = group
    _publish(transmitter, 0, 1)
    given: list[tuple[int, int, bytes]] = []
    receiver.poll(lambda buf, offset: given.append((len(buf), offset, bytes(buf))), 1)
    assert given == [(SLOT, 0, _record(0))]
    _publish(transmitter, 1, 1)
    buffers: list[memoryview] = []
    receiver.poll(lambda buf, offset: buffers.append(buf), 1)
    assert buffers[0].obj is not transmitter.buffer.obj  # not the shared slots: nothing can tear it


def test_should_publish_a_claimed_slot_only_on_commit(group: Group) -> None:
    transmitter, (receiver, _) = group
    offset = transmitter.try_claim()
    assert offset == DATA_OFFSET
    RECORD.pack_into(transmitter.buffer, offset, 41, -41 * 1_000_003)
    assert not receiver.has_data()
    transmitter.commit()
    seen: list[int] = []
    assert receiver.poll(_collect(seen), 10) == 1
    assert seen == [41]


def test_should_raise_on_commit_without_claim(group: Group) -> None:
    transmitter, _ = group
    with pytest.raises(RuntimeError, match=re.escape("commit() without a try_claim()")):
        transmitter.commit()
    transmitter.try_claim()
    transmitter.commit()
    with pytest.raises(RuntimeError, match=re.escape("commit() without a try_claim()")):
        transmitter.commit()
    assert transmitter.producer_position == 1


def test_should_time_each_record_against_the_stamp_in_its_copy(group: Group) -> None:
    """poll_timed: record_hop(now - the int64 at stamp_offset), then handler(buf, 0, now), in order."""
    transmitter, (receiver, _) = group
    assert receiver.poll_timed(lambda *_: None, 8, 8, lambda _: None) == 0
    taken: list[tuple[int, int]] = []
    hops: list[int] = []

    def handler(buf: memoryview, offset: int, now: int) -> None:
        taken.append((RECORD.unpack_from(buf, offset)[0], now))

    for seq in range(12):
        transmitter.offer(RECORD.pack(seq, 1_000 * seq - 7))
        if seq % 3 == 2:
            assert receiver.poll_timed(handler, 8, 8, hops.append) == 3
    assert [seq for seq, _ in taken] == list(range(12))
    assert hops == [now - (1_000 * seq - 7) for seq, now in taken]


# ----------------------------------------------------------------------------- never waiting
def test_should_never_wait_when_every_receiver_is_behind(group: Group) -> None:
    transmitter, receivers = group
    total = 10 * CAPACITY
    for seq in range(total):
        assert transmitter.remaining_capacity() == CAPACITY
        if seq % 2:
            assert transmitter.offer(_record(seq)) is True
        else:
            offset = transmitter.try_claim()
            assert offset == DATA_OFFSET + (seq % CAPACITY) * SLOT
            RECORD.pack_into(transmitter.buffer, offset, seq, -seq * 1_000_003)
            transmitter.commit()
    assert transmitter.producer_position == total
    assert [r.position for r in receivers] == [0, 0]  # nobody read: nobody was waited for either


def test_should_count_exactly_what_a_lapped_receiver_lost(group: Group) -> None:
    transmitter, (receiver, other) = group
    seq = _publish(transmitter, 0, 3)
    seen: list[int] = []
    assert receiver.poll(_collect(seen), 10) == 3
    seq = _publish(transmitter, seq, 5 * CAPACITY + 3)  # 43 published, receiver at 3
    laps: list[int] = []
    receiver.on_lap(laps.append)
    _drain(receiver, seen)
    assert seen == [0, 1, 2, seq - 1]
    assert receiver.lost == seq - 1 - 3 == laps[0]
    assert len(seen) + receiver.lost == seq == receiver.position
    assert transmitter.receiver_lost(0) == receiver.lost
    assert transmitter.receiver_lost(1) == other.lost == 0  # the other receiver has not looked yet


def test_should_resume_from_newest_record_after_lap(group: Group) -> None:
    transmitter, (receiver, _) = group
    seq = _publish(transmitter, 0, 3 * CAPACITY)
    seen: list[int] = []
    assert receiver.poll(_collect(seen), 1) == 1
    assert seen == [seq - 1]  # the newest, straight after the lap
    seq = _publish(transmitter, seq, 4)
    _drain(receiver, seen)
    assert seen == [3 * CAPACITY - 1, *range(3 * CAPACITY, seq)]
    assert receiver.lost == 3 * CAPACITY - 1


def test_should_discard_a_copy_of_a_slot_the_transmitter_has_begun_to_overwrite(group: Group) -> None:
    """tail - cursor == capacity is not yet a lap, but a claimed (uncommitted) next slot overwrites the oldest."""
    transmitter, (receiver, _) = group
    seq = _publish(transmitter, 0, CAPACITY)
    offset = transmitter.try_claim()  # announces record 8, which goes where record 0 is
    struct.pack_into("<q", transmitter.buffer, offset, 10**9)  # half-written
    seen: list[int] = []
    _drain(receiver, seen)
    assert seen == [seq - 1]  # record 0 was never handed over, torn or not
    assert receiver.lost == seq - 1
    RECORD.pack_into(transmitter.buffer, offset, seq, -seq * 1_000_003)
    transmitter.commit()
    _drain(receiver, seen)
    assert seen == [seq - 1, seq]
    assert len(seen) + receiver.lost == seq + 1


def test_should_never_hand_over_a_record_twice_or_out_of_order_under_random_laps(group: Group) -> None:
    transmitter, receivers = group
    rng = random.Random(11)
    seen: list[list[int]] = [[], []]
    seq = 0
    for _ in range(2_000):
        seq = _publish(transmitter, seq, rng.choice((0, 1, 1, 2, 5, 9, 30)))
        for i, receiver in enumerate(receivers):
            if rng.random() < 0.4:
                receiver.poll(_collect(seen[i]), rng.randint(1, 12))
    for i, receiver in enumerate(receivers):
        _drain(receiver, seen[i])
        got = seen[i]
        assert all(a < b for a, b in itertools.pairwise(got)), "duplicate or out of order"
        assert got[-1] == seq - 1
        assert len(got) + receiver.lost == seq
        assert receiver.lost == transmitter.receiver_lost(i) > 0
        assert receiver.position == transmitter.receiver_position(i) == seq


# ----------------------------------------------------------------------------- poll_until / errors
def test_should_end_a_batch_after_a_record_whose_handler_says_stop(group: Group) -> None:
    transmitter, (receiver, _) = group
    _publish(transmitter, 0, 5)
    seen: list[int] = []

    def stop_after_1(buf: memoryview, offset: int, now: int) -> bool:
        seen.append(RECORD.unpack_from(buf, offset)[0])
        return seen[-1] == 1

    assert receiver.poll_until_timed(stop_after_1, 10, 8, lambda _: None) == 2
    assert receiver.poll_until_timed(stop_after_1, 10, 8, lambda _: None) == 3
    assert seen == [0, 1, 2, 3, 4]


def test_should_take_the_record_whose_handler_raised_and_never_hand_it_over_again(group: Group) -> None:
    transmitter, (receiver, _) = group
    _publish(transmitter, 0, 4)
    seen: list[int] = []

    def fail_on_1(buf: memoryview, offset: int) -> None:
        seq = RECORD.unpack_from(buf, offset)[0]
        seen.append(seq)
        if seq == 1:
            raise ValueError("bad record")

    with pytest.raises(ValueError, match="bad record"):
        receiver.poll(fail_on_1, 10)
    assert receiver.position == 2
    assert receiver.poll(fail_on_1, 10) == 2
    assert seen == [0, 1, 2, 3]


# ----------------------------------------------------------------------------- restart
def test_should_resume_a_restarted_receiver_from_its_shared_position_and_count_what_it_missed(
    group: Group,
) -> None:
    transmitter, receivers = group
    seq = _publish(transmitter, 0, 4)
    seen: list[int] = []
    receivers[0].poll(_collect(seen), 2)
    receivers[0].close()
    receivers[0] = BroadcastReceiver.attach(transmitter.name, 0)  # a restarted stage
    _drain(receivers[0], seen)
    assert seen == [0, 1, 2, 3]
    receivers[0].close()
    seq = _publish(transmitter, seq, 2 * CAPACITY)  # published while it was down
    receivers[0] = BroadcastReceiver.attach(transmitter.name, 0)
    _drain(receivers[0], seen)
    assert seen[-1] == seq - 1
    assert receivers[0].lost == 2 * CAPACITY - 1
    assert len(seen) + receivers[0].lost == seq


def test_should_resume_a_restarted_transmitter_from_the_shared_tail(group: Group) -> None:
    transmitter, (receiver, _) = group
    _publish(transmitter, 0, 3)
    again = BroadcastTransmitter.attach(transmitter.name)
    try:
        _publish(again, 3, 2)
        assert again.producer_position == 5
    finally:
        again.close()
    seen: list[int] = []
    _drain(receiver, seen)
    assert seen == [0, 1, 2, 3, 4]


# ----------------------------------------------------------------------------- doorbells
@pytest.fixture
def bells(pipeline_name: str) -> Iterator[Callable[[int], posix_ipc.Semaphore]]:
    made: list[tuple[str, posix_ipc.Semaphore]] = []

    def bell(receiver: int) -> posix_ipc.Semaphore:
        name = segment_name(pipeline_name, "bell", f"r{receiver}")
        semaphore = posix_ipc.Semaphore(name, posix_ipc.O_CREX, mode=SEGMENT_MODE)
        made.append((name, semaphore))
        return semaphore

    try:
        yield bell
    finally:
        for name, semaphore in made:
            semaphore.close()
            posix_ipc.unlink_semaphore(name)


def test_should_post_only_the_doorbells_of_parked_receivers(
    group: Group, bells: Callable[[int], posix_ipc.Semaphore]
) -> None:
    transmitter, receivers = group
    bell = [bells(0), bells(1)]
    for i, semaphore in enumerate(bell):
        transmitter.attach_doorbell(i, semaphore)
    _publish(transmitter, 0, 5)
    assert [b.value for b in bell] == [0, 0], "posted although nobody was parked"
    receivers[1].set_parked(True)
    _publish(transmitter, 5, 1)
    offset = transmitter.try_claim()
    RECORD.pack_into(transmitter.buffer, offset, 6, -6 * 1_000_003)
    transmitter.commit()
    assert [b.value for b in bell] == [0, 2]
    receivers[1].set_parked(False)
    _publish(transmitter, 7, 1)
    assert [b.value for b in bell] == [0, 2]


def test_should_wake_a_parked_receiver_past_the_eighth(
    ring_name: Callable[[str], str], bells: Callable[[int], posix_ipc.Semaphore]
) -> None:
    with broadcast_group(ring_name("wide"), receivers=MAX_RECEIVERS) as (transmitter, receivers):
        bell = bells(MAX_RECEIVERS - 1)
        transmitter.attach_doorbell(MAX_RECEIVERS - 1, bell)
        receivers[-1].set_parked(True)
        assert transmitter.segment.buf[PARKED_OFFSET + MAX_RECEIVERS - 1] == 1
        assert transmitter.segment.words[PARKED_OFFSET // 8] == 0  # only the second parked word is raised
        _publish(transmitter, 0, 1)
        assert bell.value == 1


def test_should_keep_each_receivers_parked_byte_to_itself(group: Group) -> None:
    transmitter, (first, second) = group
    first.set_parked(True)
    second.set_parked(True)
    first.set_parked(False)
    assert bytes(transmitter.segment.buf[PARKED_OFFSET : PARKED_OFFSET + 2]) == b"\x00\x01"
