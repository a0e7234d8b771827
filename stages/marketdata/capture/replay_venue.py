"""A loopback venue: serves a capture over WebSockets and its REST snapshots over HTTP.

It lets a pipeline's feed stage run its real client path — connect,
subscribe, buffer, fetch the snapshot, sync — with no network. Relative
capture paths start from the config file's directory, as every path in a
config does (the embedded default names ``captures/...`` beside itself).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path

from hftpipe.runtime import AsyncAgent, StageContext
from hftpipe.runtime.listening import listen_refusal
from hftpipe.runtime.validation import ConfigError, positive, tcp_port
from hftpipe.substrate.counters import CounterKind
from stages.marketdata.capture.replay_server import ReplayServer, ReplayServerThread


class ReplayVenueStage(AsyncAgent):
    @dataclass(frozen=True, slots=True, kw_only=True)
    class Params:
        capture: Path
        """The WebSocket capture to serve (relative: to the config file)."""
        snapshots: Path | None = None
        """The REST snapshots recorded with it (``.http``), if any."""
        host: str = "127.0.0.1"
        port: int = 19443
        pace: str = "original"
        speed: float = 1.0
        loop: bool = True

        def __post_init__(self) -> None:
            if self.pace not in ("original", "fast"):
                raise ValueError(f"pace must be 'original' or 'fast', got {self.pace!r}")
            tcp_port("port", self.port)
            positive("speed", self.speed)
            if not self.host:
                raise ConfigError("host", "must be an address to listen on, got ''")
            for name in ("capture", "snapshots"):
                path = getattr(self, name)
                if path is not None and not Path(path).is_file():
                    raise ConfigError(name, f"{path} does not exist")

    def __init__(self, ctx: StageContext) -> None:
        super().__init__(ctx)
        params: ReplayVenueStage.Params = ctx.params
        self.server = ReplayServer(
            params.capture,
            params.snapshots,
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
        """Listen before reporting READY, so the feed's first connection finds the venue up
        and a port in use fails the start (exit 78 naming the key), not the run."""
        try:
            self._thread = self.server.start_in_thread()
        except OSError as exc:
            params = self.ctx.params
            refusal = listen_refusal(exc, params.host, params.port, f"stages.{self.ctx.name}.params.port")
            if refusal is None:
                raise
            raise refusal from exc

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
