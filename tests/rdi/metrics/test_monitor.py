"""StreamMonitor (rdi/metrics/monitor.py): pending entries and latency of staging streams, from a real Redis."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import redis

from rdi.metrics import ProcessorMetrics, StreamMonitor

pytestmark = pytest.mark.redis

GROUP = "rdi:processor:default"
NOW_MS = 10_000


@pytest.fixture
def rdi(redis_client: redis.Redis, redis_url: str) -> Iterator[redis.Redis]:
    """A bytes client of the flushed test database (the RDI DB is read with decode_responses=False)."""
    client = redis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        client.close()


def stream(rdi: redis.Redis, key: str, *ms: int) -> None:
    for stamp in ms:
        rdi.xadd(key, {"key": b"{}", "value": b"{}"}, id=f"{stamp}-0")


def read(rdi: redis.Redis, key: str, count: int, *, ack: tuple[str, ...] = ()) -> None:
    """Deliver `count` entries to the processor's group, then acknowledge the entries `ack`."""
    rdi.xreadgroup(GROUP, "c", {key: ">"}, count=count)
    if ack:
        rdi.xack(key, GROUP, *ack)


def backlog(metrics: ProcessorMetrics) -> list[str]:
    lines = metrics.render().decode().splitlines()
    wanted = ("rdi_incoming_entries{", "rdi_stream_event_latency_ms{")
    return [line for line in lines if line.startswith(wanted)]


def poll(rdi: redis.Redis) -> ProcessorMetrics:
    metrics = ProcessorMetrics()
    StreamMonitor(rdi, GROUP, metrics, now_ms=lambda: NOW_MS).poll_once()
    return metrics


def test_pending_counts_unacknowledged_and_undelivered_entries_aged_by_the_oldest(rdi: redis.Redis) -> None:
    stream(rdi, "data:pg.public.orders", 1000, 2000, 3000, 4000)
    rdi.xgroup_create("data:pg.public.orders", GROUP, id="0")
    read(rdi, "data:pg.public.orders", 2, ack=("1000-0",))
    assert backlog(poll(rdi)) == [
        'rdi_incoming_entries{data_source="pg.public.orders",operation="pending"} 3.0',
        'rdi_stream_event_latency_ms{data_source="pg.public.orders"} 8000.0',
    ]


def test_fully_acknowledged_stream_has_nothing_pending_and_no_latency(rdi: redis.Redis) -> None:
    stream(rdi, "data:pg.public.orders", 1000, 2000)
    rdi.xgroup_create("data:pg.public.orders", GROUP, id="0")
    read(rdi, "data:pg.public.orders", 2, ack=("1000-0", "2000-0"))
    assert backlog(poll(rdi)) == [
        'rdi_incoming_entries{data_source="pg.public.orders",operation="pending"} 0.0',
        'rdi_stream_event_latency_ms{data_source="pg.public.orders"} 0.0',
    ]


def test_undelivered_entries_are_aged_by_the_first_after_the_last_delivered(rdi: redis.Redis) -> None:
    stream(rdi, "data:pg.public.orders", 1000, 2000, 3000)
    rdi.xgroup_create("data:pg.public.orders", GROUP, id="0")
    read(rdi, "data:pg.public.orders", 1, ack=("1000-0",))
    assert backlog(poll(rdi)) == [
        'rdi_incoming_entries{data_source="pg.public.orders",operation="pending"} 2.0',
        'rdi_stream_event_latency_ms{data_source="pg.public.orders"} 8000.0',
    ]


def test_stream_the_group_does_not_read_yet_is_all_pending(rdi: redis.Redis) -> None:
    stream(rdi, "data:{rdi}:pg.public.users", 4000, 5000)
    assert backlog(poll(rdi)) == [
        'rdi_incoming_entries{data_source="{rdi}:pg.public.users",operation="pending"} 2.0',
        'rdi_stream_event_latency_ms{data_source="{rdi}:pg.public.users"} 6000.0',
    ]


def test_undelivered_entries_are_counted_when_deletions_hide_the_lag(rdi: redis.Redis) -> None:
    stream(rdi, "data:pg.public.orders", 1000, 2000, 3000, 4000)
    rdi.xgroup_create("data:pg.public.orders", GROUP, id="0")
    read(rdi, "data:pg.public.orders", 1)
    rdi.xdel("data:pg.public.orders", "3000-0")
    assert backlog(poll(rdi)) == [
        'rdi_incoming_entries{data_source="pg.public.orders",operation="pending"} 3.0',
        'rdi_stream_event_latency_ms{data_source="pg.public.orders"} 9000.0',
    ]


def test_only_streams_matching_the_pattern_are_reported(rdi: redis.Redis) -> None:
    stream(rdi, "data:pg.public.orders", 1000)
    stream(rdi, "dlq:data:pg.public.orders", 1000)
    rdi.set("data:not-a-stream", b"x")
    assert backlog(poll(rdi)) == [
        'rdi_incoming_entries{data_source="pg.public.orders",operation="pending"} 1.0',
        'rdi_stream_event_latency_ms{data_source="pg.public.orders"} 9000.0',
    ]


def test_a_deleted_stream_is_no_longer_reported(rdi: redis.Redis) -> None:
    stream(rdi, "data:pg.public.orders", 1000)
    stream(rdi, "data:pg.public.users", 2000)
    metrics = ProcessorMetrics()
    monitor = StreamMonitor(rdi, GROUP, metrics, now_ms=lambda: NOW_MS)
    monitor.poll_once()
    rdi.delete("data:pg.public.orders")
    monitor.poll_once()
    assert backlog(metrics) == [
        'rdi_incoming_entries{data_source="pg.public.users",operation="pending"} 1.0',
        'rdi_stream_event_latency_ms{data_source="pg.public.users"} 8000.0',
    ]


def test_started_monitor_polls_in_the_background_until_stopped(rdi: redis.Redis) -> None:
    stream(rdi, "data:pg.public.orders", 1000)
    metrics = ProcessorMetrics()
    monitor = StreamMonitor(rdi, GROUP, metrics, interval_s=0.05, now_ms=lambda: NOW_MS)
    monitor.start()
    try:
        deadline = time.monotonic() + 10
        while not backlog(metrics) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        monitor.stop()
    running = [thread.name for thread in threading.enumerate() if thread.name == "rdi-stream-monitor"]
    assert (backlog(metrics), running) == (
        [
            'rdi_incoming_entries{data_source="pg.public.orders",operation="pending"} 1.0',
            'rdi_stream_event_latency_ms{data_source="pg.public.orders"} 9000.0',
        ],
        [],
    )
