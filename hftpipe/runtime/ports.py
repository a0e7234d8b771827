"""Ports: a stage's ends of its rings, which take the hop measurements so no stage writes them.

What is measured (docs/architecture.md, "Latency measurement"): the stage at
depth ``d`` stamps ``ts_hop[d]`` when it publishes; the consumer of that ring
records ``now - ts_hop[d]`` into the ring's hop histogram; the last stage
records ``now - ts_origin`` end to end. The ports own the first two:

* :class:`InputPort` (``ctx.input_port(name)``): ``poll(handler, limit)``
  hands up to ``limit`` records to ``handler(buffer, offset, now)``, having
  recorded ``now - ts_hop[producer's depth]`` into the hop histogram for each,
  and counts them into ``messages_in``. ``now`` is when the record was taken:
  the stage stamps what it publishes because of that record with it, so the
  next hop's histogram covers this stage's work, as it always has.
  ``poll_until(handler, limit)`` is the same for a stage that must not take a
  record before it is done with it: a record is taken only once its handler
  returned or raised (:meth:`InputPort.poll` leaves a batch whose handler
  raised in the ring; this never hands a record over twice), and a handler
  returning True ends the batch there, leaving the rest in the ring (the
  engine stops right after a command whose events did not all fit).
* :class:`OutputPort` (``ctx.output_port(name)``): ``claim()`` reserves a slot
  and returns its offset in ``buffer`` (-1 when the ring is full, counted as
  ``backpressure``); the stage writes the record there (``pack_into``, a copy);
  ``commit(offset, now)`` stamps ``ts_hop[this stage's depth] = now``,
  publishes and counts ``messages_out``. ``offer(record, now)`` does all of it
  for a record already in bytes; ``room(needed)`` is the free slots, counting
  ``backpressure`` when fewer than ``needed``.
* ``OutputPort.packer(spec)``, for a source whose per-record path cannot
  afford the two calls and the store of ``claim``/``commit`` (the feed's sink,
  one record per price level): ``spec``'s struct with this port's ``ts_hop``
  slot as its only hop field (the others pack as zeros), so the stamp goes in
  with the pack. Such a source publishes with ``ring.try_claim``/``ring.commit``
  and counts into the port's ``sent`` and ``backpressure`` itself.
* ``OutputPort.stamp_item(ts_hop_item)`` and ``count_sent(n)``, for a stage
  that copies the upstream stamps (a packer would zero them) and cannot afford
  a store per record either (the engine): it puts ``now`` at ``stamp_item`` of
  the header tuple it packs every record of a command with, publishes with
  ``ring.commit`` and counts the command's records with one ``count_sent``.

A port works the same over either kind of ring (:mod:`hftpipe.substrate.ends`).
Over a broadcast ring (:mod:`hftpipe.substrate.broadcast`) the producer's
port never finds the ring full: ``claim`` never returns -1, ``room`` is
always the whole ring and no ``backpressure`` is ever counted; a receiver's
port hands each record over from the receiver's scratch copy (``offset`` is
then 0), and ``poll_until`` runs the receiver's own loop. What a lapped
receiver lost is counted by the wiring (:mod:`hftpipe.runtime.laps`).

Every other header field is the stage's: it copies ``ts_origin`` and the
upstream ``ts_hop`` values from the record it derives from (a source writes
``ts_origin = now`` and zeros), and a sink records end to end from the
``now`` its handler is given (``ctx.end_to_end.record(now - ts_origin)``).
A relay, for example::

    class Relay(Agent):
        def __init__(self, ctx: StageContext) -> None:
            super().__init__(ctx)
            self._input = ctx.input_port()
            self._offer = ctx.output_port().offer
            self._size = self._input.ring.slot_size

        def _forward(self, buf: memoryview, offset: int, now: int) -> None:
            self._offer(buf[offset : offset + self._size], now)

        def do_work(self) -> int:
            return self._input.poll(self._forward, 64)

Hot path: nothing is allocated per record. The measuring loop is
:meth:`~hftpipe.substrate.ring.Ring.poll_timed` (``poll_until`` runs the same
loop itself), so the input side costs no call per record beyond the stage's
handler and the histogram's ``record``; stamps and counts are single
aligned int64 stores through ``memoryview.cast("q")`` (~15 ns), not
``struct.pack_into`` (~117 ns). Bind the methods to locals or attributes once.
"""

from __future__ import annotations

