"""The ingest processor's Prometheus metrics, named as RDI's classic ``rdi-metrics-exporter`` names them.

Exposed series (rdi-compat-spec §5.5; counters get ``_total``/``_created`` from prometheus_client):

* ``incoming_records_total``, ``processed_records_total``, ``rejected_records_total``,
  ``filtered_records_total`` — every entry read is incoming and ends processed, rejected or filtered.
* ``rdi_incoming_entries{data_source, operation}`` — per staging stream (``data_source`` is the stream key
  without ``data:``): cumulative ``inserted``, ``updated``, ``deleted``, ``filtered``, ``rejected``; and
  ``pending`` (entries not yet acknowledged), which :class:`~rdi.metrics.monitor.StreamMonitor` sets.
* ``rdi_stream_event_latency_ms{data_source}`` — age of the oldest pending entry (set by the monitor).
* ``rdi_processed_batches_total`` and ``rdi_processor_<what>_total`` / ``rdi_processor_<what>_last`` for
  ``batch_size``, ``read_time_ms``, ``transform_time_ms``, ``write_time_ms``, ``process_time_ms``
  (transform + write), ``ack_time_ms``, ``total_time_ms`` (read + process + ack), and the gauges
  ``rdi_processor_rec_per_sec_total`` (all records / all total time) and ``rdi_processor_rec_per_sec_last``.
* ``rdi_engine_state{state, sync_mode}`` (1 for the current pair), ``rdi_version_info{cli, engine}`` (1), and
  ``monitor_time_elapsed_total`` (seconds since the metrics were created).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from importlib.metadata import PackageNotFoundError, version
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from typing_extensions import override

from rdi.processor import ProcessedBatch

__all__ = ["CUMULATIVE_OPERATIONS", "ProcessorMetrics", "data_source"]

CUMULATIVE_OPERATIONS: Final = ("inserted", "updated", "deleted", "filtered", "rejected")
"""The ``operation`` values of ``rdi_incoming_entries`` that count up; ``pending`` is a current value."""

_STREAM_PREFIX: Final = "data:"
_UPTIME: Final = "monitor_time_elapsed"
_UPTIME_HELP: Final = "Seconds elapsed since monitoring started"
_TIMES: Final = ("read_time_ms", "transform_time_ms", "write_time_ms", "process_time_ms", "ack_time_ms")


def data_source(stream: str) -> str:
    """The ``data_source`` label of a staging stream: its key without the ``data:`` prefix."""
    return stream.removeprefix(_STREAM_PREFIX)


def _rdi_version() -> str:
    try:
        return version("rdi")
    except PackageNotFoundError:
        return "unknown"


class _Uptime(Collector):
    """``monitor_time_elapsed_total``: seconds since the metrics were created, as RDI's exporter reports."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.started = clock()

    def describe(self) -> Iterable[Metric]:
        yield CounterMetricFamily(_UPTIME, _UPTIME_HELP)

    @override
    def collect(self) -> Iterable[Metric]:
        elapsed = max(self.clock() - self.started, 0.0)
        yield CounterMetricFamily(_UPTIME, _UPTIME_HELP, value=elapsed, created=self.started)


