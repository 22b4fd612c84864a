"""`nest` commands run on the real Redis + RedisJSON, in the orders that CDC across tables can produce."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import orjson
import pytest
import redis

from rdi.config.job import RedisWriteSettings
from rdi.errors import BadRecordError
from rdi.events.event import Record
from rdi.writers.nest import NestPlanner, NestTree
from rdi.writers.redis import Command

pytestmark = pytest.mark.redis


def nest(parent: str, parent_key: str, nesting_key: str, path: str, **more: Any) -> RedisWriteSettings:
    spec = {"parent": {"table": parent}, "parent_key": parent_key, "nesting_key": nesting_key, "path": path}
    return RedisWriteSettings.model_validate({"data_type": "json", "nest": spec | more.pop("nest", {}), **more})


# customers → orders → order_lines (two levels) and invoice → invoice_line (one level, RDI's example)
TREE_OUTPUTS = {
    "orders": nest("customers", "customer_id", "order_id", "$.orders"),
    "order_lines": nest("orders", "order_id", "line_id", "$.lines"),
    "invoice_line": nest("invoice", "invoice_id", "line_id", "$.lines", mapping=["line_id", {"qty": "amount.qty"}]),
}
TREE = NestTree(TREE_OUTPUTS.items())
PLANNERS = {table: NestPlanner(table, settings, TREE) for table, settings in TREE_OUTPUTS.items()}
KEYS = {
    "customers": "customer_id",
    "orders": "order_id",
    "order_lines": "line_id",
    "invoice": "invoice_id",
    "invoice_line": "line_id",
}


def record(table: str, op: str, data: dict[str, Any]) -> Record:
    pk = KEYS[table]
    return Record(
        data=data,
        key={pk: data[pk]},
        row_format="partial",
        op=op,  # type: ignore[arg-type]
        server_name="rdi",
        db="shop",
        schema="public",
        table=table,
    )


def run(client: redis.Redis, commands: Sequence[Command]) -> None:
    for command in commands:
        client.execute_command(*command)  # type: ignore[no-untyped-call]


def change(client: redis.Redis, table: str, op: str, data: dict[str, Any]) -> None:
    """What the processor sends for one event: the root's own JSON write + refresh, or the nest command."""
    rec = record(table, op, data)
    if table in PLANNERS:
        run(client, PLANNERS[table].plan(rec))
        return
    key = f"{table}:{KEYS[table]}:{data[KEYS[table]]}"
    if op == "d":
        client.delete(key)
    else:
        client.execute_command("JSON.MERGE", key, "$", orjson.dumps(data))  # type: ignore[no-untyped-call]
    for commands in TREE.refresh(rec).values():
        run(client, commands)


def doc(client: redis.Redis, key: str) -> Any:
    text = client.execute_command("JSON.GET", key, "$")  # type: ignore[no-untyped-call]
    return None if text is None else orjson.loads(text)[0]


CUSTOMER = {"customer_id": 1, "name": "Ann"}
ORDER_10 = {"order_id": 10, "customer_id": 1, "total": "9.50"}
ORDER_11 = {"order_id": 11, "customer_id": 1, "total": "1.00"}
LINE_100 = {"line_id": 100, "order_id": 10, "sku": "a"}
LINE_101 = {"line_id": 101, "order_id": 10, "sku": "b"}

ANN = {
    "customer_id": 1,
    "name": "Ann",
    "orders": {
        "10": {
            "order_id": 10,
            "customer_id": 1,
            "total": "9.50",
            "lines": {"100": LINE_100, "101": LINE_101},
        },
        "11": {"order_id": 11, "customer_id": 1, "total": "1.00", "lines": {}},
    },
}

EVENTS = [
    ("customers", "c", CUSTOMER),
    ("orders", "c", ORDER_10),
    ("orders", "c", ORDER_11),
    ("order_lines", "c", LINE_100),
    ("order_lines", "c", LINE_101),
]


