"""A loopback venue: serves a capture over WebSockets and its REST snapshots over HTTP.

It lets a pipeline's feed stage run its real client path — connect,
subscribe, buffer, fetch the snapshot, sync — with no network. Relative
capture paths are resolved against the directory of the embedded configs
(``configs/`` in a checkout), where the default pipeline's capture lives.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path

from hftpipe.runtime import AsyncAgent, StageContext
from hftpipe.runtime.config import default_config_path
from hftpipe.substrate.counters import CounterKind
from stages.marketdata.capture.replay_server import ReplayServer, ReplayServerThread


def resolve_capture(path: str) -> Path:
    candidate = Path(path)
    return candidate if candidate.is_absolute() else default_config_path().parent / candidate


class ReplayVenueStage(AsyncAgent):
    @dataclass(frozen=True, slots=True, kw_only=True)
    class Params:
        capture: str
        snapshots: str = ""
        host: str = "127.0.0.1"
        port: int = 19443
        pace: str = "original"
        speed: float = 1.0
        loop: bool = True

        def __post_init__(self) -> None:
            if self.pace not in ("original", "fast"):
                raise ValueError(f"pace must be 'original' or 'fast', got {self.pace!r}")
            if not resolve_capture(self.capture).is_file():
                raise ValueError(f"capture {resolve_capture(self.capture)} does not exist")
            if self.snapshots and not resolve_capture(self.snapshots).is_file():
                raise ValueError(f"snapshots {resolve_capture(self.snapshots)} does not exist")

    def __init__(self, ctx: StageContext) -> None:
        super().__init__(ctx)
        params: ReplayVenueStage.Params = ctx.params
        self.server = ReplayServer(
            resolve_capture(params.capture),
            resolve_capture(params.snapshots) if params.snapshots else None,
            host=params.host,
            port=params.port,
            pace="fast" if params.pace == "fast" else "original",
            speed=params.speed,
            loop=params.loop,
        )
        self._sent = ctx.counter(CounterKind.MESSAGES_OUT)
        self._connections = ctx.counters.add("connections")
        self._snapshots = ctx.counters.add("snapshots_served")
        self._thread: ReplayServerThread

    def on_start(self) -> None:
        """Listen before reporting READY, so the feed's first connection finds the venue up."""
        self._thread = self.server.start_in_thread()

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=0.5)
            counters = self._thread.counters
            self._sent.set(counters.messages_sent)
            self._connections.set(counters.connections_accepted)
            self._snapshots.set(counters.snapshots_served)

    def on_close(self) -> None:
        self._thread.stop()
