"""Tables, keys and types read from the real PostgreSQL catalog. Each test works in its own schema."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from psycopg import sql

from rdi.collectors.pg_catalog import TableInfo, load_table, load_tables, load_types
from rdi.collectors.pg_types import BUILTIN_ARRAYS, PgColumn, TypeInfo
from rdi.config.sources import TableSpec

pytestmark = pytest.mark.postgres


@dataclass(frozen=True)
class Scratch:
    conn: psycopg.Connection[Any]
    schema: str

    def run(self, statement: str) -> None:
        self.conn.execute(sql.SQL(statement).format(s=sql.Identifier(self.schema)))

    def relid(self, table: str) -> int:
        row = self.conn.execute("SELECT %s::regclass::oid", [f'"{self.schema}"."{table}"']).fetchone()
        assert row is not None
        return int(row[0])

    def type_oid(self, name: str) -> int:
        row = self.conn.execute("SELECT %s::regtype::oid", [f'"{self.schema}"."{name}"']).fetchone()
        assert row is not None
        return int(row[0])


@pytest.fixture
def scratch(pg_dsn: str) -> Iterator[Scratch]:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        box = Scratch(conn, f"cat_{uuid.uuid4().hex[:10]}")
        box.run("CREATE SCHEMA {s}")
        try:
            yield box
        finally:
            box.run("DROP SCHEMA {s} CASCADE")


def test_columns_in_table_order_without_dropped_or_generated_ones_and_the_primary_key_in_index_order(
    scratch: Scratch,
) -> None:
    scratch.run(
        "CREATE TABLE {s}.orders (a int, gone text, b text NOT NULL, price numeric(10,2),"
        " total numeric GENERATED ALWAYS AS (price * 2) STORED, tags text[], PRIMARY KEY (b, a))"
    )
    scratch.run("ALTER TABLE {s}.orders DROP COLUMN gone")
    assert load_tables(scratch.conn, schemas=[scratch.schema]) == [
        TableInfo(
            relid=scratch.relid("orders"),
            schema=scratch.schema,
            name="orders",
            columns=[
                PgColumn("a", 23, -1, "int4", True),
                PgColumn("b", 25, -1, "text", True),
                PgColumn("price", 1700, 655366, "numeric", False),
                PgColumn("tags", 1009, -1, "_text", False),
            ],
            primary_key=["b", "a"],
            replica_identity="d",
        )
    ]


def test_replica_identity_full_keeps_the_real_primary_key(scratch: Scratch) -> None:
    scratch.run("CREATE TABLE {s}.t (id int PRIMARY KEY, name text)")
    scratch.run("ALTER TABLE {s}.t REPLICA IDENTITY FULL")
    (table,) = load_tables(scratch.conn, schemas=[scratch.schema])
    assert (table.primary_key, table.replica_identity) == (["id"], "f")


def test_keyless_table_has_an_empty_key(scratch: Scratch) -> None:
    scratch.run("CREATE TABLE {s}.log (line text)")
    assert [t.primary_key for t in load_tables(scratch.conn, schemas=[scratch.schema])] == [[]]


def test_tables_select_by_qualified_and_bare_names_and_skip_missing_ones(scratch: Scratch) -> None:
    scratch.run("CREATE TABLE {s}.a (id int PRIMARY KEY)")
    scratch.run("CREATE TABLE {s}.b (id int PRIMARY KEY)")
    scratch.run("CREATE TABLE {s}.c (id int PRIMARY KEY)")
    tables: dict[str, TableSpec | None] = {f"{scratch.schema}.a": None, "c": None, "missing": None}
    assert [t.name for t in load_tables(scratch.conn, schemas=[scratch.schema], tables=tables)] == ["a", "c"]


def test_column_selection_keeps_the_key_columns_in_table_order(scratch: Scratch) -> None:
    scratch.run("CREATE TABLE {s}.t (id int PRIMARY KEY, a text, b text, c text)")
    tables = {"t": TableSpec(columns=["c", "a"])}
    (table,) = load_tables(scratch.conn, schemas=[scratch.schema], tables=tables)
    assert [c.name for c in table.columns] == ["id", "a", "c"]


def test_configured_keys_replace_the_primary_key(scratch: Scratch) -> None:
    scratch.run("CREATE TABLE {s}.t (code text NOT NULL, region text NOT NULL, qty int)")
    tables = {"t": TableSpec(keys=["region", "code"])}
    (table,) = load_tables(scratch.conn, schemas=[scratch.schema], tables=tables)
    assert table.primary_key == ["region", "code"]


def test_unknown_selected_column_is_a_one_line_error(scratch: Scratch) -> None:
    scratch.run("CREATE TABLE {s}.t (id int PRIMARY KEY)")
    expected = f"table `{scratch.schema}.t` has no column `nope` (listed in `columns`)"
    with pytest.raises(ValueError, match=re.escape(expected)):
        load_tables(scratch.conn, schemas=[scratch.schema], tables={"t": TableSpec(columns=["nope"])})


def test_partitioned_table_is_captured_without_its_partitions(scratch: Scratch) -> None:
    scratch.run("CREATE TABLE {s}.events (id int, day date, PRIMARY KEY (id, day)) PARTITION BY RANGE (day)")
    scratch.run("CREATE TABLE {s}.events_2024 PARTITION OF {s}.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')")
    assert [t.name for t in load_tables(scratch.conn, schemas=[scratch.schema])] == ["events"]


def test_load_table_by_relid_applies_the_spec(scratch: Scratch) -> None:
    scratch.run("CREATE TABLE {s}.t (id int PRIMARY KEY, a text, b text)")
    table = load_table(scratch.conn, scratch.relid("t"), TableSpec(columns=["b"]))
    assert table == TableInfo(
        scratch.relid("t"),
        scratch.schema,
        "t",
        [PgColumn("id", 23, -1, "int4", True), PgColumn("b", 25, -1, "text", False)],
        ["id"],
        "d",
    )


def test_load_table_of_an_unknown_relid_is_none(scratch: Scratch) -> None:
    assert load_table(scratch.conn, 4_000_000_000) is None


def test_types_resolve_arrays_enums_and_domains_recursively(scratch: Scratch) -> None:
    scratch.run("CREATE TYPE {s}.mood AS ENUM ('sad', 'happy')")
    scratch.run("CREATE DOMAIN {s}.posint AS integer CHECK (VALUE > 0)")
    scratch.run("CREATE DOMAIN {s}.ts3 AS timestamp(3)")
    mood, posint, ts3 = scratch.type_oid("mood"), scratch.type_oid("posint"), scratch.type_oid("ts3")
    mood_array, posint_array = scratch.type_oid("_mood"), scratch.type_oid("_posint")
    s = scratch.schema
    assert load_types(scratch.conn, [mood_array, posint_array, ts3]) == {
        mood_array: TypeInfo(mood_array, "_mood", "a", s, element_oid=mood),
        mood: TypeInfo(mood, "mood", "e", s),
        posint_array: TypeInfo(posint_array, "_posint", "a", s, element_oid=posint),
        posint: TypeInfo(posint, "posint", "d", s, base_oid=23),
        23: TypeInfo(23, "int4", "b"),
        ts3: TypeInfo(ts3, "ts3", "d", s, base_oid=1114, base_typmod=3),
        1114: TypeInfo(1114, "timestamp", "b"),
    }


def test_builtin_array_table_agrees_with_pg_type(scratch: Scratch) -> None:
    rows = scratch.conn.execute(
        "SELECT a.oid::int, e.oid::int FROM pg_type a JOIN pg_type e ON e.typarray = a.oid WHERE a.oid = ANY(%s)",
        [list(BUILTIN_ARRAYS)],
    ).fetchall()
    assert dict(rows) == dict(BUILTIN_ARRAYS)
