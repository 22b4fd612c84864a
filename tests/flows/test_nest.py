"""Nested JSON documents under CDC: customers → orders → order_lines (two levels) and invoice → invoice_line
(RDI's example shape), built by the real collector and the real ``flows.ingest`` from a random concurrent workload
— inserts, updates, deletes, foreign keys moved to other (sometimes absent) parents, parents deleted and
re-inserted — while the processor is SIGKILLed at random points. At the end every document equals the one a plain
SQL query builds from the source tables. No foreign-key constraints and the default replica identity: children
arrive before their parents and deletes carry only the key, as CDC of real schemas does."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from psycopg import sql

from ._ingest import Change, Ingest, Load, running_ingest, same_rows

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

JOBS = {
    "customers": """
source: {table: customers}
output:
  - uses: redis.write
    with: {data_type: json}
""",
    "orders": """
source: {table: orders}
output:
  - uses: redis.write
    with:
      nest: {parent: {table: customers}, parent_key: customer_id, nesting_key: order_id, path: $.orders}
""",
    "order_lines": """
source: {table: order_lines}
output:
  - uses: redis.write
    with:
      nest: {parent: {table: orders}, parent_key: order_id, nesting_key: line_id, path: $.lines}
""",
    "invoice": """
source: {table: invoice}
output:
  - uses: redis.write
    with: {data_type: json, on_update: merge}
""",
    "invoice_line": """
source: {table: invoice_line}
output:
  - uses: redis.write
    with:
      data_type: json
      on_update: merge
      mapping: [line_id, invoice_id, {amount: price.amount}]
      nest: {parent: {table: invoice}, parent_key: invoice_id, nesting_key: line_id, path: $.lines}
""",
    "invoice_note": """
source: {table: invoice_note}
output:
  - uses: redis.write
    with:
      data_type: json
      on_update: merge
      key: {expression: "concat(['invoice:invoice_id:', invoice_id])", language: jmespath}
      mapping: [{note: memo.text}]
""",
    "shipment": """
source: {table: shipment}
transform:
  - uses: redis.lookup
    with:
      cmd: JSON.GET
      args: ["concat(['customers:customer_id:', customer_id])", "'$.name'"]
      language: jmespath
      field: customer_name
  - uses: redis.lookup
    with:
      cmd: HGETALL
      args: ["concat(['carrier:', carrier])"]
      language: jmespath
      field: carrier_info
      batch: {size: 3}
output:
  - uses: redis.write
    with: {data_type: json}
""",
}

TABLES = {
    "customers": "customer_id int PRIMARY KEY, name text NOT NULL",
    "orders": "order_id int PRIMARY KEY, customer_id int NOT NULL, total numeric(10, 2) NOT NULL",
    "order_lines": "line_id int PRIMARY KEY, order_id int NOT NULL, sku text NOT NULL, qty int NOT NULL",
    "invoice": "invoice_id int PRIMARY KEY, total int NOT NULL",
    "invoice_line": "line_id int PRIMARY KEY, invoice_id int NOT NULL, amount int NOT NULL",
    "invoice_note": "invoice_id int PRIMARY KEY, note text NOT NULL",
    "shipment": "ship_id int PRIMARY KEY, customer_id int NOT NULL, carrier text NOT NULL",
}

# (table, key column, id range, foreign key column, parent id range — wider than the parents: some are absent)
SHAPE = {
    "customers": ("customer_id", 40, None, 0),
    "orders": ("order_id", 150, "customer_id", 45),
    "order_lines": ("line_id", 500, "order_id", 160),
    "invoice": ("invoice_id", 30, None, 0),
    "invoice_line": ("line_id", 200, "invoice_id", 33),
}

CUSTOMERS = """
SELECT 'customers:customer_id:' || c.customer_id, jsonb_build_object(
  'customer_id', c.customer_id, 'name', c.name, 'orders', coalesce((
    SELECT jsonb_object_agg(o.order_id::text, jsonb_build_object(
      'order_id', o.order_id, 'customer_id', o.customer_id, 'total', o.total::text, 'lines', coalesce((
        SELECT jsonb_object_agg(l.line_id::text, to_jsonb(l)) FROM {s}.order_lines l WHERE l.order_id = o.order_id
      ), '{{}}')))
    FROM {s}.orders o WHERE o.customer_id = c.customer_id
  ), '{{}}'))
