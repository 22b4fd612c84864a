"""Snapshot sessions and key-ordered chunks against the real PostgreSQL test service.

Each test works in its own schema (and slot, when it exports a snapshot) and drops it afterwards. Text keys are
declared ``COLLATE "C"`` so the expected order is the byte order written here.
"""

from __future__ import annotations

import re

import psycopg
import pytest
from psycopg import sql

from rdi.collectors.pg_replication import ReplicationConnection, drop_slot
from rdi.collectors.pg_snapshot import (
    SnapshotChunk,
    TextRow,
    estimate_rows,
    open_snapshot_session,
    read_chunk,
    read_table,
)
from rdi.errors import ConfigError, FatalError

from ._scratch import Scratch  # the `scratch` fixture is in conftest.py

pytestmark = pytest.mark.postgres


KEYED = [
    ("a", "1", "plain"),
    ("a", "O'Brien", "quote"),
    ("a", 'say "hi"', "double quote"),
    ("a", "x,y(z)\\", "row syntax"),
    ("b", "Zürich", "latin"),
    ("b", "東京", "cjk"),
    ("é", "😀", "emoji"),
]


def _keyed_table(scratch: Scratch) -> None:
    scratch.run(
        'CREATE TABLE {s}.keyed (region text COLLATE "C", code text COLLATE "C", note text, PRIMARY KEY (region, code))'
    )
    insert = sql.SQL("INSERT INTO {} VALUES (%s, %s, %s)").format(sql.Identifier(scratch.schema, "keyed"))
    with scratch.conn.cursor() as cur:
        cur.executemany(insert, KEYED[::-1])


def _all_chunks(
    conn: psycopg.Connection[TextRow], scratch: Scratch, limit: int, **kwargs: object
) -> list[SnapshotChunk]:
    chunks: list[SnapshotChunk] = []
    after = None
    while True:
        chunk = read_chunk(conn, schema=scratch.schema, after=after, limit=limit, **kwargs)  # type: ignore[arg-type]
        chunks.append(chunk)
        if len(chunk.rows) < limit:
            return chunks
        after = chunk.last_key


def test_two_sessions_importing_the_exported_snapshot_see_the_same_rows_while_a_third_commits(
    scratch: Scratch,
) -> None:
    scratch.run("CREATE TABLE {s}.items (id int PRIMARY KEY, v text)")
    scratch.run("INSERT INTO {s}.items VALUES (1, 'one'), (2, 'two'), (3, 'three')")
    with ReplicationConnection(scratch.dsn) as repl:
        info = repl.create_slot(scratch.slot, export_snapshot=True)
        with (
            open_snapshot_session(scratch.dsn, info.snapshot_name) as one,
            open_snapshot_session(scratch.dsn, info.snapshot_name) as two,
        ):
            scratch.run("INSERT INTO {s}.items VALUES (4, 'four')")
            scratch.run("UPDATE {s}.items SET v = 'changed' WHERE id = 1")
            scratch.run("DELETE FROM {s}.items WHERE id = 2")
            seen = [
                read_chunk(s, schema=scratch.schema, table="items", columns=["id", "v"], key_columns=["id"],
                           after=None, limit=10).rows
                for s in (one, two)
            ]  # fmt: skip
    before = [("1", "one"), ("2", "two"), ("3", "three")]
    assert seen == [before, before]


def test_importing_a_snapshot_whose_exporting_connection_closed_is_fatal(scratch: Scratch) -> None:
    with ReplicationConnection(scratch.dsn) as repl:
        info = repl.create_slot(scratch.slot, export_snapshot=True)
    message = (
        f'cannot import snapshot `{info.snapshot_name}`: snapshot "{info.snapshot_name}" does not exist '
        "(SQLSTATE 42704)"
    )
    with pytest.raises(FatalError, match=re.escape(message)):
        open_snapshot_session(scratch.dsn, info.snapshot_name)


def test_importing_a_snapshot_after_the_exporting_connection_ran_another_command_is_fatal(scratch: Scratch) -> None:
    with ReplicationConnection(scratch.dsn) as repl:
        info = repl.create_slot(scratch.slot, export_snapshot=True)
        repl.create_slot(f"{scratch.slot}_b", export_snapshot=False)
        message = (
            f'cannot import snapshot `{info.snapshot_name}`: snapshot "{info.snapshot_name}" does not exist '
            "(SQLSTATE 42704)"
        )
        try:
            with pytest.raises(FatalError, match=re.escape(message)):
                open_snapshot_session(scratch.dsn, info.snapshot_name)
        finally:
            drop_slot(scratch.conn, f"{scratch.slot}_b")


