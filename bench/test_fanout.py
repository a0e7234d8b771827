"""Micro benchmarks of fanning one stream out, named by topology (see ``bench/fanout_bench.py``).

Group ``fanout``: what one record costs its producer with one SPSC ring per
consumer (``spsc_x1`` is the baseline) and with one broadcast ring for all;
then with one of two consumers stalled. Group ``fanout-receive``: what a
consumer pays per record, the broadcast receiver's scratch copy included.
Every benchmark checks afterwards what it timed: positions, losses, ring-full counts.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from bench.conftest import MakeBroadcast, MakeRing
from bench.fanout_bench import CAPACITY, TOPOLOGIES, drain_receiver, drain_ring, run_fanout_benchmark
from hftpipe.substrate.broadcast import BroadcastReceiver
from hftpipe.substrate.ring import Ring

PAYLOAD = struct.Struct("<8xQ8xq32x")  # seq at 8, ts_origin at 24: a 64-byte probe record
RECORD = PAYLOAD.pack(7, 99)


def _spsc(make_ring: MakeRing, rings: int) -> tuple[list[Ring], list[Ring]]:
    pairs = [make_ring(CAPACITY, PAYLOAD.size) for _ in range(rings)]
    return [p for p, _ in pairs], [c for _, c in pairs]


def _offer_to_each(producers: list[Ring], consumers: list[Ring]) -> Callable[[], None]:
    """One record to every ring; a full ring is drained (once per CAPACITY records, amortized) and offered again.

    With one ring, the same call without the loop: the shape every broadcast benchmark has too.
    """
    if len(producers) == 1:
        offer, consumer = producers[0].offer, consumers[0]

        def publish_one() -> None:
            if not offer(RECORD):
                drain_ring(consumer)
                offer(RECORD)

        return publish_one
    offers = [(p.offer, c) for p, c in zip(producers, consumers, strict=True)]

    def publish() -> None:
        for each, ring in offers:
            if not each(RECORD):
                drain_ring(ring)
                each(RECORD)

    return publish


def _check_lapped(end: BroadcastReceiver, published: int) -> None:
    """A receiver that never read: it hands over the newest record and knows exactly what it lost."""
    received = drain_receiver(end)
    assert end.position == published > 0
    assert received + end.lost == published
    assert received == (1 if published > CAPACITY else published)


@pytest.mark.benchmark(group="fanout")
@pytest.mark.parametrize("rings", [1, 2, 4], ids=["spsc_x1", "spsc_x2", "spsc_x4"])
def test_spsc_ring_per_consumer(benchmark: BenchmarkFixture, make_ring: MakeRing, rings: int) -> None:
    producers, consumers = _spsc(make_ring, rings)
    benchmark(_offer_to_each(producers, consumers))
    published = producers[0].producer_position
    for producer, consumer in zip(producers, consumers, strict=True):
        drain_ring(consumer)
        assert producer.producer_position == consumer.consumer_position == published > 0


@pytest.mark.benchmark(group="fanout")
@pytest.mark.parametrize("receivers", [1, 2, 4], ids=["broadcast_x1", "broadcast_x2", "broadcast_x4"])
def test_broadcast_ring(benchmark: BenchmarkFixture, make_broadcast: MakeBroadcast, receivers: int) -> None:
    transmitter, ends = make_broadcast(receivers, CAPACITY, PAYLOAD.size)
    offer = transmitter.offer

    def publish() -> None:  # the shape of spsc_x1's call: an offer and its check
        if not offer(RECORD):
            raise AssertionError("a broadcast ring refused a record")

    benchmark(publish)
    for end in ends:  # nobody read while it ran
        _check_lapped(end, transmitter.producer_position)


@pytest.mark.benchmark(group="fanout")
def test_broadcast_x2_one_stalled(benchmark: BenchmarkFixture, make_broadcast: MakeBroadcast) -> None:
    """The healthy receiver keeps up (drained every CAPACITY/2 records); the stalled one never reads."""
    transmitter, (healthy, stalled) = make_broadcast(2, CAPACITY, PAYLOAD.size)
    offer = transmitter.offer
    sent = [0]

    def publish() -> None:
        offer(RECORD)
        sent[0] += 1
        if not sent[0] % (CAPACITY // 2):
            drain_receiver(healthy)

    benchmark(publish)
    published = transmitter.producer_position
    drain_receiver(healthy)
    assert (healthy.position, healthy.lost) == (published, 0)
    _check_lapped(stalled, published)


@pytest.mark.benchmark(group="fanout")
def test_spsc_x2_one_stalled_drops(benchmark: BenchmarkFixture, make_ring: MakeRing) -> None:
    """The stalled consumer's ring fills: a producer that must not block drops (counted as ring-full)."""
    (healthy_out, stalled_out), (healthy_in, stalled_in) = _spsc(make_ring, 2)
    healthy_offer, stalled_offer = healthy_out.offer, stalled_out.offer

    def publish() -> None:
        if not healthy_offer(RECORD):
            drain_ring(healthy_in)
            healthy_offer(RECORD)
        stalled_offer(RECORD)

    benchmark(publish)
    published = healthy_out.producer_position
    drain_ring(healthy_in)
    assert healthy_in.consumer_position == published > 0
    delivered = min(published, CAPACITY)  # a blocking producer would stop at CAPACITY
    assert stalled_out.producer_position == delivered == stalled_in.size()
    assert stalled_out.full_count == published - delivered


@pytest.mark.benchmark(group="fanout-receive")
def test_spsc_x1_offer_then_poll_one(benchmark: BenchmarkFixture, make_ring: MakeRing) -> None:
    producer, consumer = make_ring(CAPACITY, PAYLOAD.size)
    seen = [0]

    def on_record(buf: memoryview, offset: int) -> None:
        seen[0] = PAYLOAD.unpack_from(buf, offset)[0]

    offer, poll = producer.offer, consumer.poll
    benchmark(lambda: (offer(RECORD), poll(on_record, 1)))
    assert seen[0] == 7 and producer.producer_position == consumer.consumer_position > 0


@pytest.mark.benchmark(group="fanout-receive")
def test_broadcast_x1_offer_then_poll_one(benchmark: BenchmarkFixture, make_broadcast: MakeBroadcast) -> None:
    transmitter, (receiver,) = make_broadcast(1, CAPACITY, PAYLOAD.size)
    seen = [0]

    def on_record(buf: memoryview, offset: int) -> None:
        seen[0] = PAYLOAD.unpack_from(buf, offset)[0]

    offer, poll = transmitter.offer, receiver.poll
    benchmark(lambda: (offer(RECORD), poll(on_record, 1)))
    assert seen[0] == 7 and transmitter.producer_position == receiver.position > 0 and receiver.lost == 0


def test_fanout_run_at_a_small_size_checks_every_topology() -> None:
    result = run_fanout_benchmark(count=CAPACITY + 904, repetitions=1)
    topologies = result["topologies"]
    assert list(topologies) == list(TOPOLOGIES)
    assert topologies["spsc-x1"]["ratio_to_baseline"] == 1.0
    assert all(info["ns_per_record"] > 0 for info in topologies.values())
    assert topologies["broadcast-x2-stalled"]["stalled_lost"] == CAPACITY + 903
    assert topologies["spsc-x2-stalled"]["ring_full"] == 904
    assert result["setup"]["baseline"] == "spsc-x1"