import struct
import sys
import time
from collections.abc import Callable
from typing import Final

from hftpipe.schema.records import TS_HOP_OFFSET, RecordSpec, one_hop_format
from hftpipe.substrate.broadcast import BroadcastReceiver, BroadcastTransmitter, StoppingRecordHandler
from hftpipe.substrate.counters import Counter
from hftpipe.substrate.ends import ConsumerEnd, ProducerEnd
from hftpipe.substrate.histogram import Histogram
from hftpipe.substrate.ring import Ring, TimedRecordHandler

assert sys.byteorder == "little", "records are little-endian; ports read and write stamps as native int64"

_TS_HOP_WORD: Final = TS_HOP_OFFSET // 8

__all__ = ["InputPort", "OutputPort", "StoppingRecordHandler"]


class InputPort:
    """A ring this stage consumes, measuring the hop each record made to reach it."""

    __slots__ = (
        "_poll_timed", "_poll_until", "_received", "_record_hop", "_stamp_offset", "hop_histogram", "producer_hop",
        "ring",
    )  # fmt: skip

    def __init__(
        self, ring: ConsumerEnd, hop_histogram: Histogram, producer_hop: int, received: Counter | None = None
    ) -> None:
        """``received`` is the stage's ``messages_in`` (the context always gives one; a port built
        by hand without one counts nowhere)."""
        self.ring = ring
        self.hop_histogram = hop_histogram
        self.producer_hop = producer_hop
        """Index into ``ts_hop`` that the producer stamps when it publishes."""
        self._received = received
        self._poll_timed = ring.poll_timed
        self._record_hop = hop_histogram.record
        self._stamp_offset = TS_HOP_OFFSET + 8 * producer_hop
        self._poll_until: Callable[[StoppingRecordHandler, int], int]
        if isinstance(ring, BroadcastReceiver):
            self._poll_timed = self._poll_timed_receiver
            self._poll_until = self._poll_until_receiver
        else:
            self._poll_until = self._poll_until_ring

    def poll(self, handler: TimedRecordHandler, limit: int) -> int:
        """Hand up to ``limit`` records to ``handler(buffer, offset, now)``, each hop recorded; how many."""
        count = self._poll_timed(handler, limit, self._stamp_offset, self._record_hop)
        if count and self._received is not None:
            self._received.add(count)
        return count

    def poll_until(self, handler: StoppingRecordHandler, limit: int) -> int:
        """:meth:`poll`, taking each record only once ``handler`` is done with it; how many were taken.

        A handler returning True ends the batch after its record; one that raises has its
        record taken (and the exception goes on), so no record is handed over twice. From an
        SPSC ring the batch stops at the wrap (:meth:`~hftpipe.substrate.ring.Ring.peek_batch`),
        and ``buffer`` is a view of it that is released on return: a handler must not keep it.
        """
        return self._poll_until(handler, limit)

    def _poll_timed_receiver(
        self, handler: TimedRecordHandler, limit: int, stamp_offset: int, record_hop: Callable[[int], None]
    ) -> int:
        """A receiver takes a record before its handler runs: one that raised was taken, and is counted."""
        ring = self.ring
        assert isinstance(ring, BroadcastReceiver)
        position, lost = ring.position, ring.lost
        try:
            return ring.poll_timed(handler, limit, stamp_offset, record_hop)
        except BaseException:
            self._count_taken(ring, position, lost)
            raise

    def _poll_until_receiver(self, handler: StoppingRecordHandler, limit: int) -> int:
        ring = self.ring
        assert isinstance(ring, BroadcastReceiver)
        position, lost = ring.position, ring.lost
        try:
            return ring.poll_until_timed(handler, limit, self._stamp_offset, self._record_hop)
        finally:
            self._count_taken(ring, position, lost)

    def _count_taken(self, ring: BroadcastReceiver, position: int, lost: int) -> None:
        """What ``ring`` handed over since it was at ``position`` having lost ``lost``, into ``messages_in``."""
        taken = ring.position - position - (ring.lost - lost)
        if taken and self._received is not None:
            self._received.add(taken)

    def _poll_until_ring(self, handler: StoppingRecordHandler, limit: int) -> int:
        ring = self.ring
        if not isinstance(ring, Ring):
            raise NotImplementedError(f"poll_until reads a Ring or a BroadcastReceiver, not a {type(ring).__name__}")
        rows = ring.peek_batch(limit)
        count = len(rows)
        if not count:
            return 0
        view = rows.data
        flat = view.cast("B")
        words = flat.cast("q")
        size = self.ring.slot_size
        stamp = self._stamp_offset >> 3
        record_hop = self._record_hop
        clock = time.monotonic_ns
        taken = 0
        try:
            for offset in range(0, count * size, size):
                taken += 1
                now = clock()
                record_hop(now - words[(offset >> 3) + stamp])
                if handler(flat, offset, now):
                    break
        finally:
            words.release()
            flat.release()
            view.release()
            ring.advance(taken)
            if self._received is not None:
                self._received.add(taken)
        return taken


