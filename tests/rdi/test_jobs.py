"""Routing an event to its job and planning its writes (rdi/jobs.py), from literal events and job files."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest

from rdi.config import load_job_text
from rdi.errors import BadRecordError
from rdi.events import ChangeEvent, decode_event
from rdi.jobs import DEFAULT_MAPPING, JobRouter, LookupRequest
from rdi.writers.redis import WriteDefaults

HASH = WriteDefaults()


def event(table: str, op: str, after: dict[str, Any] | None, before: dict[str, Any] | None = None,
          key: dict[str, Any] | None = None, schema: str = "public") -> ChangeEvent:  # fmt: skip
    value = {
        "before": before, "after": after, "op": op, "ts_ms": 1,
        "source": {"connector": "postgresql", "name": "rdi", "db": "shop", "schema": schema, "table": table},
    }  # fmt: skip
    decoded = decode_event(orjson.dumps(key or {"id": (after or before or {})["id"]}), orjson.dumps(value))
    assert decoded is not None
    return decoded


def router(*jobs: str, defaults: WriteDefaults = HASH) -> JobRouter:
    loaded = [load_job_text(text, f"job{i}.yaml") for i, text in enumerate(jobs)]
    return JobRouter({job.name or f"job{i}": job for i, job in enumerate(loaded)}, defaults)


ORDERS_JSON = """
name: orders
source: {schema: PUBLIC, table: Orders}
output:
  - uses: redis.write
    with: {data_type: json}
"""

DEFAULT_JOB = """
name: everything
source: {table: "*"}
transform:
  - uses: add_field
    with: {field: origin, language: jmespath, expression: "'rdi'"}
output:
  - uses: redis.write
"""


def test_event_goes_to_its_job_matched_case_insensitively() -> None:
    result = router(ORDERS_JSON).job_for(event("orders", "c", {"id": 1})).apply(event("orders", "c", {"id": 1}))
    assert (result.job, [o.commands for o in result.outputs]) == (
        "orders",
        [[("JSON.SET", "orders:id:1", "$", '{"id":1}')]],
    )


def test_case_sensitive_job_does_not_match_other_case() -> None:
    job = ORDERS_JSON.replace("table: Orders}", "table: Orders, case_insensitive: false}")
    assert router(job).job_for(event("orders", "c", {"id": 1})).name == DEFAULT_MAPPING


def test_table_without_job_goes_to_the_default_job() -> None:
    r = router(ORDERS_JSON, DEFAULT_JOB)
    result = r.job_for(event("customers", "r", {"id": 4, "name": "Ann"})).apply(
        event("customers", "r", {"id": 4, "name": "Ann"})
    )
    assert (result.job, [o.commands for o in result.outputs]) == (
        "everything",
        [[("HSET", "customers:id:4", "id", "4", "name", "Ann", "origin", "rdi")]],
    )


def test_without_any_job_the_built_in_mapping_uses_target_data_type() -> None:
    r = JobRouter({}, WriteDefaults(target_data_type="json"))
    results = r.apply([event("customers", "c", {"id": 4, "vip": True}), event("customers", "d", None, {"id": 4})])
    assert [(res.job, [o.commands for o in res.outputs]) for res in results] == [
        (DEFAULT_MAPPING, [[("JSON.SET", "customers:id:4", "$", '{"id":4,"vip":true}')]]),
        (DEFAULT_MAPPING, [[("DEL", "customers:id:4")]]),
    ]


def test_update_that_changes_a_custom_key_removes_the_old_key() -> None:
    job = """
name: users
source: {table: users}
output:
  - uses: redis.write
    with:
      key: {language: jmespath, expression: "concat(['user:', email])"}
"""
    before, after = {"id": 1, "email": "a@x"}, {"id": 1, "email": "b@x"}
    result = router(job).apply([event("users", "u", after, before)])[0]
    assert [o.commands for o in result.outputs] == [
        [("DEL", "user:a@x"), ("HSET", "user:b@x", "id", "1", "email", "b@x")]
    ]


def test_legacy_job_level_key_sets_the_key_of_outputs_without_one() -> None:
    job = """
name: legacy
source: {table: users}
key: {language: jmespath, expression: "concat(['u:', to_string(id)])"}
output:
  - uses: redis.write