@pytest.mark.parametrize("order", list(itertools.permutations(range(len(EVENTS)))), ids=str)
def test_two_levels_build_the_same_document_whatever_order_the_tables_arrive_in(
    redis_client: redis.Redis, order: tuple[int, ...]
) -> None:
    for i in order:
        change(redis_client, *EVENTS[i])
    assert doc(redis_client, "customers:customer_id:1") == ANN


def test_replaying_every_event_changes_nothing(redis_client: redis.Redis) -> None:
    for event in EVENTS + EVENTS:
        change(redis_client, *event)
    assert doc(redis_client, "customers:customer_id:1") == ANN


def test_children_of_a_missing_parent_make_no_document(redis_client: redis.Redis) -> None:
    change(redis_client, "orders", "c", ORDER_10)
    change(redis_client, "order_lines", "c", LINE_100)
    assert redis_client.keys("customers:*") == []


def test_a_line_moved_to_another_customers_order_leaves_the_first_document(redis_client: redis.Redis) -> None:
    for event in EVENTS:
        change(redis_client, *event)
    change(redis_client, "customers", "c", {"customer_id": 2, "name": "Bob"})
    change(redis_client, "orders", "c", {"order_id": 20, "customer_id": 2, "total": "0"})
    change(redis_client, "order_lines", "u", LINE_101 | {"order_id": 20})
    bob = doc(redis_client, "customers:customer_id:2")
    ann = doc(redis_client, "customers:customer_id:1")
    assert (list(ann["orders"]["10"]["lines"]), bob["orders"]["20"]["lines"]) == (
        ["100"],
        {"101": LINE_101 | {"order_id": 20}},
    )


def test_an_order_moved_to_another_customer_takes_its_lines_along(redis_client: redis.Redis) -> None:
    for event in EVENTS:
        change(redis_client, *event)
    change(redis_client, "customers", "c", {"customer_id": 2, "name": "Bob"})
    change(redis_client, "orders", "u", ORDER_10 | {"customer_id": 2})
    bob = doc(redis_client, "customers:customer_id:2")
    assert (list(doc(redis_client, "customers:customer_id:1")["orders"]), bob["orders"]["10"]["lines"]) == (
        ["11"],
        {"100": LINE_100, "101": LINE_101},
    )


def test_deleting_a_child_removes_only_its_entry_even_from_a_key_only_delete(redis_client: redis.Redis) -> None:
    for event in EVENTS:
        change(redis_client, *event)
    change(redis_client, "order_lines", "d", {"line_id": 100})
    assert doc(redis_client, "customers:customer_id:1")["orders"]["10"]["lines"] == {"101": LINE_101}


def test_a_deleted_intermediate_parent_leaves_and_returns_with_its_children(redis_client: redis.Redis) -> None:
    for event in EVENTS:
        change(redis_client, *event)
    change(redis_client, "orders", "d", {"order_id": 10})
    without = list(doc(redis_client, "customers:customer_id:1")["orders"])
    change(redis_client, "orders", "c", ORDER_10)
    assert (without, doc(redis_client, "customers:customer_id:1")) == (["11"], ANN)


def test_a_deleted_root_is_not_brought_back_by_its_children(redis_client: redis.Redis) -> None:
    for event in EVENTS:
        change(redis_client, *event)
    change(redis_client, "customers", "d", CUSTOMER)
    change(redis_client, "order_lines", "u", LINE_100 | {"sku": "z"})
    change(redis_client, "orders", "u", ORDER_11 | {"total": "2"})
    assert redis_client.keys("customers:*") == []


def test_a_root_written_with_replace_keeps_its_maps(redis_client: redis.Redis) -> None:
    for event in EVENTS:
        change(redis_client, *event)
    redis_client.execute_command("JSON.SET", "customers:customer_id:1", "$", '{"customer_id":1,"name":"Ann"}')  # type: ignore[no-untyped-call]
    run(redis_client, TREE.refresh(record("customers", "u", CUSTOMER))["target"])
    assert doc(redis_client, "customers:customer_id:1") == ANN