def test_a_session_without_snapshot_name_reads_a_fresh_repeatable_snapshot(scratch: Scratch) -> None:
    scratch.run("CREATE TABLE {s}.items (id int PRIMARY KEY)")
    scratch.run("INSERT INTO {s}.items VALUES (1)")
    with open_snapshot_session(scratch.dsn, None) as conn:
        first = read_chunk(conn, schema=scratch.schema, table="items", columns=["id"], key_columns=["id"],
                           after=None, limit=10)  # fmt: skip
        scratch.run("INSERT INTO {s}.items VALUES (2)")
        again = read_chunk(conn, schema=scratch.schema, table="items", columns=["id"], key_columns=["id"],
                           after=None, limit=10)  # fmt: skip
    assert (first, again) == (SnapshotChunk([("1",)], ("1",)), SnapshotChunk([("1",)], ("1",)))


def test_chunks_page_a_composite_text_key_in_key_order(scratch: Scratch) -> None:
    _keyed_table(scratch)
    with open_snapshot_session(scratch.dsn, None) as conn:
        chunks = _all_chunks(conn, scratch, 2, table="keyed", columns=["region", "code", "note"],
                             key_columns=["region", "code"])  # fmt: skip
    assert [chunk.rows for chunk in chunks] == [KEYED[0:2], KEYED[2:4], KEYED[4:6], KEYED[6:7]]


def test_integer_keys_page_in_numeric_order_not_text_order(scratch: Scratch) -> None:
    scratch.run("CREATE TABLE {s}.numbers (id int PRIMARY KEY)")
    scratch.run("INSERT INTO {s}.numbers SELECT generate_series(1, 12)")
    with open_snapshot_session(scratch.dsn, None) as conn:
        chunks = _all_chunks(conn, scratch, 5, table="numbers", columns=["id"], key_columns=["id"])
    assert chunks == [
        SnapshotChunk([("1",), ("2",), ("3",), ("4",), ("5",)], ("5",)),
        SnapshotChunk([("6",), ("7",), ("8",), ("9",), ("10",)], ("10",)),
        SnapshotChunk([("11",), ("12",)], ("12",)),
    ]


def test_a_chunk_returns_its_last_key_as_text_for_resuming(scratch: Scratch) -> None:
    _keyed_table(scratch)
    with open_snapshot_session(scratch.dsn, None) as conn:
        chunk = read_chunk(conn, schema=scratch.schema, table="keyed", columns=["note"],
                           key_columns=["region", "code"], after=("a", "O'Brien"), limit=2)  # fmt: skip
    assert chunk == SnapshotChunk([("double quote",), ("row syntax",)], ("a", "x,y(z)\\"))


def test_a_chunk_after_the_last_key_is_empty(scratch: Scratch) -> None:
    _keyed_table(scratch)
    with open_snapshot_session(scratch.dsn, None) as conn:
        chunk = read_chunk(conn, schema=scratch.schema, table="keyed", columns=["note"],
                           key_columns=["region", "code"], after=("é", "😀"), limit=2)  # fmt: skip
    assert chunk == SnapshotChunk([], None)


def test_snapshot_sql_is_read_in_key_chunks(scratch: Scratch) -> None:
    scratch.run("CREATE TABLE {s}.people (id int PRIMARY KEY, name text, secret text)")
    scratch.run("INSERT INTO {s}.people SELECT g, 'name ' || g, 'x' FROM generate_series(1, 6) g")
    query = sql.SQL("SELECT id, upper(name) AS name FROM {} WHERE name LIKE 'name %' AND id % 2 = 0;").format(
        sql.Identifier(scratch.schema, "people")
    )
    with open_snapshot_session(scratch.dsn, None) as conn:
        chunks = _all_chunks(conn, scratch, 2, table="people", columns=["id", "name"], key_columns=["id"],
                             snapshot_sql=query.as_string(conn))  # fmt: skip
    assert chunks == [
        SnapshotChunk([("2", "NAME 2"), ("4", "NAME 4")], ("4",)),
        SnapshotChunk([("6", "NAME 6")], ("6",)),
    ]


