from __future__ import annotations

import re
from typing import Any

import pytest

from rdi.config.job import LookupBlock
from rdi.errors import BadRecordError
from rdi.transforms.lookup import LookupStep

from ._records import full, partial


def lookup(cmd: str, args: list[str], field: str, step: str = "transform[0]") -> LookupStep:
    with_ = {"connection": "cache", "cmd": cmd, "args": args, "language": "jmespath", "field": field}
    return LookupStep(LookupBlock.model_validate({"uses": "redis.lookup", "with": with_}), step=step)


def test_command_evaluates_each_argument_to_a_string() -> None:
    step = lookup("hmget", ["join(':', ['customer', to_string(customer_id)])", "'name'", "rank", "vip"], "c")
    record = partial({"id": 1, "customer_id": 7, "rank": 2.5, "vip": True})
    assert (step.connection, step.command(record)) == (
        "cache",
        ("HMGET", "customer:7", "name", "2.5", "true"),
    )


def test_command_batch_gives_the_same_commands_as_one_by_one() -> None:
    step = lookup("GET", ["join(':', ['rate', currency])"], "rate")
    records = [partial({"id": i, "currency": c}) for i, c in enumerate(["EUR", "USD"])]
    assert step.command_batch(records) == [step.command(r) for r in records]


def test_hgetall_reply_is_stored_as_an_object_from_a_dict_or_a_flat_list() -> None:
    step = lookup("HGETALL", ["'customer:7'"], "customer")
    record = partial({"id": 1})
    replies: list[Any] = [{b"name": b"Ada", b"tier": b"gold"}, [b"name", b"Ada", b"tier", b"gold"], {}]
    assert [step.complete(record, reply).data for reply in replies] == [
        {"id": 1, "customer": {"name": "Ada", "tier": "gold"}},
        {"id": 1, "customer": {"name": "Ada", "tier": "gold"}},
        {"id": 1, "customer": {}},
    ]


def test_json_get_reply_is_parsed_and_stored_at_a_nested_field_of_after() -> None:
    step = lookup("JSON.GET", ["'customer:7'", "'$.address'"], "after.customer.address")
    result = step.complete(full(op="c", after={"id": 1}), b'[{"city":"London","zip":null}]')
    assert result.values == {"id": 1, "customer": {"address": [{"city": "London", "zip": None}]}}


def test_other_replies_are_stored_with_bytes_as_text_and_sets_as_sorted_arrays() -> None:
    record = partial({"id": 1})
    assert [
        lookup("SMEMBERS", ["'tags'"], "tags").complete(record, {b"b", b"a"}).data["tags"],
        lookup("ZRANGE", ["'top'", "'0'", "'-1'"], "top").complete(record, [(b"x", 2.0), (b"y", 3.0)]).data["top"],
        lookup("GET", ["'missing'"], "v").complete(record, None).data["v"],
        lookup("EXISTS", ["'k'"], "v").complete(record, 1).data["v"],
    ] == [["a", "b"], [["x", 2.0], ["y", 3.0]], None, 1]


def test_complete_batch_pairs_records_with_replies_in_order() -> None:
    step = lookup("GET", ["'k'"], "v")
    records = [partial({"id": 1}), partial({"id": 2})]
    assert [r.data for r in step.complete_batch(records, [b"one", b"two"])] == [
        {"id": 1, "v": "one"},
        {"id": 2, "v": "two"},
    ]


def test_null_argument_is_a_bad_record() -> None:
    step = lookup("HGETALL", ["join(':', ['customer', to_string(customer_id)])", "missing"], "c", "transform[1]")
    msg = "transform[1] (redis.lookup `c`): `args[1]` gave null, expected a string or a number"
    with pytest.raises(BadRecordError, match=re.escape(msg)):
        step.command(partial({"id": 1, "customer_id": 7}))


def test_error_reply_is_a_bad_record() -> None:
    step = lookup("HGETALL", ["'k'"], "c", "transform[1]")
    msg = "transform[1] (redis.lookup `c`): `HGETALL` failed: WRONGTYPE Operation against a key"
    with pytest.raises(BadRecordError, match=re.escape(msg)):
        step.complete(partial({"id": 1}), ValueError("WRONGTYPE Operation against a key"))


def test_invalid_json_reply_is_a_bad_record() -> None:
    step = lookup("JSON.GET", ["'k'"], "doc")
    with pytest.raises(
        BadRecordError,
        match=re.escape("transform[0] (redis.lookup `doc`): `JSON.GET` replied with invalid JSON"),
    ):
        step.complete(partial({"id": 1}), b"{nope")