def test_one_level_with_mapping_and_a_null_foreign_key(redis_client: redis.Redis) -> None:
    change(redis_client, "invoice_line", "c", {"line_id": 1, "invoice_id": 5, "qty": 3, "note": "x"})
    change(redis_client, "invoice_line", "c", {"line_id": 2, "invoice_id": 5, "qty": 4, "note": "y"})
    change(redis_client, "invoice", "c", {"invoice_id": 5, "total": 7})
    change(redis_client, "invoice_line", "u", {"line_id": 2, "invoice_id": None, "qty": 4, "note": "y"})
    assert doc(redis_client, "invoice:invoice_id:5") == {
        "invoice_id": 5,
        "total": 7,
        "lines": {"1": {"line_id": 1, "amount": {"qty": 3}}},
    }


def test_ids_with_quotes_are_addressed(redis_client: redis.Redis) -> None:
    change(redis_client, "invoice", "c", {"invoice_id": 'a"b', "total": 1})
    change(redis_client, "invoice_line", "c", {"line_id": "it's", "invoice_id": 'a"b', "qty": 1})
    change(redis_client, "invoice_line", "c", {"line_id": 'say "hi"', "invoice_id": 'a"b', "qty": 2})
    change(redis_client, "invoice_line", "d", {"line_id": "it's"})
    expected = {'say "hi"': {"line_id": 'say "hi"', "amount": {"qty": 2}}}
    assert doc(redis_client, 'invoice:invoice_id:a"b')["lines"] == expected


def test_expire_of_the_nest_output_applies_to_the_root_document(redis_client: redis.Redis) -> None:
    outputs = {"line": nest("head", "head_id", "line_id", "$.lines", expire=300)}
    tree = NestTree(outputs.items())
    redis_client.execute_command("JSON.SET", "head:head_id:1", "$", '{"head_id":1}')  # type: ignore[no-untyped-call]
    line = Record({"line_id": 1, "head_id": 1}, {"line_id": 1}, "partial", "c", "rdi", None, "public", "line")
    run(redis_client, NestPlanner("line", outputs["line"], tree).plan(line))
    assert 0 < redis_client.ttl("head:head_id:1") <= 300


def test_a_key_without_its_nesting_key_is_a_bad_record() -> None:
    with pytest.raises(BadRecordError, match=r"^field `line_id` named by `nest.nesting_key` is missing"):
        PLANNERS["order_lines"].plan(record("orders", "c", {"order_id": 1}))


def test_an_id_with_a_backslash_is_a_bad_record() -> None:
    with pytest.raises(BadRecordError, match=r"cannot be a JSONPath member"):
        PLANNERS["order_lines"].plan(record("order_lines", "c", {"line_id": "a\\b", "order_id": 1}))


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        (
            {"b": nest("a", "a_id", "b_id", "$.x.y")},
            "table `b`: `nest.path` must be one member below `$` such as `$.lines`, got '$.x.y'",
        ),
        (
            {"b": nest("a", "a_id", "b_id", "$.bs"), "c": nest("b", "a_id", "c_id", "$.cs")},
            "table `c`: `nest.parent_key` is `a_id` but its parent `b` is nested itself and is identified by "
            "its `nesting_key` `b_id`; name that column",
        ),
        (
            {"b": nest("c", "c_id", "b_id", "$.bs"), "c": nest("b", "b_id", "c_id", "$.cs")},
            "table `b`: `nest` parents form a cycle through `b`",
        ),
        (
            {"b": nest("a", "a_id", "b_id", "$.bs"), "c": nest("b", "b_id", "c_id", "$.cs", connection="other")},
            "table `c` nests into `b` on target `other` but `b` is written to `target`; use one target",
        ),
    ],
)
def test_shapes_that_cannot_be_kept_right_are_refused(outputs: dict[str, RedisWriteSettings], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        NestTree(outputs.items())
    assert str(caught.value) == message
