"""`redis.write` planning: literal records and settings → the exact Redis commands (spec §2.6, §3.2)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from rdi.config.job import RedisWriteSettings
from rdi.errors import BadRecordError
from rdi.events.event import Record
from rdi.writers.redis import (
    JSON_MERGE_SCRIPT,
    BatchPlan,
    Command,
    RedisCommandPlanner,
    WriteDefaults,
    plan_batch,
    plan_write,
)

DEFAULTS = WriteDefaults()


def record(op: str, data: dict[str, Any], *, key: dict[str, Any] | None = None, full: bool = False) -> Record:
    return Record(
        data=data,
        key={"id": 7} if key is None else key,
        row_format="full" if full else "partial",
        op=op,  # type: ignore[arg-type]
        server_name="rdi",
        db="shop",
        schema="public",
        table="orders",
    )


def full(op: str, before: dict[str, Any] | None, after: dict[str, Any] | None) -> Record:
    data = {
        "key": {"id": 7},
        "before": before,
        "after": after,
        "opcode": op,
        "db": "shop",
        "schema": "public",
    }
    return record(op, {**data, "table": "orders"}, full=True)


def settings(**with_: Any) -> RedisWriteSettings:
    return RedisWriteSettings.model_validate(with_)


def jmes(text: str) -> dict[str, str]:
    return {"expression": text, "language": "jmespath"}


def plan(rec: Record, previous: Record | None = None, defaults: WriteDefaults = DEFAULTS, **with_: Any) -> Any:
    return plan_write(rec, settings(**with_), defaults=defaults, previous=previous)


# ---- Command --------------------------------------------------------------------------------------


def test_command_compares_and_prints_as_its_arguments() -> None:
    cmd = Command("HSET", "k", "f", "v")
    assert (cmd == ("HSET", "k", "f", "v"), cmd.name, repr(cmd)) == (
        True,
        "HSET",
        "Command('HSET', 'k', 'f', 'v')",
    )


# ---- hash -----------------------------------------------------------------------------------------


def test_hash_insert_writes_every_field_under_the_default_key() -> None:
    assert plan(record("c", {"id": 7, "name": "ann"})) == [Command("HSET", "orders:id:7", "id", "7", "name", "ann")]


def test_hash_snapshot_read_is_a_write() -> None:
    assert plan(record("r", {"id": 7})) == [Command("HSET", "orders:id:7", "id", "7")]


def test_hash_update_sets_fields_without_deleting_the_key() -> None:
    assert plan(record("u", {"id": 7, "name": "bob"})) == [Command("HSET", "orders:id:7", "id", "7", "name", "bob")]


def test_hash_null_fields_are_removed_not_written() -> None:
    rec = record("u", {"id": 7, "name": None, "note": None, "qty": 2})
    assert plan(rec) == [
        Command("HDEL", "orders:id:7", "name", "note"),
        Command("HSET", "orders:id:7", "id", "7", "qty", "2"),
    ]


def test_hash_record_of_only_nulls_writes_no_hset_and_no_expire() -> None:
    assert plan(record("u", {"name": None}), expire=60) == [Command("HDEL", "orders:id:7", "name")]


def test_hash_delete_removes_the_key() -> None:
    assert plan(record("d", {"id": 7, "name": "ann"})) == [Command("DEL", "orders:id:7")]


def test_truncate_plans_no_commands() -> None:
    assert plan(record("t", {}, key={})) == []


def test_unknown_opcode_is_a_bad_record() -> None:
    with pytest.raises(BadRecordError, match=re.escape("unknown opcode `m`; expected c, r, u, d or t")):
        plan(record("m", {"id": 7}))


def test_hash_on_update_setting_is_ignored() -> None:
    assert plan(record("u", {"id": 7}), on_update="replace") == [Command("HSET", "orders:id:7", "id", "7")]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        pytest.param(42, "42", id="integer: decimal string"),
        pytest.param(-9007199254740993, "-9007199254740993", id="bigint: every digit"),
        pytest.param(True, "1", id="boolean true: '1'"),
        pytest.param(False, "0", id="boolean false: '0'"),
        pytest.param("ab ", "ab ", id="char: string with padding"),
        pytest.param("12.50", "12.50", id="decimal (string mode): exact string"),
        pytest.param(1.5, "1.5", id="double: repr"),
        pytest.param(2.0, "2.0", id="double with no fraction: keeps .0"),
        pytest.param(1529507596945.104, "1529507596945.104", id="timestamp: ms.micro"),
        pytest.param(1529452800000, "1529452800000", id="date: epoch ms"),
        pytest.param({"a": [1, None], "b": "x"}, '{"a":[1,null],"b":"x"}', id="json column: compact JSON text"),
        pytest.param([1, 2], "[1,2]", id="array: compact JSON text"),
        pytest.param(b"\x00\xff", b"\x00\xff", id="bytes: as they are"),
    ],
)
def test_hash_renders_each_value_type_as_text(value: Any, text: Any) -> None:
    assert plan(record("c", {"v": value})) == [Command("HSET", "orders:id:7", "v", text)]


def test_hash_mapping_restricts_and_renames_fields() -> None:
    rec = record("c", {"id": 7, "name": "ann", "secret": "x", "city": None})
    assert plan(rec, mapping=["id", {"name": "full\\.name"}, {"city": "town"}, "missing"]) == [
        Command("HDEL", "orders:id:7", "town"),
        Command("HSET", "orders:id:7", "id", "7", "full.name", "ann"),
    ]


# ---- json -----------------------------------------------------------------------------------------


def test_json_insert_sets_the_document_with_native_values_and_nulls() -> None:
    rec = record("c", {"id": 7, "ok": True, "price": 2.0, "note": None, "tags": {"a": [1]}, "total": "12.50"})
    assert plan(rec, data_type="json") == [
        Command(
            "JSON.SET",
            "orders:id:7",
            "$",
            '{"id":7,"ok":true,"price":2.0,"note":null,"tags":{"a":[1]},"total":"12.50"}',
        )
    ]


def test_json_update_with_replace_sets_the_whole_document() -> None:
    assert plan(record("u", {"id": 7}), data_type="json", on_update="replace") == [
        Command("JSON.SET", "orders:id:7", "$", '{"id":7}')
    ]


def test_json_merge_uses_native_json_merge() -> None:
    assert plan(record("u", {"id": 7, "note": None}), data_type="json", on_update="merge") == [
        Command("JSON.MERGE", "orders:id:7", "$", '{"id":7,"note":null}')
    ]


def test_json_merge_applies_to_inserts_too() -> None:
    assert plan(record("c", {"id": 7}), data_type="json", on_update="merge") == [
        Command("JSON.MERGE", "orders:id:7", "$", '{"id":7}')
    ]


def test_json_merge_without_native_merge_is_the_lua_fallback() -> None:
    defaults = WriteDefaults(use_native_json_merge=False)
    rec = record("u", {"id": 7, "addr": {"zip": "1", "geo": {"lat": 1.5}}, "it's": None})
    assert plan(rec, defaults=defaults, data_type="json", on_update="merge") == [
        Command(
            "EVAL",
            JSON_MERGE_SCRIPT,
            "1",
            "orders:id:7",
            '{"id":7,"addr":{"zip":"1","geo":{"lat":1.5}},"it\'s":null}',
            '$["id"]',
            "7",
            '$["addr"]',
            '{"zip":"1","geo":{"lat":1.5}}',
            '$["addr"]["zip"]',
            '"1"',
            '$["addr"]["geo"]',
            '{"lat":1.5}',
            '$["addr"]["geo"]["lat"]',
            "1.5",
            '$["it\'s"]',
            "null",
        )
    ]


def test_json_lua_merge_quotes_a_field_with_double_quotes_in_single_quotes() -> None:
    defaults = WriteDefaults(use_native_json_merge=False)
    rec = record("u", {'say "hi"': 1})
    assert plan(rec, defaults=defaults, data_type="json", on_update="merge") == [
        Command("EVAL", JSON_MERGE_SCRIPT, "1", "orders:id:7", '{"say \\"hi\\"":1}', "$['say \"hi\"']", "1")
    ]


def test_json_lua_merge_rejects_a_field_no_jsonpath_can_name() -> None:
    defaults = WriteDefaults(use_native_json_merge=False)
    msg = (
        "field `a\\b` cannot be addressed by a JSONPath for the Lua merge; set `processors.use_native_json_merge: true`"
    )
    with pytest.raises(BadRecordError, match=re.escape(msg)):
        plan(record("u", {"a\\b": 1}), defaults=defaults, data_type="json", on_update="merge")


def test_json_update_strategy_comes_from_processors_when_the_job_sets_none() -> None:
    defaults = WriteDefaults(json_update_strategy="merge")
    assert plan(record("u", {"id": 7}), defaults=defaults, data_type="json") == [
        Command("JSON.MERGE", "orders:id:7", "$", '{"id":7}')
    ]


def test_data_type_comes_from_processors_when_the_job_sets_none() -> None:
    defaults = WriteDefaults(target_data_type="json")
    assert plan(record("c", {"id": 7}), defaults=defaults) == [Command("JSON.SET", "orders:id:7", "$", '{"id":7}')]


def test_json_delete_removes_the_key() -> None:
    assert plan(record("d", {"id": 7}), data_type="json", on_update="merge") == [Command("DEL", "orders:id:7")]


def test_json_mapping_dotted_alias_creates_nested_objects() -> None:
    rec = record("c", {"id": 7, "zip": "1000", "city": "Oslo", "a.b": 1, "note": None, "drop": 0})
    mapping = [{"zip": "address.zip"}, {"city": "address.city"}, {"a\\.b": "x\\.y"}, "note", "missing"]
    assert plan(rec, data_type="json", mapping=mapping) == [
        Command("JSON.SET", "orders:id:7", "$", '{"address":{"zip":"1000","city":"Oslo"},"x.y":1,"note":null}')
    ]


def test_json_mapping_aliases_that_overlap_are_a_value_error() -> None:
    msg = "mapping aliases `a` and `a.b` write the same field"
    with pytest.raises(ValueError, match=re.escape(msg)):
        RedisCommandPlanner(settings(data_type="json", mapping=[{"x": "a"}, {"y": "a.b"}]), DEFAULTS)


def test_json_mapping_alias_with_empty_segment_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=re.escape("mapping alias `a..b` has an empty path segment")):
        RedisCommandPlanner(settings(data_type="json", mapping=[{"x": "a..b"}]), DEFAULTS)


def test_json_value_json_cannot_encode_is_a_bad_record() -> None:
    with pytest.raises(
        BadRecordError, match=re.escape("values cannot be written as JSON: Integer exceeds 64-bit range")
    ):
        plan(record("c", {"n": 2**70}), data_type="json")


# ---- set ------------------------------------------------------------------------------------------

SET: dict[str, Any] = {"data_type": "set", "key": jmes("'orders:ids'"), "args": {"member": "id"}}
ZSET: dict[str, Any] = {
    "data_type": "sorted_set",
    "key": jmes("'orders:by_total'"),
    "args": {"member": "id", "score": "total"},
}


def test_set_insert_adds_the_member() -> None:
    assert plan(record("c", {"id": 7}), **SET) == [Command("SADD", "orders:ids", "7")]


def test_set_update_adds_the_member() -> None:
    assert plan(record("u", {"id": 7}), **SET) == [Command("SADD", "orders:ids", "7")]


def test_set_delete_removes_the_member_of_the_before_image() -> None:
    assert plan(record("d", {"id": 7, "name": "ann"}), **SET) == [Command("SREM", "orders:ids", "7")]


def test_set_delete_in_full_format_reads_the_member_from_before() -> None:
    assert plan(full("d", {"id": 7}, None), **SET) == [Command("SREM", "orders:ids", "7")]


def test_set_delete_without_the_member_field_is_a_bad_record() -> None:
    msg = "field `sku` named by `args.member` is missing from the delete's before image"
    with pytest.raises(BadRecordError, match=re.escape(msg)):
        plan(record("d", {"id": 7}), data_type="set", key=jmes("'skus'"), args={"member": "sku"})


def test_set_insert_without_the_member_field_is_a_bad_record() -> None:
    msg = "field `sku` named by `args.member` is missing from the record"
    with pytest.raises(BadRecordError, match=re.escape(msg)):
        plan(record("c", {"id": 7}), data_type="set", key=jmes("'skus'"), args={"member": "sku"})


def test_set_update_without_the_member_field_writes_nothing() -> None:
    assert plan(record("u", {"name": "x"}), **SET) == []


def test_set_null_member_adds_nothing() -> None:
    assert plan(record("c", {"id": None}), **SET, expire=60) == []


def test_set_expire_follows_the_add() -> None:
    assert plan(record("c", {"id": 7}), **SET, expire=60) == [
        Command("SADD", "orders:ids", "7"),
        Command("EXPIRE", "orders:ids", "60"),
    ]


# ---- sorted set -----------------------------------------------------------------------------------


def test_sorted_set_insert_adds_member_with_score() -> None:
    assert plan(record("c", {"id": 7, "total": 12.5}), **ZSET) == [Command("ZADD", "orders:by_total", "12.5", "7")]


def test_sorted_set_update_adds_member_with_score() -> None:
    assert plan(record("u", {"id": 7, "total": 3}), **ZSET) == [Command("ZADD", "orders:by_total", "3", "7")]


def test_sorted_set_score_may_be_a_numeric_string() -> None:
    assert plan(record("c", {"id": 7, "total": "12.50"}), **ZSET) == [Command("ZADD", "orders:by_total", "12.50", "7")]


def test_sorted_set_delete_removes_the_member() -> None:
    assert plan(record("d", {"id": 7, "total": 1}), **ZSET) == [Command("ZREM", "orders:by_total", "7")]


def test_sorted_set_null_score_removes_the_member() -> None:
    assert plan(record("u", {"id": 7, "total": None}), **ZSET) == [Command("ZREM", "orders:by_total", "7")]


@pytest.mark.parametrize(
    ("score", "shown"), [("abc", '"abc"'), (True, "true"), ({"a": 1}, '{"a":1}'), (float("nan"), "null")]
)
def test_sorted_set_score_that_is_not_a_number_is_a_bad_record(score: Any, shown: str) -> None:
    msg = f"field `total` named by `args.score` is {shown}; expected a number"
    with pytest.raises(BadRecordError, match=re.escape(msg)):
        plan(record("c", {"id": 7, "total": score}), **ZSET)


# ---- stream ---------------------------------------------------------------------------------------

STREAM: dict[str, Any] = {"data_type": "stream", "key": jmes("'orders:changes'")}


def test_stream_insert_appends_fields_and_opcode() -> None:
    assert plan(record("c", {"id": 7, "ok": True, "note": None}), **STREAM) == [
        Command("XADD", "orders:changes", "*", "id", "7", "ok", "1", "op_code", "c")
    ]


def test_stream_update_appends_a_message() -> None:
    assert plan(record("u", {"id": 7}), **STREAM) == [Command("XADD", "orders:changes", "*", "id", "7", "op_code", "u")]


def test_stream_delete_appends_the_before_image_with_the_delete_opcode() -> None:
    assert plan(record("d", {"id": 7, "name": "ann"}), **STREAM) == [
        Command("XADD", "orders:changes", "*", "id", "7", "name", "ann", "op_code", "d")
    ]


def test_stream_delete_in_full_format_carries_before() -> None:
    assert plan(full("d", {"id": 7, "name": "ann"}, None), **STREAM) == [
        Command("XADD", "orders:changes", "*", "id", "7", "name", "ann", "op_code", "d")
    ]


def test_stream_mapping_restricts_and_renames_fields() -> None:
    assert plan(record("c", {"id": 7, "name": "ann"}), **STREAM, mapping=[{"name": "who"}]) == [
        Command("XADD", "orders:changes", "*", "who", "ann", "op_code", "c")
    ]


def test_stream_record_field_op_code_is_replaced_by_the_opcode() -> None:
    assert plan(record("c", {"op_code": "x", "id": 7}), **STREAM) == [
        Command("XADD", "orders:changes", "*", "id", "7", "op_code", "c")
    ]


def test_stream_expire_follows_every_message_including_deletes() -> None:
    assert plan(record("d", {"id": 7}), **STREAM, expire=60) == [
        Command("XADD", "orders:changes", "*", "id", "7", "op_code", "d"),
        Command("EXPIRE", "orders:changes", "60"),
    ]


# ---- string ---------------------------------------------------------------------------------------

STRING: dict[str, Any] = {
    "data_type": "string",
    "key": jmes("concat(['order:', to_string(id), ':name'])"),
    "args": {"value": "name"},
}


def test_string_insert_sets_the_value() -> None:
    assert plan(record("c", {"id": 7, "name": "ann"}), **STRING) == [Command("SET", "order:7:name", "ann")]


def test_string_update_sets_the_value() -> None:
    assert plan(record("u", {"id": 7, "name": 2.5}), **STRING) == [Command("SET", "order:7:name", "2.5")]


def test_string_delete_removes_the_key() -> None:
    assert plan(record("d", {"id": 7}), **STRING) == [Command("DEL", "order:7:name")]


def test_string_null_value_removes_the_key() -> None:
    assert plan(record("u", {"id": 7, "name": None}), **STRING, expire=60) == [Command("DEL", "order:7:name")]


def test_string_update_without_the_value_field_writes_nothing() -> None:
    assert plan(record("u", {"id": 7}), **STRING) == []


# ---- expire ---------------------------------------------------------------------------------------


def test_static_expire_follows_the_write() -> None:
    assert plan(record("c", {"id": 7}), expire=86400) == [
        Command("HSET", "orders:id:7", "id", "7"),
        Command("EXPIRE", "orders:id:7", "86400"),
    ]


def test_zero_expire_sets_no_ttl() -> None:
    assert plan(record("c", {"id": 7}), expire=0) == [Command("HSET", "orders:id:7", "id", "7")]


def test_no_expire_after_a_delete() -> None:
    assert plan(record("d", {"id": 7}), expire=60) == [Command("DEL", "orders:id:7")]


@pytest.mark.parametrize(("ttl", "text"), [(30, "30"), ("45", "45"), (60.0, "60")])
def test_expire_expression_gives_the_ttl(ttl: Any, text: str) -> None:
    assert plan(record("c", {"id": 7, "ttl": ttl}), expire=jmes("ttl")) == [
        Command("HSET", "orders:id:7", "id", "7", "ttl", str(ttl)),
        Command("EXPIRE", "orders:id:7", text),
    ]


def test_expire_expression_giving_zero_sets_no_ttl() -> None:
    assert plan(record("c", {"id": 7, "ttl": 0}), expire=jmes("ttl")) == [
        Command("HSET", "orders:id:7", "id", "7", "ttl", "0")
    ]


@pytest.mark.parametrize(
    ("ttl", "shown"), [("soon", '"soon"'), (-5, "-5"), (None, "null"), (1.5, "1.5"), (True, "true")]
)
def test_expire_expression_giving_no_whole_number_is_a_bad_record(ttl: Any, shown: str) -> None:
    msg = f"`expire` expression `ttl` gave {shown}; expected a non-negative whole number of seconds"
    with pytest.raises(BadRecordError, match=re.escape(msg)):
        plan(record("c", {"id": 7, "ttl": ttl}), expire=jmes("ttl"))


# ---- key ------------------------------------------------------------------------------------------


def test_custom_key_expression_names_the_key() -> None:
    assert plan(record("c", {"id": 7}), key=jmes("concat(['order:', to_string(id)])")) == [
        Command("HSET", "order:7", "id", "7")
    ]


def test_numeric_key_is_rendered_as_text() -> None:
    assert plan(record("c", {"id": 7}), key=jmes("id")) == [Command("HSET", "7", "id", "7")]


def test_default_key_joins_every_key_column() -> None:
    rec = record("c", {"orderid": 1, "customerid": 2}, key={"orderid": 1, "customerid": 2})
    assert plan(rec) == [Command("HSET", "orders:orderid:1:customerid:2", "orderid", "1", "customerid", "2")]


def test_key_expression_giving_null_is_a_bad_record() -> None:
    with pytest.raises(BadRecordError, match=re.escape("key expression `code` gave null")):
        plan(record("c", {"id": 7}), key=jmes("code"))


def test_key_expression_giving_empty_string_is_a_bad_record() -> None:
    with pytest.raises(BadRecordError, match=re.escape("key expression `code` gave an empty string")):
        plan(record("c", {"code": ""}), key=jmes("code"))


def test_key_expression_giving_an_object_is_a_bad_record() -> None:
    msg = 'key expression `code` gave {"a":1}; expected a string or a number'
    with pytest.raises(BadRecordError, match=re.escape(msg)):
        plan(record("c", {"code": {"a": 1}}), key=jmes("code"))


FULL_KEY = jmes("concat(['order:', to_string(after.id || before.id)])")


def test_full_format_update_writes_the_after_values() -> None:
    rec = full("u", {"id": 7, "name": "ann"}, {"id": 7, "name": "bob"})
    assert plan(rec, key=FULL_KEY) == [Command("HSET", "order:7", "id", "7", "name", "bob")]


def test_full_format_delete_finds_the_key_from_before() -> None:
    assert plan(full("d", {"id": 7, "name": "ann"}, None), key=FULL_KEY) == [Command("DEL", "order:7")]


def test_full_format_opcode_rewritten_to_update_suppresses_the_delete() -> None:
    rec = full("d", {"id": 7}, None)
    rec.data.update(opcode="u", after={"id": 7, "deleted": True})
    assert plan(rec, key=FULL_KEY) == [Command("HSET", "order:7", "id", "7", "deleted", "1")]


# ---- previous image: the update moved the record ----------------------------------------------------

KEYED = jmes("concat(['order:', code])")


@pytest.mark.parametrize("data_type", ["hash", "json"])
def test_update_that_changes_the_key_deletes_the_old_key(data_type: str) -> None:
    new, old = record("u", {"code": "b"}), record("u", {"code": "a"})
    value = ("HSET", "order:b", "code", "b") if data_type == "hash" else ("JSON.SET", "order:b", "$", '{"code":"b"}')
    assert plan(new, old, data_type=data_type, key=KEYED) == [Command("DEL", "order:a"), Command(*value)]


def test_string_update_that_changes_the_key_deletes_the_old_key() -> None:
    new, old = record("u", {"code": "b", "v": 1}), record("u", {"code": "a", "v": 1})
    assert plan(new, old, data_type="string", key=KEYED, args={"value": "v"}) == [
        Command("DEL", "order:a"),
        Command("SET", "order:b", "1"),
    ]


def test_update_that_keeps_the_key_deletes_nothing() -> None:
    new, old = record("u", {"code": "a", "n": 2}), record("u", {"code": "a", "n": 1})
    assert plan(new, old, key=KEYED) == [Command("HSET", "order:a", "code", "a", "n", "2")]


def test_stream_update_that_changes_the_key_keeps_the_old_stream() -> None:
    new, old = record("u", {"code": "b"}), record("u", {"code": "a"})
    assert plan(new, old, data_type="stream", key=KEYED) == [
        Command("XADD", "order:b", "*", "code", "b", "op_code", "u")
    ]


def test_set_update_that_changes_the_key_removes_the_member_from_the_old_key() -> None:
    new, old = record("u", {"code": "b", "id": 7}), record("u", {"code": "a", "id": 7})
    assert plan(new, old, data_type="set", key=KEYED, args={"member": "id"}) == [
        Command("SREM", "order:a", "7"),
        Command("SADD", "order:b", "7"),
    ]


def test_set_update_that_changes_the_member_removes_the_old_member() -> None:
    new, old = record("u", {"id": 8}), record("u", {"id": 7})
    assert plan(new, old, **SET) == [Command("SREM", "orders:ids", "7"), Command("SADD", "orders:ids", "8")]


def test_set_update_that_keeps_key_and_member_removes_nothing() -> None:
    new, old = record("u", {"id": 7, "n": 2}), record("u", {"id": 7, "n": 1})
    assert plan(new, old, **SET) == [Command("SADD", "orders:ids", "7")]


def test_set_update_to_a_null_member_removes_the_old_member() -> None:
    new, old = record("u", {"id": None}), record("u", {"id": 7})
    assert plan(new, old, **SET) == [Command("SREM", "orders:ids", "7")]


def test_sorted_set_update_that_changes_the_key_removes_the_member_from_the_old_key() -> None:
    new = record("u", {"code": "b", "id": 7, "total": 2})
    old = record("u", {"code": "a", "id": 7, "total": 1})
    assert plan(new, old, data_type="sorted_set", key=KEYED, args={"member": "id", "score": "total"}) == [
        Command("ZREM", "order:a", "7"),
        Command("ZADD", "order:b", "2", "7"),
    ]


def test_sorted_set_update_that_changes_the_member_removes_the_old_member() -> None:
    new, old = record("u", {"id": 8, "total": 1}), record("u", {"id": 7, "total": 1})
    assert plan(new, old, **ZSET) == [
        Command("ZREM", "orders:by_total", "7"),
        Command("ZADD", "orders:by_total", "1", "8"),
    ]


# ---- nest, batches ---------------------------------------------------------------------------------


def test_nest_output_is_a_value_error() -> None:
    nest = {
        "parent": {"table": "orders"},
        "parent_key": "order_id",
        "nesting_key": "line_id",
        "path": "$.lines",
    }
    with pytest.raises(ValueError, match=re.escape("nest outputs are planned by rdi.writers.nest")):
        plan(record("c", {"id": 7}), nest=nest)


def test_batch_plans_every_record_in_order() -> None:
    records = [record("c", {"id": 1}), record("u", {"id": 2}), record("d", {"id": 3})]
    assert plan_batch(records, settings(key=jmes("to_string(id)")), DEFAULTS) == BatchPlan(
        [Command("HSET", "1", "id", "1"), Command("HSET", "2", "id", "2"), Command("DEL", "3")], []
    )


def test_batch_rejects_a_record_that_cannot_be_planned() -> None:
    good, bad = record("c", {"id": 1, "ttl": 5}), record("c", {"id": 2, "ttl": "x"})
    result = plan_batch([good, bad], settings(expire=jmes("ttl")), DEFAULTS)
    expected_error = '`expire` expression `ttl` gave "x"; expected a non-negative whole number of seconds'
    assert (result.commands, [(r, str(e)) for r, e in result.rejected]) == (
        [Command("HSET", "orders:id:7", "id", "1", "ttl", "5"), Command("EXPIRE", "orders:id:7", "5")],
        [(bad, expected_error)],
    )


def test_batch_takes_previous_images_aligned_with_records() -> None:
    new, old = record("u", {"code": "b"}), record("u", {"code": "a"})
    result = plan_batch([new, record("c", {"code": "c"})], settings(key=KEYED), DEFAULTS, previous=[old, None])
    assert result == BatchPlan(
        [
            Command("DEL", "order:a"),
            Command("HSET", "order:b", "code", "b"),
            Command("HSET", "order:c", "code", "c"),
        ],
        [],
    )


def test_batch_rejects_only_the_records_a_key_expression_fails_on() -> None:
    records = [record("c", {"code": "a"}), record("c", {"code": 5}), record("c", {"code": None})]
    result = plan_batch(records, settings(key=jmes("join('', ['o:', code])")), DEFAULTS)
    assert (result.commands, [r for r, _ in result.rejected]) == (
        [Command("HSET", "o:a", "code", "a")],
        records[1:],
    )


def test_batch_previous_images_must_align_with_records() -> None:
    with pytest.raises(ValueError, match=re.escape("`previous` must align with `records`: got 0 for 1 records")):
        plan_batch([record("c", {"id": 7})], settings(), DEFAULTS, previous=[])
