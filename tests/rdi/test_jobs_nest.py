"""`nest` outputs routed and checked together by the JobRouter: what each event plans, and the refused shapes."""

from __future__ import annotations

import pytest

from rdi.config import load_job_text
from rdi.errors import ConfigError
from rdi.jobs import JobRouter
from rdi.writers.nest import NEST_SCRIPT
from rdi.writers.redis import WriteDefaults

from .test_jobs import event

JSON = WriteDefaults(target_data_type="json")

LINES = """
source: {table: lines}
output:
  - uses: redis.write
    with: {nest: {parent: {table: orders}, parent_key: id, child_key: order_id, nesting_key: line_id, path: $.lines}}
"""


def router(defaults: WriteDefaults = JSON, **jobs: str) -> JobRouter:
    return JobRouter({name: load_job_text(text, f"{name}.yaml") for name, text in jobs.items()}, defaults)


def planned(r: JobRouter, table: str, after: dict[str, object]) -> list[tuple[str, list[tuple[object, ...]]]]:
    result = r.job_for(event(table, "c", after)).apply(event(table, "c", after))
    return [(o.connection, [tuple(c) for c in o.commands]) for o in result.outputs]


def test_a_root_row_is_written_then_its_maps_are_rebuilt_from_the_kept_rows() -> None:
    r = router(lines=LINES)
    [write, (connection, [refresh])] = planned(r, "orders", {"id": 7})
    assert (write, connection, refresh[:4], refresh[5:]) == (
        ("target", [("JSON.SET", "orders:id:7", "$", '{"id":7}')]),
        "target",
        ("EVAL", NEST_SCRIPT, "0", "r"),
        ("7",),
    )


def test_a_child_row_is_one_nest_script_call() -> None:
    r = router(lines=LINES)
    [(connection, [command])] = planned(r, "lines", {"id": 70, "line_id": 70, "order_id": 7})
    assert (connection, command[:4], command[5:]) == (
        "target",
        ("EVAL", NEST_SCRIPT, "0", "u"),
        ("70", "7", '{"id":70,"line_id":70,"order_id":7}'),
    )


def test_a_root_written_as_a_hash_is_refused_naming_its_job() -> None:
    orders = "source: {table: orders}\noutput:\n  - uses: redis.write\n    with: {data_type: hash}\n"
    with pytest.raises(ConfigError) as caught:
        router(lines=LINES, orders=orders)
    assert [str(i) for i in caught.value.issues] == [
        "jobs/orders: output: table `orders` holds nested rows, so its rows must be JSON documents at the default "
        "key; write it with `data_type: json` and no `key`"
    ]


def test_a_nest_in_the_default_job_is_refused() -> None:
    default = LINES.replace("table: lines", 'table: "*"')
    with pytest.raises(ConfigError) as caught:
        router(default=default)
    assert [str(i) for i in caught.value.issues] == [
        "jobs/default: output[0].with.nest: a `nest` job names its `table`"
    ]


def test_a_broken_chain_is_refused_naming_the_child_job() -> None:
    items = LINES.replace("lines", "items").replace("table: orders", "table: lines").replace("line_id", "item_id")
    with pytest.raises(ConfigError) as caught:
        router(lines=LINES, items=items)
    assert [str(i) for i in caught.value.issues] == [
        "jobs/items: output: table `items`: `nest.parent_key` is `id` but its parent `lines` is nested itself and "
        "is identified by its `nesting_key` `line_id`; name that column"
    ]