class ProcessorMetrics:
    """Every metric of the ingest processor in one registry; shared by all workers of a process.

    Thread-safe: workers call :meth:`observe_batch` concurrently; the derived gauges (rates, last batch)
    are updated under one lock so a scrape sees them from one batch.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Register the metrics in ``registry`` (a new private one by default).

        ``clock`` (seconds) drives ``monitor_time_elapsed``. Raises ``ValueError`` if ``registry`` already
        holds metrics of these names (one ``ProcessorMetrics`` per registry).
        """
        self.registry = registry if registry is not None else CollectorRegistry()
        self._lock = threading.Lock()
        self._records = 0
        self._total_ms = 0.0
        reg = self.registry
        self.incoming = Counter("incoming_records", "Total number of incoming records", registry=reg)
        self.processed = Counter("processed_records", "Records successfully processed", registry=reg)
        self.rejected = Counter("rejected_records", "Records rejected during processing", registry=reg)
        self.filtered = Counter("filtered_records", "Records filtered out during processing", registry=reg)
        self.entries = Gauge(
            "rdi_incoming_entries",
            "Incoming entries by data source and operation (pending is current, the others cumulative)",
            ["data_source", "operation"],
            registry=reg,
        )
        self.latency = Gauge(
            "rdi_stream_event_latency_ms",
            "Age in milliseconds of the oldest pending entry of each data stream",
            ["data_source"],
            registry=reg,
        )
        self.batches = Counter("rdi_processed_batches", "Total number of processed batches", registry=reg)
        self.batch_size_total = Counter(
            "rdi_processor_batch_size", "Total batch size across all processed batches", registry=reg
        )
        self.batch_size_last = Gauge("rdi_processor_batch_size_last", "Last batch size processed", registry=reg)
        self.time_total: dict[str, Counter] = {}
        self.time_last: dict[str, Gauge] = {}
        for name in (*_TIMES, "total_time_ms"):
            what = name.removesuffix("_ms").replace("_", " ")
            self.time_total[name] = Counter(
                f"rdi_processor_{name}", f"Total {what} in milliseconds across all batches", registry=reg
            )
            self.time_last[name] = Gauge(
                f"rdi_processor_{name}_last", f"Last batch {what} in milliseconds", registry=reg
            )
        self.rate_total = Gauge(
            "rdi_processor_rec_per_sec_total", "Records per second across all batches", registry=reg
        )
        self.rate_last = Gauge("rdi_processor_rec_per_sec_last", "Last batch records per second", registry=reg)
        self.engine_state = Gauge(
            "rdi_engine_state", "Current state of the RDI engine", ["state", "sync_mode"], registry=reg
        )
        self.version_info = Gauge("rdi_version_info", "Versions of the RDI components", ["cli", "engine"], registry=reg)
        rdi_version = _rdi_version()
        self.version_info.labels(cli=rdi_version, engine=rdi_version).set(1)
        reg.register(_Uptime(clock))

    def observe_batch(self, batch: ProcessedBatch, *, write_ms: float, ack_ms: float) -> None:
        """Count one batch after it was written and acknowledged.

        Uses ``batch.counts`` as they stand (after any :meth:`ProcessedBatch.reject` for write errors),
        ``batch.read_ms`` and ``batch.transform_ms``. An empty batch (an idle read) changes nothing.
        Not idempotent: call it once per acknowledged batch.
        """
        size = len(batch.ids)
        if size == 0:
            return
        counts = batch.counts
        self.incoming.inc(counts.incoming)
        self.processed.inc(counts.processed)
        self.rejected.inc(counts.rejected)
        self.filtered.inc(counts.filtered)
        source = data_source(batch.stream)
        for operation in CUMULATIVE_OPERATIONS:
            self.entries.labels(data_source=source, operation=operation).inc(getattr(counts, operation))
        process_ms = batch.transform_ms + write_ms
        times = {
            "read_time_ms": batch.read_ms,
            "transform_time_ms": batch.transform_ms,
            "write_time_ms": write_ms,
            "process_time_ms": process_ms,
            "ack_time_ms": ack_ms,
            "total_time_ms": batch.read_ms + process_ms + ack_ms,
        }
        with self._lock:
            self.batches.inc()
            self.batch_size_total.inc(size)
            self.batch_size_last.set(size)
            for name, ms in times.items():
                self.time_total[name].inc(ms)
                self.time_last[name].set(ms)
            self._records += size
            self._total_ms += times["total_time_ms"]
            self.rate_last.set(_per_second(size, times["total_time_ms"]))
            self.rate_total.set(_per_second(self._records, self._total_ms))

    def set_pending(self, stream: str, pending: int, latency_ms: float) -> None:
        """Set the current backlog of ``stream``: ``pending`` entries, the oldest ``latency_ms`` old."""
        source = data_source(stream)
        self.entries.labels(data_source=source, operation="pending").set(pending)
        self.latency.labels(data_source=source).set(latency_ms)

    def forget_pending(self, stream: str) -> None:
        """Drop the backlog series of a stream that no longer exists (the cumulative counts stay)."""
        source = data_source(stream)
        self.entries.remove(source, "pending")
        self.latency.remove(source)

    def set_engine_state(self, state: str, sync_mode: str) -> None:
        """Make ``rdi_engine_state{state, sync_mode}`` 1 for this pair only (e.g. ``RUNNING``, ``STREAMING``)."""
        with self._lock:
            self.engine_state.clear()
            self.engine_state.labels(state=state, sync_mode=sync_mode).set(1)

    def render(self) -> bytes:
        """The registry in the Prometheus text exposition format (``text/plain; version=0.0.4``)."""
        return generate_latest(self.registry)


def _per_second(records: int, ms: float) -> float:
    return records * 1000.0 / ms if ms > 0 else 0.0