def test_a_null_key_value_is_a_config_error(scratch: Scratch) -> None:
    scratch.run("CREATE TABLE {s}.loose (code text, note text)")
    scratch.run("INSERT INTO {s}.loose VALUES ('a', 'x'), (NULL, 'y')")
    message = (
        f"table `{scratch.schema}.loose`: a row has NULL in key column(s) `code`; snapshot chunks need NOT NULL keys"
    )
    with open_snapshot_session(scratch.dsn, None) as conn, pytest.raises(ConfigError, match=re.escape(message)):
        read_chunk(conn, schema=scratch.schema, table="loose", columns=["note"], key_columns=["code"], after=None,
                   limit=10)  # fmt: skip


def test_read_table_streams_a_table_without_key_in_batches(scratch: Scratch) -> None:
    scratch.run("CREATE TABLE {s}.heap (v int, w text)")
    scratch.run("INSERT INTO {s}.heap SELECT g, NULL FROM generate_series(1, 5) g")
    with open_snapshot_session(scratch.dsn, None) as conn:
        batches = list(read_table(conn, schema=scratch.schema, table="heap", columns=["w", "v"], batch_size=2))
    assert sorted(batches, key=len, reverse=True) == [
        [(None, "1"), (None, "2")],
        [(None, "3"), (None, "4")],
        [(None, "5")],
    ]


def test_estimate_rows_reads_the_planner_statistics(scratch: Scratch) -> None:
    scratch.run("CREATE TABLE {s}.counted (id int PRIMARY KEY)")
    scratch.run("INSERT INTO {s}.counted SELECT generate_series(1, 1000)")
    scratch.run("ANALYZE {s}.counted")
    with open_snapshot_session(scratch.dsn, None) as conn:
        assert estimate_rows(conn, scratch.schema, "counted") == 1000


def test_estimate_rows_of_a_never_analysed_table_is_zero(scratch: Scratch) -> None:
    scratch.run("CREATE TABLE {s}.fresh (id int PRIMARY KEY)")
    with open_snapshot_session(scratch.dsn, None) as conn:
        assert estimate_rows(conn, scratch.schema, "fresh") == 0


def test_values_come_in_the_text_formats_the_converters_parse(scratch: Scratch) -> None:
    scratch.run(
        "CREATE TABLE {s}.typed (id int PRIMARY KEY, ts timestamptz, t timestamp, d date, tm time, iv interval, "
        "f8 float8, f4 float4, n numeric, b bytea, m money, ok bool, j jsonb, arr int[])"
    )
    scratch.run(
        "INSERT INTO {s}.typed VALUES (1, '2024-01-02 03:04:05.123456-05', '2024-01-02 03:04:05', '2024-12-31', "
        "'23:59:59.5', '1 year 2 months -3 days 04:05:06.5', 0.1, 1.1, 12345678901234567890.123, '\\x00ff', "
        "1234.5, true, '{{\"b\": 1, \"a\": [1, 2]}}', '{{1,NULL,3}}')"
    )
    hostile = "-c TimeZone=Asia/Kolkata -c IntervalStyle=sql_standard -c extra_float_digits=0 -c DateStyle=SQL,DMY"
    dsn = psycopg.conninfo.make_conninfo(scratch.dsn, options=hostile)
    columns = ["ts", "t", "d", "tm", "iv", "f8", "f4", "n", "b", "m", "ok", "j", "arr"]
    with open_snapshot_session(dsn, None) as conn:
        chunk = read_chunk(conn, schema=scratch.schema, table="typed", columns=columns, key_columns=["id"],
                           after=None, limit=1)  # fmt: skip
    assert chunk.rows == [
        (
            "2024-01-02 08:04:05.123456+00",
            "2024-01-02 03:04:05",
            "2024-12-31",
            "23:59:59.5",
            "1 year 2 mons -3 days +04:05:06.5",
            "0.1",
            "1.1",
            "12345678901234567890.123",
            "\\x00ff",
            "$1,234.50",
            "t",
            '{"a": [1, 2], "b": 1}',
            "{1,NULL,3}",
        )
    ]
