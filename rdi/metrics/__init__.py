"""Prometheus metrics of the ingest processor, with the names RDI's classic metrics exporter uses.

:class:`ProcessorMetrics` holds the metrics (one per process, shared by its Bytewax workers),
:class:`StreamMonitor` keeps the backlog gauges current from the RDI database, and :func:`serve_metrics`
exposes them over HTTP (``/metrics``, ``/healthz``, ``/readyz``); :func:`serve_health` serves only the
last two, for components without metrics.
"""

from __future__ import annotations

from rdi.metrics.monitor import StreamMonitor
from rdi.metrics.processor import CUMULATIVE_OPERATIONS, ProcessorMetrics, data_source
from rdi.metrics.server import MetricsServer, serve_health, serve_metrics

__all__ = [
    "CUMULATIVE_OPERATIONS",
    "MetricsServer",
    "ProcessorMetrics",
    "StreamMonitor",
    "data_source",
    "serve_health",
    "serve_metrics",
]
