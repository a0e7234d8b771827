"""Benchmarks behind ``hftpipe bench``.

* :mod:`bench.ring_bench`: one-way latency and throughput of the
  shared-memory ring against ``multiprocessing.Queue`` and ``faster_fifo``,
  producer and consumer in two pinned processes.
* :mod:`bench.pipeline_bench`: the 5-stage probe pipeline under
  the supervisor, per-hop and end-to-end latency.

The pytest-benchmark micro benchmarks live in ``bench/`` at the repository root.
"""

from bench.procs import BenchmarkError

__all__ = ["BenchmarkError"]
