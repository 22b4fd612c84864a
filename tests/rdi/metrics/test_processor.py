"""ProcessorMetrics (rdi/metrics/processor.py): RDI's classic processor metrics from processed batches."""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from rdi.config import Pipeline, load_config_text, load_job_text
from rdi.metrics import ProcessorMetrics
from rdi.processor import ProcessedBatch, Processor, StreamBatch

CONFIG = """
sources:
  pg: {type: cdc, connection: {type: postgresql, host: localhost, port: 5432, database: shop, user: u, password: p}}
targets:
  target: {connection: {type: redis, host: localhost, port: 6379}}
"""

FILTER_CHEAP = """
name: products
source: {table: products}
transform:
  - uses: filter
    with: {language: sql, expression: price > 10}
output:
  - uses: redis.write
    with: {data_type: hash, key: {expression: "concat(['product:', id])", language: jmespath}}
"""

STREAM = "data:{rdi}:pg.public.orders"
PROCESSOR = Processor(Pipeline(load_config_text(CONFIG), {"products": load_job_text(FILTER_CHEAP)}))


def entry(table: str, op: str, row: dict[str, Any]) -> dict[bytes, bytes]:
    image = {"before": row if op == "d" else None, "after": None if op == "d" else row}
    value = {
        **image, "op": op, "ts_ms": 1_700_000_000_000,
        "source": {"connector": "postgresql", "name": "pg", "db": "shop", "schema": "public", "table": table},
    }  # fmt: skip
    return {b"key": orjson.dumps({"id": row["id"]}), b"value": orjson.dumps(value)}


MIXED = [
    entry("orders", "c", {"id": 1}),
    entry("orders", "r", {"id": 2}),
    entry("orders", "u", {"id": 1}),
    entry("orders", "d", {"id": 2}),
    entry("products", "c", {"id": 9, "price": 5}),
    {b"key": b"{}"},
]


def processed(entries: list[dict[bytes, bytes]], *, stream: str = STREAM) -> ProcessedBatch:
    """A processed batch with fixed read and transform times (the processor measures real ones)."""
    batch = StreamBatch(stream, [f"1-{i}".encode() for i in range(len(entries))], list(entries), read_at=0.0)
    return dataclasses.replace(PROCESSOR.process(batch), read_ms=1.0, transform_ms=2.0)


def samples(metrics: ProcessorMetrics, *prefixes: str) -> list[str]:
    """Sample lines of the exposition (no comments, no `_created`), optionally only those with a prefix."""
    lines = metrics.render().decode().splitlines()
    return [
        line for line in lines
        if not line.startswith("#") and "_created" not in line.split(" ")[0] and line.startswith(prefixes or "")
    ]  # fmt: skip


def frozen_clock(*values: float) -> Iterator[float]:
    yield from values


def test_one_batch_is_counted_per_record_per_stream_and_per_batch() -> None:
    metrics = ProcessorMetrics(clock=lambda: 100.0)
    metrics.observe_batch(processed(MIXED), write_ms=3.0, ack_ms=4.0)
    version = samples(metrics, "rdi_version_info")
    assert samples(metrics) == [
        "incoming_records_total 6.0",
        "processed_records_total 4.0",
        "rejected_records_total 1.0",
        "filtered_records_total 1.0",
        'rdi_incoming_entries{data_source="{rdi}:pg.public.orders",operation="inserted"} 2.0',
        'rdi_incoming_entries{data_source="{rdi}:pg.public.orders",operation="updated"} 1.0',
        'rdi_incoming_entries{data_source="{rdi}:pg.public.orders",operation="deleted"} 1.0',
        'rdi_incoming_entries{data_source="{rdi}:pg.public.orders",operation="filtered"} 1.0',
        'rdi_incoming_entries{data_source="{rdi}:pg.public.orders",operation="rejected"} 1.0',
        "rdi_processed_batches_total 1.0",
        "rdi_processor_batch_size_total 6.0",
        "rdi_processor_batch_size_last 6.0",
        "rdi_processor_read_time_ms_total 1.0",
        "rdi_processor_read_time_ms_last 1.0",
        "rdi_processor_transform_time_ms_total 2.0",
        "rdi_processor_transform_time_ms_last 2.0",
        "rdi_processor_write_time_ms_total 3.0",
        "rdi_processor_write_time_ms_last 3.0",
        "rdi_processor_process_time_ms_total 5.0",
        "rdi_processor_process_time_ms_last 5.0",
        "rdi_processor_ack_time_ms_total 4.0",
        "rdi_processor_ack_time_ms_last 4.0",
        "rdi_processor_total_time_ms_total 10.0",
        "rdi_processor_total_time_ms_last 10.0",
        "rdi_processor_rec_per_sec_total 600.0",
        "rdi_processor_rec_per_sec_last 600.0",
        *version,
        "monitor_time_elapsed_total 0.0",
    ]