FROM {s}.customers c
"""

INVOICES = """
SELECT 'invoice:invoice_id:' || i.invoice_id, to_jsonb(i) || jsonb_build_object('lines', coalesce((
  SELECT jsonb_object_agg(l.line_id::text, jsonb_build_object(
    'line_id', l.line_id, 'invoice_id', l.invoice_id, 'price', jsonb_build_object('amount', l.amount)))
  FROM {s}.invoice_line l WHERE l.invoice_id = i.invoice_id
), '{{}}'))
FROM {s}.invoice i
"""


def changes(schema: str) -> Change:
    """1..8 random changes per transaction, for :class:`Load`."""

    def run(conn: psycopg.Connection[Any], rng: random.Random) -> None:
        for _ in range(rng.randint(1, 8)):
            change(conn, schema, rng)

    return run


def change(conn: psycopg.Connection[Any], schema: str, rng: random.Random) -> None:
    """One random change: an upsert (a new row, or an update that may move it to another parent) or a delete."""
    table = rng.choice(list(SHAPE))
    key, ids, fk, parents = SHAPE[table]
    row_id = rng.randint(1, ids)
    name = sql.Identifier(schema, table)
    if rng.random() < 0.2:
        conn.execute(sql.SQL("DELETE FROM {} WHERE {} = %s").format(name, sql.Identifier(key)), [row_id])
        return
    values: dict[str, Any] = {key: row_id}
    if fk is not None:
        values[fk] = rng.randint(1, parents)
    values.update(
        {
            "customers": {"name": f"c{rng.randint(0, 999)}"},
            "orders": {"total": f"{rng.randint(0, 99999) / 100:.2f}"},
            "order_lines": {"sku": rng.choice("abcdef"), "qty": rng.randint(1, 9)},
            "invoice": {"total": rng.randint(0, 999)},
            "invoice_line": {"amount": rng.randint(0, 99)},
        }[table]
    )
    if fk is not None and rng.random() < 0.5:  # half the updates keep the row under its parent
        values.pop(fk)
        if rng.random() < 0.5:
            cols = [c for c in values if c != key]
            conn.execute(
                sql.SQL("UPDATE {} SET {} WHERE {} = %s").format(
                    name,
                    sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in cols),
                    sql.Identifier(key),
                ),
                [*(values[c] for c in cols), row_id],
            )
            return
        values[fk] = rng.randint(1, parents)
    cols = list(values)
    conn.execute(
        sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {}").format(
            name,
            sql.SQL(", ").join(map(sql.Identifier, cols)),
            sql.SQL(", ").join(sql.Placeholder() * len(cols)),
            sql.Identifier(key),
            sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in cols if c != key),
        ),
        [values[c] for c in cols],
    )


@pytest.fixture
def run(pg_dsn: str, redis_url: str, tmp_path: Path) -> Iterator[Ingest]:
    with running_ingest(pg_dsn, redis_url, tmp_path, jobs=JOBS, start=False) as ingest:
        for table, columns in TABLES.items():
            ingest.sql(f"CREATE TABLE {{s}}.{table} ({columns})")
        rng = random.Random(5)
        for _ in range(600):  # the snapshot's share
            change(ingest.conn, ingest.schema, rng)
        yield ingest


def expected_documents(run: Ingest) -> dict[str, Any]:
    docs = {}
    for query in (CUSTOMERS, INVOICES):
        for key, doc in run.conn.execute(sql.SQL(query).format(s=sql.Identifier(run.schema))):  # type: ignore[arg-type]
            docs[key] = doc
    return docs


def actual_documents(run: Ingest) -> dict[str, Any]:
    docs = {}
    for pattern in ("customers:customer_id:*", "invoice:invoice_id:*"):
        for key in run.db.scan_iter(match=pattern, count=1000):
            text = run.db.execute_command("JSON.GET", key, "$")  # type: ignore[no-untyped-call]
            docs[key.decode()] = orjson.loads(text)[0]
    return docs


def test_documents_equal_the_sql_join_after_random_sigkills(run: Ingest) -> None:
    rng = random.Random(20261128)
    run.start_collector()
    with Load(run, changes(run.schema), seed=11) as load:
        for kill in range(12):
            run.start_processor("-w", "2" if kill % 2 else "1")
            time.sleep(rng.uniform(0.5, 3.5))  # startup takes ~1 s: kills land while starting and while writing
            run.kill("processor")
    assert load.ops > 0
    run.start_processor("-w", "2")
    run.settle(180)
    expected, actual = expected_documents(run), actual_documents(run)
    assert same_rows(expected, actual) == (len(expected), [], [], []), run.log.read_text()[-3000:]
    nested = sum(len(o["lines"]) for d in actual.values() for o in d.get("orders", {}).values())
    assert nested > 100  # the documents are deep, not trivially empty


def test_children_before_parents_and_key_only_deletes_through_the_flow(run: Ingest) -> None:
    run.start_collector()
    run.start_processor()
    run.settle(120)
    run.sql("INSERT INTO {s}.order_lines VALUES (9001, 9000, 'z', 1), (9002, 9000, 'y', 2)")
    run.settle(60)
    run.sql("INSERT INTO {s}.orders VALUES (9000, 900, 1.50)")
    run.settle(60)
    run.sql("INSERT INTO {s}.customers VALUES (900, 'late')")
    run.sql("DELETE FROM {s}.order_lines WHERE line_id = 9002")
    run.settle(60)
    assert actual_documents(run)["customers:customer_id:900"] == {
        "customer_id": 900,
        "name": "late",
        "orders": {
            "9000": {
                "order_id": 9000,
                "customer_id": 900,
                "total": "1.50",
                "lines": {"9001": {"line_id": 9001, "order_id": 9000, "sku": "z", "qty": 1}},
            }
        },
    }


def test_one_to_one_merges_into_the_nested_document_and_a_delete_removes_the_key_as_rdi(run: Ingest) -> None:
    run.start_collector()
    run.start_processor()
    run.settle(120)
    run.sql("INSERT INTO {s}.invoice VALUES (800, 5)")
    run.sql("INSERT INTO {s}.invoice_line VALUES (8001, 800, 5)")
    run.sql("INSERT INTO {s}.invoice_note VALUES (800, 'paid')")
    run.settle(60)
    merged = actual_documents(run)["invoice:invoice_id:800"]
    run.sql("UPDATE {s}.invoice SET total = 6 WHERE invoice_id = 800")
    run.settle(60)
    updated = actual_documents(run)["invoice:invoice_id:800"]
    run.sql("DELETE FROM {s}.invoice_note WHERE invoice_id = 800")
    run.settle(60)
    line = {"line_id": 8001, "invoice_id": 800, "price": {"amount": 5}}
    assert (merged, updated, "invoice:invoice_id:800" in actual_documents(run)) == (
        {"invoice_id": 800, "total": 5, "lines": {"8001": line}, "memo": {"text": "paid"}},
        {"invoice_id": 800, "total": 6, "lines": {"8001": line}, "memo": {"text": "paid"}},
        False,
    )


def test_lookups_read_documents_the_pipeline_wrote_and_hashes_in_the_target(run: Ingest) -> None:
    run.db.hset("carrier:dhl", mapping={"name": "DHL", "eta_days": "2"})
    run.start_collector()
    run.start_processor()
    run.sql("INSERT INTO {s}.customers VALUES (700, 'Zoe')")
    run.settle(120)
    run.sql("INSERT INTO {s}.shipment SELECT i, 700, 'dhl' FROM generate_series(1, 10) i")
    run.settle(60)
    shipments = {}
    for i in (1, 10):
        text = run.db.execute_command("JSON.GET", f"shipment:ship_id:{i}", "$")  # type: ignore[no-untyped-call]
        shipments[i] = orjson.loads(text)[0]
    carrier = {"name": "DHL", "eta_days": "2"}
    assert shipments == {
        i: {"ship_id": i, "customer_id": 700, "carrier": "dhl", "customer_name": ["Zoe"], "carrier_info": carrier}
        for i in (1, 10)
    }
