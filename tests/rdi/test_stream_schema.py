"""Publishing and reading a staging stream's column types in a real Redis."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import redis

from rdi import keys
from rdi.errors import FatalError
from rdi.events import ColumnType
from rdi.stream_schema import StreamTypes, publish_types, read_types

pytestmark = pytest.mark.redis

STREAM = "data:pg.public.orders"
DATE = ColumnType(name="io.debezium.time.Date", type="int32")
JSON = ColumnType(name="io.debezium.data.Json", type="string")
INT = ColumnType(type="int32")


@pytest.fixture
def raw_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_published_types_are_stored_as_json_fields_of_the_schema_hash(redis_client: redis.Redis) -> None:
    publish_types(redis_client, STREAM, {"id": INT, "day": DATE})
    assert redis_client.hgetall("rdi:schema:data:pg.public.orders") == {
        "id": '{"type":"int32","name":null,"scale":null}',
        "day": '{"type":"int32","name":"io.debezium.time.Date","scale":null}',
    }


def test_read_types_gives_back_what_was_published(raw_client: redis.Redis) -> None:
    publish_types(raw_client, STREAM, {"id": INT, "day": DATE, "doc": JSON})
    assert read_types(raw_client, STREAM) == {"id": INT, "day": DATE, "doc": JSON}


def test_read_types_with_a_decoding_client(redis_client: redis.Redis) -> None:
    publish_types(redis_client, STREAM, {"day": DATE})
    assert read_types(redis_client, STREAM) == {"day": DATE}


def test_read_types_of_a_stream_without_a_schema_is_none(redis_client: redis.Redis) -> None:
    assert read_types(redis_client, STREAM) is None


def test_publishing_again_replaces_the_whole_map(redis_client: redis.Redis) -> None:
    publish_types(redis_client, STREAM, {"id": INT, "day": DATE, "gone": JSON})
    publish_types(redis_client, STREAM, {"id": INT, "day": JSON, "new": DATE})
    assert read_types(redis_client, STREAM) == {"id": INT, "day": JSON, "new": DATE}


def test_publishing_no_columns_deletes_the_hash(redis_client: redis.Redis) -> None:
    publish_types(redis_client, STREAM, {"id": INT})
    publish_types(redis_client, STREAM, {})
    assert redis_client.exists(keys.stream_schema(STREAM)) == 0


def test_publishing_through_a_pipeline_happens_when_it_executes(redis_client: redis.Redis) -> None:
    pipe = redis_client.pipeline()
    publish_types(pipe, STREAM, {"id": INT})
    publish_types(pipe, "data:pg.public.items", {"day": DATE})
    before = read_types(redis_client, STREAM)
    pipe.execute()
    assert (before, read_types(redis_client, STREAM), read_types(redis_client, "data:pg.public.items")) == (
        None,
        {"id": INT},
        {"day": DATE},
    )


def test_a_wide_table_is_published_whole(redis_client: redis.Redis) -> None:
    wide = {f"c{i}": DATE for i in range(1600)}
    publish_types(redis_client, STREAM, {f"old{i}": INT for i in range(1200)})
    publish_types(redis_client, STREAM, wide)
    assert read_types(redis_client, STREAM) == wide


def test_a_malformed_stored_type_is_a_fatal_error_naming_key_and_field(redis_client: redis.Redis) -> None:
    redis_client.hset(keys.stream_schema(STREAM), "day", "date")
    message = (
        "`rdi:schema:data:pg.public.orders` field `day`: a column type must be JSON, got 'date' instead; "
        "the stream's collector rewrites it when it restarts"
    )
    with pytest.raises(FatalError, match=re.escape(message)):
        read_types(redis_client, STREAM)


def test_stream_types_rereads_a_stream_only_after_the_ttl(redis_client: redis.Redis) -> None:
    clock = Clock()
    cache = StreamTypes(redis_client, ttl_s=5.0, clock=clock)
    publish_types(redis_client, STREAM, {"id": INT})
    first = cache.get(STREAM)
    publish_types(redis_client, STREAM, {"id": INT, "day": DATE})
    clock.now = 4.9
    within_ttl = cache.get(STREAM)
    clock.now = 5.0
    after_ttl = cache.get(STREAM)
    assert (first, within_ttl, after_ttl) == ({"id": INT}, {"id": INT}, {"id": INT, "day": DATE})


def test_stream_types_caches_a_missing_schema_too_until_invalidated(redis_client: redis.Redis) -> None:
    cache = StreamTypes(redis_client, ttl_s=60.0, clock=Clock())
    missing = cache.get(STREAM)
    publish_types(redis_client, STREAM, {"day": DATE})
    still_cached = cache.get(STREAM)
    cache.invalidate(STREAM)
    assert (missing, still_cached, cache.get(STREAM)) == (None, None, {"day": DATE})


def test_stream_types_rejects_a_negative_ttl(redis_client: redis.Redis) -> None:
    with pytest.raises(ValueError, match=re.escape("`ttl_s` must be zero or more, got -1 instead")):
        StreamTypes(redis_client, ttl_s=-1)
