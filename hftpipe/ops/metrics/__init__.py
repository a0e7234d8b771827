"""Prometheus exposition of a running pipeline (``hftpipe metrics``).

:mod:`~hftpipe.ops.metrics.families` turns one read of a pipeline into metric
families (a pure function of what was read); :mod:`~hftpipe.ops.metrics.collector`
is the ``prometheus_client`` custom collector that reads each pipeline on every
scrape; :mod:`~hftpipe.ops.metrics.buckets` maps the project's log-linear
histograms onto Prometheus buckets without re-observing a value.
"""

from hftpipe.ops.metrics.collector import PipelineCollector, serve
from hftpipe.ops.metrics.families import PipelineFamilies, PipelineRead

__all__ = ["PipelineCollector", "PipelineFamilies", "PipelineRead", "serve"]
