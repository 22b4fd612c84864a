"""`StagingWriter` on the real Redis: entries and checkpoint staged atomically, replays skipped, backpressure."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from rdi import keys
from rdi.collectors.staging import Checkpoint, Entry, StagingWriter
from rdi.errors import FatalError, RetryableError

OFFSETS = keys.DEBEZIUM_OFFSETS
FIELD = keys.offset_field("rdi")
ORDERS = keys.staging_stream("rdi", "public", "orders")
ITEMS = keys.staging_stream("rdi", "public", "items")


class StopWaitingError(Exception):
    """Raised by an injected `sleep` to end a wait the test cannot otherwise end."""


def entry(stream: str, n: int) -> Entry:
    return Entry(stream, b'{"id":%d}' % n, b'{"op":"c","after":{"id":%d}}' % n)


def checkpoint(position: str, field: str = FIELD, key: str = OFFSETS) -> Checkpoint:
    return Checkpoint(key, field, position, b'{"lsn_commit":%d}' % len(position))


def staged(client: redis.Redis) -> dict[str, Any]:
    """Every staging stream as lists of (field, value) pairs in entry order, and every hash, from a decoding client."""
    result: dict[str, Any] = {}
    for name in sorted(client.scan_iter("*")):
        if client.type(name) == "stream":
            entries: list[tuple[str, dict[str, str]]] = client.xrange(name)  # type: ignore[assignment]
            result[name] = [list(fields.items()) for _, fields in entries]
        else:
            result[name] = client.hgetall(name)
    return result


@pytest.fixture
def raw(redis_client: redis.Redis, redis_url: str) -> Iterator[redis.Redis]:
    """A client that does not decode responses, on the database `redis_client` flushed."""
    client: redis.Redis = redis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def memory_config(redis_client: redis.Redis) -> Iterator[redis.Redis]:
    """`redis_client`, with `maxmemory` and `maxmemory-policy` restored after the test."""
    saved: dict[str, str] = redis_client.config_get("maxmemory*")  # type: ignore[assignment]
    try:
        yield redis_client
    finally:
        redis_client.config_set("maxmemory", saved["maxmemory"])
        redis_client.config_set("maxmemory-policy", saved["maxmemory-policy"])


@pytest.mark.redis
def test_write_stages_entries_and_checkpoint_together(raw: redis.Redis, redis_client: redis.Redis) -> None:
    applied = StagingWriter(raw).write([entry(ORDERS, 1), entry(ORDERS, 2)], checkpoint("00000001:0000000001"))
    assert (applied, staged(redis_client)) == (
        True,
        {
            ORDERS: [
                [("key", '{"id":1}'), ("value", '{"op":"c","after":{"id":1}}')],
                [("key", '{"id":2}'), ("value", '{"op":"c","after":{"id":2}}')],
            ],
            OFFSETS: {FIELD: '{"lsn_commit":19}', FIELD + ":pos": "00000001:0000000001"},
        },
    )


@pytest.mark.redis
def test_entries_land_in_their_streams_in_batch_order(raw: redis.Redis, redis_client: redis.Redis) -> None:
    batch = [entry(ORDERS, 1), entry(ITEMS, 10), entry(ORDERS, 2), entry(ITEMS, 11), entry(ITEMS, 12)]
    StagingWriter(raw).write(batch, checkpoint("1"))
    streams = {name: [dict(e)["key"] for e in staged(redis_client)[name]] for name in (ITEMS, ORDERS)}
    assert streams == {ITEMS: ['{"id":10}', '{"id":11}', '{"id":12}'], ORDERS: ['{"id":1}', '{"id":2}']}


@pytest.mark.redis
def test_same_write_again_is_skipped_and_adds_nothing(raw: redis.Redis, redis_client: redis.Redis) -> None:
    writer = StagingWriter(raw)
    writer.write([entry(ORDERS, 1)], checkpoint("0002"))
    before = staged(redis_client)
    applied = writer.write([entry(ORDERS, 1)], checkpoint("0002"))
    assert (applied, staged(redis_client)) == (False, before)


@pytest.mark.redis
def test_older_position_is_skipped(raw: redis.Redis, redis_client: redis.Redis) -> None:
    writer = StagingWriter(raw)
    writer.write([entry(ORDERS, 2)], checkpoint("0002"))
    applied = writer.write([entry(ORDERS, 1)], checkpoint("0001"))
    assert (applied, [dict(e)["key"] for e in staged(redis_client)[ORDERS]]) == (False, ['{"id":2}'])


@pytest.mark.redis
def test_newer_position_after_a_write_is_staged(raw: redis.Redis, redis_client: redis.Redis) -> None:
    writer = StagingWriter(raw)
    writer.write([entry(ORDERS, 1)], checkpoint("0001"))
    applied = writer.write([entry(ORDERS, 2)], checkpoint("0001:1"))
    assert (applied, [dict(e)["key"] for e in staged(redis_client)[ORDERS]]) == (True, ['{"id":1}', '{"id":2}'])


@pytest.mark.redis
def test_positions_compare_bytewise_not_by_locale(raw: redis.Redis) -> None:
    writer = StagingWriter(raw)
    writer.write([], checkpoint("a"))
    assert [writer.write([], checkpoint("B")), writer.write([], checkpoint("b"))] == [False, True]


@pytest.mark.redis
def test_positions_of_different_fields_are_independent(raw: redis.Redis, redis_client: redis.Redis) -> None:
    writer = StagingWriter(raw)
    writer.write([entry(ORDERS, 1)], checkpoint("0009", field="public.orders"))
    applied = writer.write([entry(ITEMS, 1)], checkpoint("0001", field="public.items"))
    assert (applied, redis_client.hgetall(OFFSETS)) == (
        True,
        {
            "public.orders": '{"lsn_commit":4}',
            "public.orders:pos": "0009",
            "public.items": '{"lsn_commit":4}',
            "public.items:pos": "0001",
        },
    )


@pytest.mark.redis
def test_deleting_the_checkpoint_field_lets_any_position_apply(raw: redis.Redis, redis_client: redis.Redis) -> None:
    writer = StagingWriter(raw)
    writer.write([], checkpoint("0009"))
    redis_client.hdel(OFFSETS, FIELD)
    applied = writer.write([], checkpoint("0001"))
    assert (applied, redis_client.hgetall(OFFSETS)) == (True, {FIELD: '{"lsn_commit":4}', FIELD + ":pos": "0001"})


@pytest.mark.redis
def test_empty_batch_stores_the_position_alone(raw: redis.Redis, redis_client: redis.Redis) -> None:
    applied = StagingWriter(raw).write([], checkpoint("0003"))
    assert (applied, staged(redis_client)) == (True, {OFFSETS: {FIELD: '{"lsn_commit":4}', FIELD + ":pos": "0003"}})


@pytest.mark.redis
def test_load_returns_the_stored_position_and_value(raw: redis.Redis) -> None:
    writer = StagingWriter(raw)
    writer.write([], checkpoint("0003"))
    assert [writer.load(OFFSETS, FIELD), writer.load(OFFSETS, "other")] == [
        ("0003", b'{"lsn_commit":4}'),
        (None, None),
    ]


@pytest.mark.redis
def test_load_of_a_value_without_position_gives_no_position(redis_client: redis.Redis) -> None:
    redis_client.hset(OFFSETS, FIELD, '{"lsn":5}')
    assert StagingWriter(redis_client).load(OFFSETS, FIELD) == (None, b'{"lsn":5}')


@pytest.mark.redis
def test_decoding_client_writes_too(redis_client: redis.Redis) -> None:
    writer = StagingWriter(redis_client)
    assert [writer.write([entry(ORDERS, 1)], checkpoint("1")), writer.load(OFFSETS, FIELD)] == [
        True,
        ("1", b'{"lsn_commit":1}'),
    ]


@pytest.mark.redis
def test_script_is_reloaded_after_script_flush(raw: redis.Redis, redis_client: redis.Redis) -> None:
    writer = StagingWriter(raw)
    writer.write([entry(ORDERS, 1)], checkpoint("0001"))
    redis_client.script_flush()
    applied = writer.write([entry(ORDERS, 2)], checkpoint("0002"))
    assert (applied, [dict(e)["key"] for e in staged(redis_client)[ORDERS]]) == (True, ['{"id":1}', '{"id":2}'])


@pytest.mark.redis
def test_stream_key_of_another_type_is_a_fatal_error(
    raw: redis.Redis, redis_client: redis.Redis, redis_url: str
) -> None:
    redis_client.hset(ITEMS, "id", "1")
    url = urlsplit(redis_url)
    message = (
        f"the RDI database at `{url.hostname}:{url.port}{url.path or '/0'}` refused the staging write: "
        "WRONGTYPE `data:rdi.public.items` holds a hash, not a stream"
    )
    with pytest.raises(FatalError, match=f"^{re.escape(message)}$"):
        StagingWriter(raw).write([entry(ORDERS, 1), entry(ITEMS, 2)], checkpoint("1"))


@pytest.mark.redis
def test_failed_write_leaves_nothing_staged(raw: redis.Redis, redis_client: redis.Redis) -> None:
    redis_client.hset(ITEMS, "id", "1")
    with pytest.raises(FatalError):
        StagingWriter(raw).write([entry(ORDERS, 1), entry(ITEMS, 2)], checkpoint("1"))
    assert staged(redis_client) == {ITEMS: {"id": "1"}}


@pytest.mark.redis
def test_write_waits_while_memory_is_above_threshold(raw: redis.Redis, memory_config: redis.Redis) -> None:
    used = int(memory_config.info("memory")["used_memory"])
    memory_config.config_set("maxmemory", used * 2)
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 3:
            memory_config.config_set("maxmemory", used * 100)

    applied = StagingWriter(raw, memory_threshold_pct=10, sleep=sleep).write([entry(ORDERS, 1)], checkpoint("1"))
    assert (applied, sleeps, memory_config.xlen(ORDERS)) == (True, [0.3, 0.6, 1.2], 1)


@pytest.mark.redis
def test_memory_limit_applies_when_maxmemory_is_unset(raw: redis.Redis, memory_config: redis.Redis) -> None:
    memory_config.config_set("maxmemory", 0)
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 4:
            raise StopWaitingError

    writer = StagingWriter(raw, memory_limit_mb=1, memory_threshold_pct=1, retry_max_delay_s=1.0, sleep=sleep)
    with pytest.raises(StopWaitingError):
        writer.write([entry(ORDERS, 1)], checkpoint("1"))
    assert (sleeps, staged(memory_config)) == ([0.3, 0.6, 1.0, 1.0], {})


@pytest.mark.redis
def test_oom_reply_is_retried_after_backoff(raw: redis.Redis, memory_config: redis.Redis) -> None:
    memory_config.config_set("maxmemory", 0)
    memory_config.config_set("maxmemory-policy", "noeviction")
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        memory_config.config_set("maxmemory", 0)

    # A frozen clock keeps the first memory check's answer ("no maximum"), so only the OOM reply can hold back.
    writer = StagingWriter(raw, sleep=sleep, clock=lambda: 0.0)
    writer.write([], checkpoint("1"))
    memory_config.config_set("maxmemory", 1)
    applied = writer.write([entry(ORDERS, 1)], checkpoint("2"))
    assert (applied, sleeps, memory_config.xlen(ORDERS)) == (True, [0.3], 1)


def test_retries_exhausted_raise_retryable_error_naming_the_address_without_password() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client: redis.Redis = redis.Redis.from_url(f"redis://:s3cret@127.0.0.1:{port}/2", retry=Retry(NoBackoff(), 0))
    writer = StagingWriter(client, max_attempts=3, sleep=lambda _: None)
    message = (
        f"the RDI database at `127.0.0.1:{port}/2` did not answer after 3 attempts: "
        f"ConnectionError: Error 111 connecting to 127.0.0.1:{port}. Connection refused."
    )
    with pytest.raises(RetryableError, match=f"^{re.escape(message)}$"):
        writer.write([entry(ORDERS, 1)], checkpoint("1"))


@pytest.mark.redis
def test_set_status_updates_the_status_hash(raw: redis.Redis, redis_client: redis.Redis) -> None:
    writer = StagingWriter(raw, wall_clock=lambda: 1_700_000_000.5)
    writer.set_status("pg", {"phase": "snapshot", "snapshot:public.orders": "500/1000"})
    writer.set_status("pg", {"snapshot:public.orders": "1000/1000"})
    assert redis_client.hgetall(keys.collector_status("pg")) == {
        "updated_at": "1700000000500",
        "phase": "snapshot",
        "snapshot:public.orders": "1000/1000",
    }