class OutputPort:
    """A ring this stage publishes to: every record it commits carries this stage's ``ts_hop`` stamp."""

    __slots__ = (
        "_backpressure", "_commit", "_never_full", "_sent_index", "_sent_words", "_stamp_word", "_try_claim",
        "_words", "backpressure", "buffer", "hop", "ring", "sent",
    )  # fmt: skip

    def __init__(self, ring: ProducerEnd, hop: int, sent: Counter, backpressure: Counter) -> None:
        self.ring = ring
        self.hop = hop
        """This stage's index into ``ts_hop``."""
        self.buffer = ring.buffer
        """Where :meth:`claim`'s offsets point."""
        self._try_claim = ring.try_claim
        self._commit = ring.commit
        self._words = ring.segment.words
        self._stamp_word = _TS_HOP_WORD + hop
        self.sent = sent
        """``messages_out``: what :meth:`commit` and :meth:`offer` count each record into."""
        self.backpressure = backpressure
        """What a refused :meth:`claim` or :meth:`offer`, or a short :meth:`room`, counts into."""
        self._sent_words, self._sent_index = sent.slot
        self._backpressure = backpressure.add
        self._never_full = isinstance(ring, BroadcastTransmitter)
        """A broadcast ring laps its slow receivers instead of filling up: nothing is back-pressure."""

    def claim(self) -> int:
        """The offset of a slot to write the next record at, or -1 (counted) when the ring is full."""
        offset = self._try_claim()
        if offset < 0:
            self._backpressure()
        return offset

    def commit(self, offset: int, now: int) -> None:
        """Stamp ``ts_hop[hop] = now`` in the record claimed at ``offset`` and publish it."""
        self._words[(offset >> 3) + self._stamp_word] = now
        self._commit()
        self._sent_words[self._sent_index] += 1

    def offer(self, record: bytes | memoryview, now: int) -> bool:
        """Copy ``record`` into the next slot, stamp and publish it; ``False`` (counted) when full."""
        offset = self._try_claim()
        if offset < 0:
            self._backpressure()
            return False
        self.buffer[offset : offset + len(record)] = record
        self._words[(offset >> 3) + self._stamp_word] = now
        self._commit()
        self._sent_words[self._sent_index] += 1
        return True

    def packer(self, spec: RecordSpec) -> struct.Struct:
        """``spec``'s struct stamping this port's hop: ``ts_hop[hop]`` is its only hop field, the rest pack as zeros.

        For a source packing whole records: it passes ``now`` where the hop stamps go and publishes
        with ``ring.commit`` (no store after the pack), counting into :attr:`sent` itself.
        """
        return struct.Struct(one_hop_format(spec.dtype, self.hop))

    def stamp_item(self, ts_hop_item: int) -> int:
        """Where this port's stamp goes in a record tuple whose ``ts_hop[0]`` is item ``ts_hop_item``.

        For a stage packing whole records with the upstream stamps copied: it writes ``now`` there
        before the pack, so publishing is a plain ``ring.commit`` (then :meth:`count_sent`).
        """
        return ts_hop_item + self.hop

    def count_sent(self, n: int) -> None:
        """Count ``n`` records published past :meth:`commit`/:meth:`offer` into :attr:`sent`, one store.

        A stage that packs its stamp (:meth:`packer`, :meth:`stamp_item`) counts each command's or
        batch's records with one call instead of one store per record.
        """
        self._sent_words[self._sent_index] += n

    def room(self, needed: int = 1) -> int:
        """Free slots now (re-reads the consumer's position); one backpressure is counted if under ``needed``.

        Over a broadcast ring: always the whole ring, and never back-pressure.
        """
        free = self.ring.remaining_capacity()
        if free < needed and not self._never_full:
            self._backpressure()
        return free
