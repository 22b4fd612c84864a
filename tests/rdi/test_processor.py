"""One batch of staging entries through the pure processor (rdi/processor.py): writes, rejections, counts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from rdi.config import Pipeline, load_config_text, load_job_text
from rdi.errors import BadRecordError
from rdi.processor import BatchCounts, Processor, StreamBatch, dlq_fields
from rdi.writers.redis import Command

CONFIG = """
sources:
  pg: {type: cdc, connection: {type: postgresql, host: localhost, port: 5432, database: shop, user: u, password: p}}
targets:
  target: {connection: {type: redis, host: localhost, port: 6379}}
  cache: {connection: {type: redis, host: localhost, port: 6380}}
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


# -- redis.lookup: the lookups of a batch go out together, a wave per lookup step ---------------------------

CUSTOMER_NAME = """
name: orders
source: {table: orders}
transform:
  - uses: redis.lookup
    with:
      cmd: HGET
      args: ["concat(['customer:', to_string(customer_id)])", "'name'"]
      language: jmespath
      field: customer
output:
  - uses: redis.write
"""

FILTER_THEN_LOOKUP = """
name: orders
source: {table: orders}
transform:
  - uses: filter
    with: {language: sql, expression: customer_id > 0}
  - uses: redis.lookup
    with: {cmd: GET, args: ["concat(['customer:', to_string(customer_id)])"], language: jmespath, field: customer}
output:
  - uses: redis.write
"""

TWO_LOOKUPS = """
name: orders
source: {table: orders}
transform:
  - uses: redis.lookup
    with: {cmd: GET, args: ["concat(['customer:', to_string(customer_id)])"], language: jmespath, field: customer}
  - uses: redis.lookup
    with: {connection: cache, cmd: GET, args: ["concat(['rate:', customer])"], language: jmespath, field: rate}
output:
  - uses: redis.write
"""

SMALL_LOOKUP_BATCHES = """
name: orders
source: {table: orders}
transform:
  - uses: redis.lookup
    with:
      cmd: GET
      args: ["concat(['customer:', to_string(customer_id)])"]
      language: jmespath
      field: customer
      batch: {size: 2, timeout_ms: 100}
output:
  - uses: redis.write
"""

KEYED_BY_LOOKUP = """
name: orders
source: {table: orders}
transform:
  - uses: redis.lookup
    with: {cmd: GET, args: ["concat(['customer:', to_string(customer_id)])"], language: jmespath, field: customer}
output:
  - uses: redis.write
    with: {data_type: hash, key: {expression: "concat(['order:', customer, ':', to_string(id)])", language: jmespath}}
"""

WRONGTYPE = "lookup `HGET` on target `target` failed: WRONGTYPE Operation against a key holding the wrong kind of value"


class Targets:
    """A `LookupBatch` answering from ``replies`` (missing keys: ``None``) and recording each call."""

    def __init__(self, replies: dict[tuple[str, ...], Any]) -> None:
        self.replies = replies
        self.calls: list[tuple[str, list[tuple[str, ...]]]] = []

    def __call__(self, connection: str, commands: Sequence[tuple[str, ...]]) -> list[Any]:
        self.calls.append((connection, list(commands)))
        return [self.replies.get(command) for command in commands]


def order(id_: int, customer_id: int, op: str = "c") -> dict[bytes, bytes]:
    return entry("orders", op, {"id": id_, "customer_id": customer_id})


def test_lookups_of_a_batch_are_sent_in_one_call() -> None:
    targets = Targets({("HGET", "customer:7", "name"): b"Ann", ("HGET", "customer:8", "name"): b"Bob"})
    done = Processor(pipeline(CUSTOMER_NAME)).process(batch(order(1, 7), order(2, 8), order(3, 7)), lookup=targets)
    assert (targets.calls, done.writes) == (
        [("target", [("HGET", "customer:7", "name"), ("HGET", "customer:8", "name"), ("HGET", "customer:7", "name")])],
        {
            "target": [
                (0, Command("HSET", "orders:id:1", "id", "1", "customer_id", "7", "customer", "Ann")),
                (1, Command("HSET", "orders:id:2", "id", "2", "customer_id", "8", "customer", "Bob")),
                (2, Command("HSET", "orders:id:3", "id", "3", "customer_id", "7", "customer", "Ann")),
            ]
        },
    )


def test_a_job_with_two_lookups_takes_two_waves() -> None:
    targets = Targets(
        {
            ("GET", "customer:7"): b"Ann",
            ("GET", "customer:8"): b"Bob",
            ("GET", "rate:Ann"): b"3",
            ("GET", "rate:Bob"): b"2",
        }
    )
    done = Processor(pipeline(TWO_LOOKUPS)).process(batch(order(1, 7), order(2, 8)), lookup=targets)
    assert (targets.calls, [command[-4:] for _, command in done.writes["target"]]) == (
        [
            ("target", [("GET", "customer:7"), ("GET", "customer:8")]),
            ("cache", [("GET", "rate:Ann"), ("GET", "rate:Bob")]),
        ],
        [("customer", "Ann", "rate", "3"), ("customer", "Bob", "rate", "2")],
    )


