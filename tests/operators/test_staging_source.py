"""`StagingSource` against a real Redis, inside real Bytewax dataflows.

Each flow runs in a thread (`run_main`, or `cluster_main` with two workers); the test waits for what it expects
to come out, then stops the flow: the partitions raise `AbortExecution` once the test sets a stop event.
"""

from __future__ import annotations

import re
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

import bytewax.operators as op
import pytest
import redis
from bytewax.dataflow import Dataflow
from bytewax.errors import BytewaxRuntimeError
from bytewax.inputs import AbortExecution, FixedPartitionedSource, StatefulSourcePartition
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from bytewax.testing import cluster_main, run_main

from operators.staging_source import StagingSource
from rdi import keys
from rdi.processor import StreamBatch

pytestmark = pytest.mark.redis

GROUP = keys.consumer_group("test")
# Their crc32 buckets (of 8) are 0, 6, 4, 2, 1, 7, 5, 3: one stream per bucket.
STREAMS = [f"data:shop.public.t{i}" for i in range(8)]
ORDERS = "data:shop.public.orders"
USERS = "data:shop.public.users"
DEADLINE_S = 10.0


class _StoppablePartition(StatefulSourcePartition[StreamBatch, None]):
    def __init__(self, inner: StatefulSourcePartition[StreamBatch, None], run: _Run) -> None:
        self._inner = inner
        self._run = run

    def next_batch(self) -> list[StreamBatch]:
        if self._run.stop.is_set():
            raise AbortExecution()
        self._run.reads += 1
        return list(self._inner.next_batch())

    def next_awake(self) -> datetime | None:
        return self._inner.next_awake()

    def snapshot(self) -> None:
        return self._inner.snapshot()

    def close(self) -> None:
        self._inner.close()


class _Stoppable(FixedPartitionedSource[StreamBatch, None]):
    """The source under test, with partitions that count `next_batch` calls and abort once `run.stop` is set."""

    def __init__(self, inner: StagingSource, run: _Run) -> None:
        self._inner = inner
        self._run = run

    def list_parts(self) -> list[str]:
        return self._inner.list_parts()

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _StoppablePartition:
        return _StoppablePartition(self._inner.build_part(step_id, for_part, resume_state), self._run)


class _WorkerListPartition(StatelessSinkPartition[StreamBatch]):
    def __init__(self, out: list[tuple[int, StreamBatch]], worker: int) -> None:
        self._out = out
        self._worker = worker

    def write_batch(self, items: list[StreamBatch]) -> None:
        self._out.extend((self._worker, item) for item in items)


class _WorkerListSink(DynamicSink[StreamBatch]):
    """Appends `(worker index, batch)` to a list."""

    def __init__(self, out: list[tuple[int, StreamBatch]]) -> None:
        self._out = out

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _WorkerListPartition:
        return _WorkerListPartition(self._out, worker_index)


@dataclass
class _Run:
    out: list[tuple[int, StreamBatch]] = field(default_factory=list)
    thread: threading.Thread = field(default_factory=threading.Thread)
    errors: list[BaseException] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    reads: int = 0
    """`next_batch` calls so far, over all partitions."""

    def wait_for(self, done: Callable[[], bool]) -> None:
        deadline = time.monotonic() + DEADLINE_S
        while not done():
            if not self.thread.is_alive():
                raise AssertionError(f"the flow ended early: {self.errors!r}")
            if time.monotonic() > deadline:
                raise AssertionError(f"not done within {DEADLINE_S} s; out so far: {self.out!r}")
            time.sleep(0.01)

    def wait_for_entries(self, count: int) -> None:
        self.wait_for(lambda: sum(len(batch.ids) for _, batch in self.out) >= count)

    def by_stream(self) -> dict[str, list[tuple[bytes, dict[bytes, bytes]]]]:
        entries: dict[str, list[tuple[bytes, dict[bytes, bytes]]]] = {}
        for _, batch in self.out:
            entries.setdefault(batch.stream, []).extend(zip(batch.ids, map(dict, batch.entries), strict=True))
        return entries