"""
    result = router(job).apply([event("users", "c", {"id": 9})])[0]
    assert [o.commands for o in result.outputs] == [[("HSET", "u:9", "id", "9")]]


def test_lookup_is_answered_by_the_caller_and_stored_in_its_field() -> None:
    job = """
name: orders
source: {table: orders}
transform:
  - uses: redis.lookup
    with:
      connection: target
      cmd: HGET
      args: ["concat(['customer:', to_string(customer_id)])", "'name'"]
      language: jmespath
      field: customer_name
output:
  - uses: redis.write
    with:
      data_type: json
"""
    asked: list[tuple[str, tuple[str, ...]]] = []

    def lookup(connection: str, command: tuple[str, ...]) -> Any:
        asked.append((connection, command))
        return b"Ann"

    r = router(job)
    result = r.job_for(event("orders", "c", {"id": 1})).apply(event("orders", "c", {"id": 1, "customer_id": 7}), lookup)
    assert (asked, [o.commands for o in result.outputs]) == (
        [("target", ("HGET", "customer:7", "name"))],
        [[("JSON.SET", "orders:id:1", "$", '{"id":1,"customer_id":7,"customer_name":"Ann"}')]],
    )


def test_filtered_record_plans_nothing() -> None:
    job = """
name: orders
source: {table: orders}
transform:
  - uses: filter
    with: {language: sql, expression: "status <> 'draft'"}
output:
  - uses: redis.write
"""
    result = router(job).apply([event("orders", "c", {"id": 1, "status": "draft"})])[0]
    assert (result.filtered, result.outputs) == (True, [])


def test_full_row_format_opcode_rewrite_turns_a_delete_into_a_write() -> None:
    job = """
name: orders
source: {table: orders, row_format: full}
transform:
  - uses: add_field
    with:
      fields:
        - {field: after, language: jmespath, expression: "before"}
        - {field: after.deleted, language: jmespath, expression: "`true`"}
        - {field: opcode, language: jmespath, expression: "'u'"}
output:
  - uses: redis.write
    with:
      key: {language: jmespath, expression: "concat(['order:', to_string(key.id)])"}
"""
    result = router(job).apply([event("orders", "d", None, {"id": 3, "status": "paid"})])[0]
    assert [o.commands for o in result.outputs] == [[("HSET", "order:3", "id", "3", "status", "paid", "deleted", "1")]]


KEYED_BY_CUSTOMER = """
name: orders
source: {table: orders}
transform:
  - uses: redis.lookup
    with: {cmd: GET, args: ["concat(['customer:', to_string(customer_id)])"], language: jmespath, field: customer}
output:
  - uses: redis.write
    with: {data_type: hash, key: {expression: "concat(['order:', customer, ':', to_string(id)])", language: jmespath}}
"""


def test_steps_pause_at_each_lookup_the_before_image_last_and_return_what_apply_does() -> None:
    update = event("orders", "u", {"id": 1, "customer_id": 8}, before={"id": 1, "customer_id": 7})
    job = router(KEYED_BY_CUSTOMER).job_for(update)
    replies = {("GET", "customer:7"): b"Ann", ("GET", "customer:8"): b"Bob"}
    run = job.steps(update)
    requests = [next(run)]
    try:
        while True:
            requests.append(run.send(replies[requests[-1].command]))
    except StopIteration as stop:
        result = stop.value
    assert (requests, result) == (
        [LookupRequest("target", ("GET", "customer:8"), 200),
         LookupRequest("target", ("GET", "customer:7"), 200)],
        job.apply(update, lambda connection, command: replies[command]),
    )  # fmt: skip


def test_a_bad_record_reply_is_raised_as_it_is() -> None:
    created = event("orders", "c", {"id": 1, "customer_id": 7})
    job = router(KEYED_BY_CUSTOMER).job_for(created)
    with pytest.raises(BadRecordError, match=re.escape("lookup `GET` on target `target` failed: WRONGTYPE")):
        job.apply(
            created, lambda connection, command: BadRecordError("lookup `GET` on target `target` failed: WRONGTYPE")
        )


def test_a_job_without_lookups_says_so() -> None:
    assert [router(ORDERS_JSON).jobs[0].has_lookups, router(KEYED_BY_CUSTOMER).jobs[0].has_lookups] == [False, True]
