"""The slow-consumer policy: a client that stops reading is dropped; the others and the drain go on."""

from __future__ import annotations

import asyncio

import pytest
from websockets.exceptions import ConnectionClosed

from stages.exchange.publisher.hub import StreamHub
from stages.exchange.publisher.session import HARD_LIMIT_FACTOR, ClientSession


class FakeConnection:
    """``send`` completes at once, or (``stuck``) never: a client whose socket stopped draining."""

    def __init__(self, stuck: bool) -> None:
        self.stuck = stuck
        self.sent: list[bytes] = []
        self.closed: tuple[int, str] | None = None
        self._never = asyncio.Event()

    async def send(self, message: bytes, *, text: bool | None = None) -> None:
        assert text is True
        if self.stuck:
            await self._never.wait()
            raise ConnectionClosed(None, None)  # what a pending send does when the connection closes
        self.sent.append(message)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = (code, reason)
        self._never.set()


def test_max_queue_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_queue"):
        ClientSession(FakeConnection(False), combined=False, max_queue=0, on_slow=lambda s: None)


def test_a_stuck_client_is_dropped_once_while_a_reading_one_gets_everything() -> None:
    async def scenario() -> None:
        hub = StreamHub()
        dropped: list[ClientSession] = []
        reported: list[ClientSession] = []
        slow_conn, fast_conn = FakeConnection(stuck=True), FakeConnection(stuck=False)
        sessions = [
            ClientSession(conn, combined=combined, max_queue=4, on_slow=dropped.append, on_backlog=reported.append)
            for conn, combined in ((slow_conn, False), (fast_conn, True))
        ]
        slow, fast = sessions
        writers = [asyncio.create_task(s.write_loop()) for s in sessions]
        for session in sessions:
            hub.subscribe("btcusdt@trade", session)
        sent = 0
        for _cycle in range(5):  # drain cycles: a burst above max_queue each, then the loop runs the writers
            for session in reported:
                session.behind()
            reported.clear()
            for _ in range(7):
                hub.publish("btcusdt@trade", b'{"t":%d}' % sent)  # the drain never awaits a client
                sent += 1
            await asyncio.sleep(0)
        assert dropped == [slow]  # behind after its writer's turn; the fast one only had bursts
        assert slow.dropped and slow.pending == 0
        assert not fast.dropped
        assert fast_conn.sent == [b'{"stream":"btcusdt@trade","data":{"t":%d}}' % i for i in range(sent)]
        assert slow_conn.sent == []
        slow.push(b"more")  # ignored once dropped
        assert slow.pending == 0
        await slow_conn.close(1008, "slow")  # what the server's drop handler does
        await asyncio.wait_for(writers[0], 30)  # and the dropped client's writer ends
        writers[1].cancel()

    asyncio.run(scenario())


def test_a_queue_at_the_hard_limit_drops_at_once() -> None:
    async def scenario() -> None:
        dropped: list[ClientSession] = []
        session = ClientSession(FakeConnection(stuck=True), combined=False, max_queue=4, on_slow=dropped.append)
        for i in range(HARD_LIMIT_FACTOR * 4 - 1):
            session.push(b"%d" % i)
        assert not dropped and session.pending == HARD_LIMIT_FACTOR * 4 - 1
        session.push(b"last")
        assert dropped == [session] and session.pending == 0

    asyncio.run(scenario())


def test_hub_fan_out_wraps_once_for_combined_subscribers() -> None:
    hub = StreamHub()

    class Sink:
        def __init__(self, combined: bool) -> None:
            self.combined = combined
            self.got: list[bytes] = []

        def push(self, message: bytes) -> None:
            self.got.append(message)

    raw, wrapped_a, wrapped_b = Sink(False), Sink(True), Sink(True)
    for sink in (raw, wrapped_a, wrapped_b):
        hub.subscribe("x@trade", sink)
    assert hub.wants("x@trade") and not hub.wants("x@depth")
    hub.publish("x@trade", b"{}")
    assert raw.got == [b"{}"]
    assert wrapped_a.got == wrapped_b.got == [b'{"stream":"x@trade","data":{}}']
    assert wrapped_a.got[0] is wrapped_b.got[0]
    hub.unsubscribe("x@trade", raw)
    hub.unsubscribe("x@trade", wrapped_a)
    hub.unsubscribe("x@trade", wrapped_b)
    assert not hub.wants("x@trade") and hub.published == 3