def test_an_error_reply_rejects_only_its_entry_with_the_targets_reason() -> None:
    targets = Targets(
        {("HGET", "customer:7", "name"): b"Ann", ("HGET", "customer:8", "name"): BadRecordError(WRONGTYPE)}
    )
    done = Processor(pipeline(CUSTOMER_NAME)).process(batch(order(1, 8), order(2, 7)), lookup=targets)
    assert (
        [(r.entry_id, r.job, r.reason) for r in done.rejected],
        done.counts,
        [i for i, _ in done.writes["target"]],
    ) == (
        [(b"1-0", "orders", WRONGTYPE)],
        BatchCounts(incoming=2, processed=1, rejected=1, inserted=1),
        [1],
    )


def test_an_exception_reply_fails_the_lookup_step() -> None:
    targets = Targets({("HGET", "customer:7", "name"): ValueError("no such thing")})
    done = Processor(pipeline(CUSTOMER_NAME)).process(batch(order(1, 7)), lookup=targets)
    assert [r.reason for r in done.rejected] == [
        "transform[0] (redis.lookup `customer`): `HGET` failed: no such thing (transform[0])"
    ]


def test_a_record_filtered_before_its_lookup_is_not_looked_up() -> None:
    targets = Targets({("GET", "customer:7"): b"Ann"})
    done = Processor(pipeline(FILTER_THEN_LOOKUP)).process(batch(order(1, 0), order(2, 7)), lookup=targets)
    assert (targets.calls, done.counts) == (
        [("target", [("GET", "customer:7")])],
        BatchCounts(incoming=2, processed=1, filtered=1, inserted=1),
    )


def test_writes_and_rejections_keep_entry_order_around_lookups() -> None:
    targets = Targets(
        {("HGET", "customer:7", "name"): b"Ann", ("HGET", "customer:8", "name"): BadRecordError(WRONGTYPE)}
    )
    done = Processor(pipeline(CUSTOMER_NAME)).process(
        batch(
            order(1, 7),
            entry("users", "c", {"id": 5}),
            order(2, 8),
            {b"key": b"{}", b"value": b"not json"},
            order(3, 7),
            entry("users", "d", {"id": 5}),
        ),
        lookup=targets,
    )
    assert ([(i, c[:2]) for i, c in done.writes["target"]], [r.entry_id for r in done.rejected]) == (
        [
            (0, ("HSET", "orders:id:1")),
            (1, ("HSET", "users:id:5")),
            (4, ("HSET", "orders:id:3")),
            (5, ("DEL", "users:id:5")),
        ],
        [b"1-2", b"1-3"],
    )


def test_a_lookup_pipeline_holds_at_most_the_steps_batch_size() -> None:
    targets = Targets({})
    Processor(pipeline(SMALL_LOOKUP_BATCHES)).process(batch(*(order(i, i) for i in range(5))), lookup=targets)
    assert [len(commands) for _, commands in targets.calls] == [2, 2, 1]


def test_the_default_lookup_batch_size_is_rdis_200() -> None:
    targets = Targets({})
    Processor(pipeline(CUSTOMER_NAME)).process(batch(*(order(i, i) for i in range(450))), lookup=targets)
    assert [len(commands) for _, commands in targets.calls] == [200, 200, 50]


def test_an_update_looks_up_its_before_image_in_a_second_wave() -> None:
    update = orjson.dumps({
        "before": {"id": 1, "customer_id": 7}, "after": {"id": 1, "customer_id": 8}, "op": "u", "ts_ms": 1,
        "source": {"connector": "postgresql", "name": "pg", "db": "shop", "schema": "public", "table": "orders"},
    })  # fmt: skip
    targets = Targets({("GET", "customer:7"): b"Ann", ("GET", "customer:8"): b"Bob"})
    done = Processor(pipeline(KEYED_BY_LOOKUP)).process(batch({b"key": b'{"id": 1}', b"value": update}), lookup=targets)
    assert (targets.calls, [c[:2] for _, c in done.writes["target"]]) == (
        [("target", [("GET", "customer:8")]), ("target", [("GET", "customer:7")])],
        [("DEL", "order:Ann:1"), ("HSET", "order:Bob:1")],
    )


USER_RATE = """
name: users
source: {table: users}
transform:
  - uses: redis.lookup
    with: {connection: cache, cmd: GET, args: ["concat(['rate:', to_string(id)])"], language: jmespath, field: rate}
output:
  - uses: redis.write
"""


def test_one_wave_makes_one_call_per_connection() -> None:
    targets = Targets({})
    Processor(pipeline(CUSTOMER_NAME, USER_RATE)).process(
        batch(order(1, 7), entry("users", "c", {"id": 5}), order(2, 8)), lookup=targets
    )
    assert targets.calls == [
        ("target", [("HGET", "customer:7", "name"), ("HGET", "customer:8", "name")]),
        ("cache", [("GET", "rate:5")]),
    ]
