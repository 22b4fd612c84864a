"""One batch of staging entries through the pure processor (rdi/processor.py): writes, rejections, counts."""

from __future__ import annotations

from typing import Any

import orjson

from rdi.config import Pipeline, load_config_text, load_job_text
from rdi.processor import BatchCounts, Processor, StreamBatch, dlq_fields
from rdi.writers.redis import Command

CONFIG = """
sources:
  pg: {type: cdc, connection: {type: postgresql, host: localhost, port: 5432, database: shop, user: u, password: p}}
targets:
  target: {connection: {type: redis, host: localhost, port: 6379}}
"""

FILTER_CHEAP = """
name: products
source: {table: products}
transform:
  - uses: filter
    with: {language: sql, expression: price > 10}
output:
  - uses: redis.write
    with: {data_type: hash, key: {expression: "concat(['product:', id])", language: jmespath}}
"""

EXPIRE_REASON = "`expire` expression `'soon'` gave \"soon\"; expected a non-negative whole number of seconds"

BAD_EXPIRE = """
name: orders
source: {table: orders}
output:
  - uses: redis.write
    with: {data_type: hash, expire: {expression: "'soon'", language: sql}}
"""


def pipeline(*jobs: str) -> Pipeline:
    loaded = [load_job_text(text, f"jobs/job{i}.yaml") for i, text in enumerate(jobs)]
    return Pipeline(load_config_text(CONFIG), {job.name or f"job{i}": job for i, job in enumerate(loaded)})


def entry(table: str, op: str, row: dict[str, Any], *, ts_ms: int = 1_700_000_000_000) -> dict[bytes, bytes]:
    image = {"before": row if op == "d" else None, "after": None if op == "d" else row}
    value = {
        **image, "op": op, "ts_ms": ts_ms,
        "source": {"connector": "postgresql", "name": "pg", "db": "shop", "schema": "public", "table": table},
    }  # fmt: skip
    return {b"key": orjson.dumps({"id": row["id"]}), b"value": orjson.dumps(value)}


def batch(*entries: dict[bytes, bytes], stream: str = "data:pg.public.t") -> StreamBatch:
    return StreamBatch(stream, [f"1-{i}".encode() for i in range(len(entries))], list(entries), read_at=0.0)


def test_default_mapping_writes_every_entry_in_order_and_counts_ops() -> None:
    done = Processor(pipeline()).process(
        batch(
            entry("users", "r", {"id": 1, "name": "a"}),
            entry("users", "u", {"id": 1, "name": "b"}),
            entry("users", "d", {"id": 1, "name": "b"}),
        )
    )
    assert (done.writes, done.counts, done.rejected) == (
        {
            "target": [
                (0, Command("HSET", "users:id:1", "id", "1", "name", "a")),
                (1, Command("HSET", "users:id:1", "id", "1", "name", "b")),
                (2, Command("DEL", "users:id:1")),
            ]
        },
        BatchCounts(incoming=3, processed=3, inserted=1, updated=1, deleted=1),
        [],
    )


def test_filtered_entries_are_counted_and_write_nothing() -> None:
    done = Processor(pipeline(FILTER_CHEAP)).process(
        batch(entry("products", "c", {"id": 1, "price": 5}), entry("products", "c", {"id": 2, "price": 50}))
    )
    assert (done.writes, done.counts) == (
        {"target": [(1, Command("HSET", "product:2", "id", "2", "price", "50"))]},
        BatchCounts(incoming=2, processed=1, filtered=1, inserted=1),
    )


def test_undecodable_entry_is_rejected_and_the_rest_goes_on() -> None:
    done = Processor(pipeline()).process(
        batch({b"key": b"{}", b"value": b"not json"}, entry("users", "c", {"id": 7, "name": "x"}))
    )
    assert (
        [(r.entry_id, r.reason) for r in done.rejected],
        done.counts,
        list(done.writes["target"]),
    ) == (
        [(b"1-0", "event value is not JSON: invalid literal, expected 'null': line 1 column 1 (char 0)")],
        BatchCounts(incoming=2, processed=1, rejected=1, inserted=1),
        [(1, Command("HSET", "users:id:7", "id", "7", "name", "x"))],
    )


def test_a_record_the_planner_refuses_is_rejected_with_its_job() -> None:
    done = Processor(pipeline(BAD_EXPIRE)).process(batch(entry("orders", "c", {"id": 1})))
    assert ([(r.job, r.reason) for r in done.rejected], done.counts, done.writes) == (
        [("orders", EXPIRE_REASON)],
        BatchCounts(incoming=1, rejected=1),
        {},
    )


def test_tombstones_count_as_processed_without_writes() -> None:
    done = Processor(pipeline()).process(batch({b"key": b'{"id": 1}', b"value": b"default"}))
    assert (done.writes, done.counts) == ({}, BatchCounts(incoming=1, processed=1))


def test_reject_after_a_failed_write_corrects_the_counts() -> None:
    done = Processor(pipeline()).process(
        batch(entry("users", "c", {"id": 1, "n": "a"}), entry("users", "u", {"id": 2, "n": "b"}))
    )
    rejected = done.reject(1, "WRONGTYPE Operation against a key holding the wrong kind of value (HSET)")
    assert (rejected.entry_id, rejected.job, done.counts) == (
        b"1-1",
        "<default mapping>",
        BatchCounts(incoming=2, processed=1, rejected=1, inserted=1),
    )


def test_dlq_entry_carries_the_original_entry_reason_and_coordinates() -> None:
    done = Processor(pipeline(BAD_EXPIRE)).process(batch(entry("orders", "c", {"id": 1})))
    fields = dlq_fields("data:pg.public.orders", done.rejected[0], now_ms=lambda: 42)
    assert {k: v for k, v in fields.items() if k not in ("key", "value")} == {
        "reason_rejected": EXPIRE_REASON,
        "source_stream": "data:pg.public.orders",
        "source_id": b"1-0",
        "rejected_at_ms": "42",
        "opcode": "c",
        "db": "shop",
        "schema": "public",
        "table": "orders",
        "job": "orders",
    }


def test_dlq_entry_of_an_undecodable_event_names_what_it_can() -> None:
    value = b'{"op": "x", "source": {"db": "shop", "table": "orders"}}'
    done = Processor(pipeline()).process(batch({b"key": b"{}", b"value": value}))
    fields = dlq_fields("data:s", done.rejected[0], now_ms=lambda: 1)
    assert (fields["reason_rejected"], fields["opcode"], fields["table"], "schema" in fields) == (
        'event has unknown op "x"; expected c, u, d, r, t or m',
        "x",
        "orders",
        False,
    )
