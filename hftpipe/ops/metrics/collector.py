"""The custom collector: each scrape reads the control file; the stages do nothing for it.

``prometheus_client``'s multiprocess mode would have every stage observe into
files (about 1.7 µs per observation on the hot path); the pipeline already
counts and histograms everything in shared memory, so the collector attaches
read-only when Prometheus asks, reads, and lets go.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from hftpipe.ops.metrics.families import PREFIX, PipelineFamilies, PipelineRead
from hftpipe.runtime.report import LatencySnapshot, RingReader, pipeline_report
from hftpipe.substrate.control import ControlFile
from hftpipe.substrate.shm import list_entries

logger = logging.getLogger("hftpipe.metrics")


def read_pipeline(control: ControlFile) -> PipelineRead:
    """Everything the families need, read once (rings attached read-only for this read only)."""
    rings = RingReader(control)
    try:
        report = pipeline_report(control, rings.rings)
    finally:
        rings.close()
    kinds = {name: control.read_counter_kinds(i) for i, name in enumerate(control.stage_names)}
    return PipelineRead(
        report=report,
        latency=LatencySnapshot.read(control),
        counter_kinds=kinds,
        now_mono_ns=time.monotonic_ns(),
        started_wall_ns=control.started_wall_ns,
    )


def live_pipelines() -> list[str]:
    """Our pipelines whose owner is alive (another user's are never read)."""
    return sorted({e.pipeline for e in list_entries() if e.name.endswith(".control") and e.alive})


class PipelineCollector(Collector):
    """Exports the pipeline ``name``, or every live pipeline of ours when ``name`` is None."""

    def __init__(self, name: str | None = None) -> None:
        self.name = name

    def describe(self) -> Iterable[Metric]:
        """Nothing up front: registering must not attach to a pipeline."""
        return []

    def collect(self) -> Iterable[Metric]:
        started = time.perf_counter()
        families = PipelineFamilies()
        for name in [self.name] if self.name else live_pipelines():
            read = self._read(name)
            if read is None:
                families.add_absent(name)
            else:
                families.add(read)
        yield from families
        duration = GaugeMetricFamily(
            f"{PREFIX}_exporter_scrape_duration_seconds", "time this scrape spent reading the pipelines"
        )
        duration.add_metric([], time.perf_counter() - started)
        yield duration

    @staticmethod
    def _read(name: str) -> PipelineRead | None:
        try:
            control = ControlFile.attach(name, readonly=True)
        except (FileNotFoundError, RuntimeError):
            return None
        except PermissionError as exc:
            logger.warning("pipeline %r is not ours to read: %s", name, exc)
            return None
        try:
            if not control.segment.owner_is_alive():
                return None  # a dead owner's leftovers: its figures would look live
            return read_pipeline(control)
        finally:
            control.close()


def serve(
    collector: PipelineCollector,
    host: str,
    port: int,
    stop_requested: Callable[[], bool],
    on_listening: Callable[[str], None] = lambda url: None,
    poll_s: float = 0.2,
) -> None:
    """Serve ``/metrics`` on ``host:port`` until ``stop_requested()``; a taken port raises OSError at once.

    ``on_listening`` gets the URL once the socket listens (port 0: the port picked).
    """
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    server, thread = start_http_server(port, addr=host, registry=registry)
    bound_host, bound_port = server.server_address[:2]
    on_listening(f"http://{_url_host(str(bound_host))}:{bound_port}/metrics")
    try:
        while not stop_requested():
            time.sleep(poll_s)
    finally:
        _shutdown(server, thread)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _shutdown(server: WSGIServer, thread: threading.Thread) -> None:
    server.shutdown()
    server.server_close()
    thread.join()