@contextmanager
def running(source: StagingSource, workers: int = 1) -> Iterator[_Run]:
    flow = Dataflow("staging_source_test")
    run = _Run()
    op.output("out", op.input("staging", flow, _Stoppable(source, run)), _WorkerListSink(run.out))

    def main() -> None:
        try:
            if workers == 1:
                run_main(flow)  # type: ignore[no-untyped-call]
            else:
                cluster_main(flow, [], 0, worker_count_per_proc=workers)  # type: ignore[no-untyped-call]
        except BaseException as exc:
            run.errors.append(exc)

    run.thread = threading.Thread(target=main, name="flow")
    run.thread.start()
    try:
        yield run
    finally:
        run.stop.set()
        run.thread.join(DEADLINE_S)
    assert (run.thread.is_alive(), run.errors) == (False, [])


def add(client: redis.Redis, stream: str, *ids: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """XADDs one entry per id (fields `key`, `value` naming the stream and id); returns them as read back."""
    added = []
    for entry_id in ids:
        fields = {b"key": f"{stream}/{entry_id}".encode(), b"value": f'{{"id":"{entry_id}"}}'.encode()}
        client.xadd(stream, fields, id=entry_id)  # type: ignore[arg-type]
        added.append((entry_id.encode(), fields))
    return added


def test_entries_of_every_stream_come_out_complete_and_in_order(redis_client: redis.Redis, redis_url: str) -> None:
    expected = {stream: add(redis_client, stream, "1-0", "2-0", "2-1", "3-0", "4-0") for stream in STREAMS[:3]}
    with running(StagingSource(redis_url, GROUP, read_batch_size=2)) as run:
        run.wait_for_entries(15)
    assert run.by_stream() == expected


def test_a_batch_holds_at_most_read_batch_size_entries_of_one_stream(redis_client: redis.Redis, redis_url: str) -> None:
    add(redis_client, ORDERS, "1-0", "2-0", "3-0", "4-0", "5-0")
    with running(StagingSource(redis_url, GROUP, read_batch_size=2)) as run:
        run.wait_for_entries(5)
    assert [(batch.stream, batch.ids) for _, batch in run.out] == [
        (ORDERS, [b"1-0", b"2-0"]),
        (ORDERS, [b"3-0", b"4-0"]),
        (ORDERS, [b"5-0"]),
    ]


def test_pending_entries_of_a_crashed_consumer_come_first_then_new_ones(
    redis_client: redis.Redis, redis_url: str
) -> None:
    add(redis_client, ORDERS, "1-0", "2-0", "3-0")
    redis_client.xgroup_create(ORDERS, GROUP, id="0")
    # The crashed run was given 1-0..3-0 and its output acknowledged only 2-0.
    redis_client.xreadgroup(GROUP, keys.processor_consumer(ORDERS), {ORDERS: ">"})
    redis_client.xack(ORDERS, GROUP, "2-0")
    add(redis_client, ORDERS, "4-0", "5-0")
    with running(StagingSource(redis_url, GROUP)) as run:
        run.wait_for_entries(4)
    assert [batch.ids for _, batch in run.out] == [[b"1-0", b"3-0"], [b"4-0", b"5-0"]]


def test_the_source_acknowledges_nothing(redis_client: redis.Redis, redis_url: str) -> None:
    add(redis_client, ORDERS, "1-0", "2-0", "3-0")
    with running(StagingSource(redis_url, GROUP)) as run:
        run.wait_for_entries(3)
    pending = redis_client.xpending(ORDERS, GROUP)
    assert (pending["pending"], pending["consumers"]) == (3, [{"name": keys.processor_consumer(ORDERS), "pending": 3}])


def test_a_stream_created_while_the_flow_runs_is_read(redis_client: redis.Redis, redis_url: str) -> None:
    orders = add(redis_client, ORDERS, "1-0")
    with running(StagingSource(redis_url, GROUP, discovery_interval_s=0.1)) as run:
        run.wait_for_entries(1)
        users = add(redis_client, USERS, "7-0", "8-0")
        run.wait_for_entries(3)
    assert run.by_stream() == {ORDERS: orders, USERS: users}


def test_two_workers_read_each_stream_on_one_worker_in_order(redis_client: redis.Redis, redis_url: str) -> None:
    ids = [f"{n}-0" for n in range(1, 21)]
    expected = {stream: add(redis_client, stream, *ids) for stream in STREAMS}
    with running(StagingSource(redis_url, GROUP, read_batch_size=3), workers=2) as run:
        run.wait_for_entries(8 * 20)
    workers: dict[str, set[int]] = {}
    for worker, batch in run.out:
        workers.setdefault(batch.stream, set()).add(worker)
    assert (
        {stream: len(readers) for stream, readers in workers.items()},
        set().union(*workers.values()),
        run.by_stream(),
    ) == ({stream: 1 for stream in STREAMS}, {0, 1}, expected)


def _calls(client: redis.Redis) -> dict[str, int]:
    stats = client.info("commandstats")
    return {command: stats.get(f"cmdstat_{command}", {}).get("calls", 0) for command in ("xreadgroup", "scan")}


def test_idle_partitions_do_not_busy_loop(redis_client: redis.Redis, redis_url: str) -> None:
    add(redis_client, ORDERS, "1-0")
    source = StagingSource(redis_url, GROUP, read_batch_timeout_ms=100, discovery_interval_s=1.0, partitions=8)
    with running(source) as run:
        run.wait_for_entries(1)
        before = _calls(redis_client)
        time.sleep(1.0)  # the window the calls are counted over, not a synchronisation
        after = _calls(redis_client)
    # One owned stream polled every 100 ms is ~10 reads and ~2 shared scans per second; a busy loop is ~1000.
    calls = {command: after[command] - before[command] for command in after}
    assert {command: count <= 50 for command, count in calls.items()} == {"xreadgroup": True, "scan": True}, calls


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_redis(port: int) -> subprocess.Popen[bytes]:
    """A throw-away redis-server (no persistence) on `port` that the test kills with `kill_redis`."""
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    deadline = time.monotonic() + DEADLINE_S
    try:
        while True:
            try:
                client.ping()
                return server
            except redis.ConnectionError:
                if time.monotonic() > deadline or server.poll() is not None:
                    kill_redis(server)
                    raise
                time.sleep(0.01)
    finally:
        client.close()


def kill_redis(server: subprocess.Popen[bytes]) -> None:
    server.kill()
    server.wait()


def test_reading_goes_on_after_the_rdi_db_restarts() -> None:
    port = _free_port()
    client = redis.Redis(port=port)
    server = start_redis(port)
    try:
        before = add(client, ORDERS, "1-0", "2-0")
        source = StagingSource(f"redis://127.0.0.1:{port}/0", GROUP, discovery_interval_s=0.1, partitions=1)
        with running(source) as run:
            run.wait_for_entries(2)
            kill_redis(server)
            reads = run.reads
            run.wait_for(lambda: run.reads >= reads + 2)  # at least one whole read against the dead server
            server = start_redis(port)  # without persistence: the stream and its group are gone
            after = add(client, ORDERS, "3-0", "4-0")
            run.wait_for_entries(4)
    finally:
        client.close()
        kill_redis(server)
    assert run.by_stream() == {ORDERS: before + after}


def test_a_refused_login_stops_the_flow_with_one_line(redis_url: str) -> None:
    source = StagingSource(redis_url.replace("//", "//nobody:wrong@"), GROUP)
    flow = Dataflow("staging_source_test")
    op.output("out", op.input("staging", flow, source), _WorkerListSink([]))
    with pytest.raises(BytewaxRuntimeError) as raised:
        run_main(flow)  # type: ignore[no-untyped-call]
    assert str(raised.value.__cause__) == (
        "the RDI DB refused the staging source (AuthenticationError: invalid username-password pair or user is "
        "disabled.); check the user and password in `--rdi-url` and that its ACL allows SCAN, XGROUP and "
        "XREADGROUP on the staging streams"
    )


def test_a_non_positive_partition_count_is_refused() -> None:
    with pytest.raises(ValueError, match=re.escape("`partitions` must be positive, got 0 instead")):
        StagingSource("redis://127.0.0.1:1/0", GROUP, partitions=0)