def test_streams_are_labelled_without_the_data_prefix_and_accumulate_apart() -> None:
    metrics = ProcessorMetrics()
    metrics.observe_batch(processed(MIXED[:2]), write_ms=1.0, ack_ms=1.0)
    metrics.observe_batch(processed(MIXED[2:3], stream="data:pg.public.users"), write_ms=1.0, ack_ms=1.0)
    metrics.observe_batch(processed(MIXED[:1]), write_ms=1.0, ack_ms=1.0)
    assert samples(metrics, "rdi_incoming_entries", "incoming_records") == [
        "incoming_records_total 4.0",
        'rdi_incoming_entries{data_source="{rdi}:pg.public.orders",operation="inserted"} 3.0',
        'rdi_incoming_entries{data_source="{rdi}:pg.public.orders",operation="updated"} 0.0',
        'rdi_incoming_entries{data_source="{rdi}:pg.public.orders",operation="deleted"} 0.0',
        'rdi_incoming_entries{data_source="{rdi}:pg.public.orders",operation="filtered"} 0.0',
        'rdi_incoming_entries{data_source="{rdi}:pg.public.orders",operation="rejected"} 0.0',
        'rdi_incoming_entries{data_source="pg.public.users",operation="inserted"} 0.0',
        'rdi_incoming_entries{data_source="pg.public.users",operation="updated"} 1.0',
        'rdi_incoming_entries{data_source="pg.public.users",operation="deleted"} 0.0',
        'rdi_incoming_entries{data_source="pg.public.users",operation="filtered"} 0.0',
        'rdi_incoming_entries{data_source="pg.public.users",operation="rejected"} 0.0',
    ]


def test_batch_totals_accumulate_while_last_gauges_show_the_latest_batch() -> None:
    metrics = ProcessorMetrics()
    metrics.observe_batch(processed(MIXED), write_ms=3.0, ack_ms=4.0)  # 6 records in 10 ms
    metrics.observe_batch(processed(MIXED[:2]), write_ms=13.0, ack_ms=4.0)  # 2 records in 20 ms
    assert samples(metrics, "rdi_processed_batches", "rdi_processor_batch_size", "rdi_processor_total_time",
                   "rdi_processor_rec_per_sec") == [
        "rdi_processed_batches_total 2.0",
        "rdi_processor_batch_size_total 8.0",
        "rdi_processor_batch_size_last 2.0",
        "rdi_processor_total_time_ms_total 30.0",
        "rdi_processor_total_time_ms_last 20.0",
        "rdi_processor_rec_per_sec_total 266.6666666666667",
        "rdi_processor_rec_per_sec_last 100.0",
    ]  # fmt: skip


def test_entry_rejected_by_a_write_error_counts_as_rejected_not_inserted() -> None:
    batch = processed(MIXED[:2])
    batch.reject(0, "WRONGTYPE Operation against a key holding the wrong kind of value")
    metrics = ProcessorMetrics()
    metrics.observe_batch(batch, write_ms=1.0, ack_ms=1.0)
    assert samples(metrics, "processed_records", "rejected_records", "rdi_incoming_entries") == [
        "processed_records_total 1.0",
        "rejected_records_total 1.0",
        'rdi_incoming_entries{data_source="{rdi}:pg.public.orders",operation="inserted"} 1.0',
        'rdi_incoming_entries{data_source="{rdi}:pg.public.orders",operation="updated"} 0.0',
        'rdi_incoming_entries{data_source="{rdi}:pg.public.orders",operation="deleted"} 0.0',
        'rdi_incoming_entries{data_source="{rdi}:pg.public.orders",operation="filtered"} 0.0',
        'rdi_incoming_entries{data_source="{rdi}:pg.public.orders",operation="rejected"} 1.0',
    ]


def test_empty_batch_changes_nothing() -> None:
    metrics = ProcessorMetrics()
    metrics.observe_batch(processed([]), write_ms=1.0, ack_ms=1.0)
    assert samples(metrics, "incoming_records", "rdi_processed_batches", "rdi_incoming_entries") == [
        "incoming_records_total 0.0",
        "rdi_processed_batches_total 0.0",
    ]


def test_batches_observed_from_many_threads_are_all_counted() -> None:
    metrics = ProcessorMetrics()
    batch = processed(MIXED)

    def worker() -> None:
        for _ in range(200):
            metrics.observe_batch(batch, write_ms=3.0, ack_ms=4.0)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert samples(metrics, "incoming_records", "rdi_processed_batches", "rdi_processor_rec_per_sec_total") == [
        "incoming_records_total 4800.0",
        "rdi_processed_batches_total 800.0",
        "rdi_processor_rec_per_sec_total 600.0",
    ]


def test_engine_state_shows_only_the_current_state() -> None:
    metrics = ProcessorMetrics()
    metrics.set_engine_state("STARTED", "SNAPSHOT")
    metrics.set_engine_state("RUNNING", "STREAMING")
    assert samples(metrics, "rdi_engine_state") == ['rdi_engine_state{state="RUNNING",sync_mode="STREAMING"} 1.0']


def test_version_info_carries_the_installed_rdi_version() -> None:
    from importlib.metadata import version

    rdi_version = version("rdi")
    assert samples(ProcessorMetrics(), "rdi_version_info") == [
        f'rdi_version_info{{cli="{rdi_version}",engine="{rdi_version}"}} 1.0'
    ]


def test_monitor_time_elapsed_counts_seconds_since_creation() -> None:
    clock = frozen_clock(1000.0, 1042.5)
    metrics = ProcessorMetrics(clock=lambda: next(clock))
    assert [line for line in metrics.render().decode().splitlines() if line.startswith("monitor")] == [
        "monitor_time_elapsed_total 42.5",
        "monitor_time_elapsed_created 1000.0",
    ]


def test_a_registry_holds_one_processor_metrics() -> None:
    registry = CollectorRegistry()
    ProcessorMetrics(registry)
    with pytest.raises(ValueError, match=re.escape("Duplicated timeseries in CollectorRegistry: {'incoming_records")):
        ProcessorMetrics(registry)


def test_metrics_go_into_the_registry_given() -> None:
    registry = CollectorRegistry()
    ProcessorMetrics(registry).observe_batch(processed(MIXED[:1]), write_ms=1.0, ack_ms=1.0)
    assert "incoming_records_total 1.0" in generate_latest(registry).decode().splitlines()
