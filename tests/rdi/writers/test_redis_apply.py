"""Planned `redis.write` commands run on the real Redis + RedisJSON; each test checks the resulting state."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import pytest
import redis

from rdi.config.job import RedisWriteSettings
from rdi.events.event import Record
from rdi.writers.redis import Command, WriteDefaults, plan_write

pytestmark = pytest.mark.redis

NATIVE = WriteDefaults()
LUA = WriteDefaults(use_native_json_merge=False)


def record(op: str, data: dict[str, Any]) -> Record:
    return Record(
        data=data,
        key={"id": data.get("id", 7)},
        row_format="partial",
        op=op,  # type: ignore[arg-type]
        server_name="rdi",
        db="shop",
        schema="public",
        table="orders",
    )


def apply(client: redis.Redis, commands: Sequence[Command]) -> None:
    pipe = client.pipeline(transaction=False)
    for command in commands:
        pipe.execute_command(*command)  # type: ignore[no-untyped-call]
    pipe.execute()


def write(
    client: redis.Redis,
    changes: Sequence[tuple[Any, ...]],
    defaults: WriteDefaults = NATIVE,
    **with_: Any,
) -> None:
    """Plan and apply each change in order: `(op, data)` or `(op, data, previous data)`."""
    settings = RedisWriteSettings.model_validate(with_)
    for change in changes:
        previous = record(change[0], change[2]) if len(change) == 3 else None
        apply(client, plan_write(record(change[0], change[1]), settings, defaults=defaults, previous=previous))


def json_get(client: redis.Redis, key: str) -> Any:
    text = client.execute_command("JSON.GET", key)  # type: ignore[no-untyped-call]
    return None if text is None else orjson.loads(text)


def jmes(text: str) -> dict[str, str]:
    return {"expression": text, "language": "jmespath"}


# ---- hash -----------------------------------------------------------------------------------------


def test_hash_update_to_null_removes_the_field_and_keeps_the_others(redis_client: redis.Redis) -> None:
    changes = [
        ("c", {"id": 7, "name": "ann", "note": "x", "ok": True}),
        ("u", {"id": 7, "note": None, "qty": 1.5}),
    ]
    write(redis_client, changes)
    assert redis_client.hgetall("orders:id:7") == {"id": "7", "name": "ann", "ok": "1", "qty": "1.5"}


def test_hash_delete_removes_the_hash(redis_client: redis.Redis) -> None:
    write(redis_client, [("c", {"id": 7, "name": "ann"}), ("d", {"id": 7})])
    assert redis_client.exists("orders:id:7") == 0


def test_hash_expire_sets_the_ttl(redis_client: redis.Redis) -> None:
    write(redis_client, [("c", {"id": 7})], expire=100)
    assert 0 < redis_client.ttl("orders:id:7") <= 100


def test_hash_update_that_changes_the_key_moves_the_hash(redis_client: redis.Redis) -> None:
    changes = [("c", {"code": "a", "n": 1}), ("u", {"code": "b", "n": 2}, {"code": "a", "n": 1})]
    write(redis_client, changes, key=jmes("concat(['order:', code])"))
    assert (redis_client.exists("order:a"), redis_client.hgetall("order:b")) == (0, {"code": "b", "n": "2"})


# ---- json -----------------------------------------------------------------------------------------


def test_json_replace_stores_native_values(redis_client: redis.Redis) -> None:
    doc = {"id": 7, "ok": True, "price": 2.5, "note": None, "tags": {"a": [1]}}
    write(redis_client, [("c", {"id": 7, "old": 1}), ("u", doc)], data_type="json")
    assert json_get(redis_client, "orders:id:7") == doc


def test_json_native_merge_creates_a_missing_document_keeping_nulls(redis_client: redis.Redis) -> None:
    write(redis_client, [("c", {"id": 7, "note": None})], data_type="json", on_update="merge")
    assert json_get(redis_client, "orders:id:7") == {"id": 7, "note": None}


def test_json_native_merge_removes_fields_set_to_null(redis_client: redis.Redis) -> None:
    changes = [
        ("c", {"id": 7, "a": 1, "b": {"x": 1, "y": 2}}),
        ("u", {"id": 7, "a": None, "b": {"x": None, "z": 3}}),
    ]
    write(redis_client, changes, data_type="json", on_update="merge")
    assert json_get(redis_client, "orders:id:7") == {"id": 7, "b": {"y": 2, "z": 3}}


def test_json_lua_merge_creates_a_missing_document(redis_client: redis.Redis) -> None:
    write(redis_client, [("c", {"id": 7, "note": None})], LUA, data_type="json", on_update="merge")
    assert json_get(redis_client, "orders:id:7") == {"id": 7, "note": None}


def test_json_lua_merge_merges_objects_and_keeps_nulls(redis_client: redis.Redis) -> None:
    first = {"id": 7, "a": 1, "b": {"x": 1, "y": [1, 2]}, "s": 5, "it's": 0}
    second = {
        "id": 7,
        "a": None,
        "b": {"x": None, "y": [3], "z": {"q": 1.5}},
        "s": {"t": True},
        'say "hi"': "yo",
    }
    write(redis_client, [("c", first), ("u", second)], LUA, data_type="json", on_update="merge")
    assert json_get(redis_client, "orders:id:7") == {
        "id": 7,
        "a": None,
        "b": {"x": None, "y": [3], "z": {"q": 1.5}},
        "s": {"t": True},
        "it's": 0,
        'say "hi"': "yo",
    }


def test_json_lua_merge_keeps_every_digit_of_a_number(redis_client: redis.Redis) -> None:
    changes = [("c", {"id": 7}), ("u", {"id": 7, "ts": 1529507596945.104, "big": 9007199254740993})]
    write(redis_client, changes, LUA, data_type="json", on_update="merge")
    assert json_get(redis_client, "orders:id:7") == {
        "id": 7,
        "ts": 1529507596945.104,
        "big": 9007199254740993,
    }


def test_json_mapping_writes_nested_objects(redis_client: redis.Redis) -> None:
    mapping = ["id", {"zip": "address.zip"}, {"a.b": "x\\.y"}]
    write(redis_client, [("c", {"id": 7, "zip": "0150", "a.b": 1})], data_type="json", mapping=mapping)
    assert json_get(redis_client, "orders:id:7") == {"id": 7, "address": {"zip": "0150"}, "x.y": 1}


def test_json_delete_removes_the_document(redis_client: redis.Redis) -> None:
    write(redis_client, [("c", {"id": 7}), ("d", {"id": 7})], data_type="json")
    assert redis_client.exists("orders:id:7") == 0


# ---- set, sorted set --------------------------------------------------------------------------------


def test_set_tracks_members_through_insert_update_and_delete(redis_client: redis.Redis) -> None:
    changes = [("c", {"id": 1}), ("c", {"id": 2}), ("u", {"id": 3}, {"id": 2}), ("d", {"id": 1})]
    write(redis_client, changes, data_type="set", key=jmes("'orders:ids'"), args={"member": "id"})
    assert redis_client.smembers("orders:ids") == {"3"}


def test_sorted_set_tracks_scores_through_insert_update_and_delete(redis_client: redis.Redis) -> None:
    changes = [
        ("c", {"id": 1, "total": 10}),
        ("c", {"id": 2, "total": "12.50"}),
        ("u", {"id": 1, "total": 30.5}),
        ("c", {"id": 3, "total": 1}),
        ("d", {"id": 2}),
    ]
    args = {"member": "id", "score": "total"}
    write(redis_client, changes, data_type="sorted_set", key=jmes("'orders:by_total'"), args=args)
    assert redis_client.zrange("orders:by_total", 0, -1, withscores=True) == [("3", 1.0), ("1", 30.5)]


# ---- stream, string ---------------------------------------------------------------------------------


def test_stream_appends_a_message_per_change_with_its_opcode(redis_client: redis.Redis) -> None:
    changes = [
        ("c", {"id": 7, "name": "ann"}),
        ("u", {"id": 7, "name": None}),
        ("d", {"id": 7, "name": "ann"}),
    ]
    write(redis_client, changes, data_type="stream", key=jmes("'orders:changes'"), expire=100)
    messages = [fields for _, fields in redis_client.xrange("orders:changes") or []]
    assert (messages, 0 < redis_client.ttl("orders:changes") <= 100) == (
        [
            {"id": "7", "name": "ann", "op_code": "c"},
            {"id": "7", "op_code": "u"},
            {"id": "7", "name": "ann", "op_code": "d"},
        ],
        True,
    )


def test_string_sets_the_value_and_delete_removes_it(redis_client: redis.Redis) -> None:
    settings: dict[str, Any] = {"data_type": "string", "key": jmes("concat(['name:', to_string(id)])")}
    write(redis_client, [("c", {"id": 1, "name": "ann"}), ("c", {"id": 2, "name": "bob"}), ("d", {"id": 2})],
          **settings, args={"value": "name"})  # fmt: skip
    assert (redis_client.get("name:1"), redis_client.exists("name:2")) == ("ann", 0)
