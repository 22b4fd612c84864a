"""A corpus of PostgreSQL types goes through a real pgoutput slot and converts to the exact Debezium JSON values.

One table holds a column of every supported type (``xml`` aside: the test server is built without libxml). Four
rows are inserted (typical values, extreme values, NULL everywhere, ~100 kB TOASTed text and bytea), then the TOAST
row is updated twice: once with the default replica identity (unchanged TOASTed values arrive as ``u`` → the
placeholder), once under REPLICA IDENTITY FULL (every column flagged as key, the old row complete). The changes are
read with ``pg_logical_slot_peek_binary_changes`` in a session whose TimeZone is Asia/Kathmandu (+05:45, and
+05:41:16 local mean time before 1920), so every ``timestamptz`` arrives with a non-zero offset; ranges of
timestamptz print in that zone too.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import psycopg
import pytest
from psycopg import sql

from rdi.collectors.pg_catalog import TableInfo, load_tables, load_types
from rdi.collectors.pg_types import (
    DATE_NEGATIVE_INFINITY,
    DATE_POSITIVE_INFINITY,
    TEXT_FORMAT_SETTINGS,
    TIMESTAMP_POSITIVE_INFINITY_US,
    TypeInfo,
    converter_for,
    placeholder_for,
)
from rdi.collectors.pgoutput import UNCHANGED_TOAST, Insert, Message, Relation, TupleData, Update, decode_message

pytestmark = pytest.mark.postgres

BIG_TEXT = "".join(hashlib.md5(str(i).encode(), usedforsecurity=False).hexdigest() for i in range(3200))
BIG_BLOB = b"".join(hashlib.sha256(str(i).encode()).digest() for i in range(3200))
EXPECTED_BLOB = base64.b64encode(BIG_BLOB).decode()

CREATE = """
CREATE TYPE {s}.mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN {s}.posint AS integer CHECK (VALUE > 0);
CREATE TABLE {s}.corpus (
    id int PRIMARY KEY,
    c_smallint smallint, c_int integer, c_bigint bigint, c_oid oid,
    c_numeric numeric, c_numeric_p numeric(10,2), c_numeric_tiny numeric(20,10), c_numeric_40 numeric(40,0),
    c_money money, c_real real, c_double double precision, c_bool boolean,
    c_char char(5), c_varchar varchar(10), c_text text, c_citext citext, c_name name,
    c_inet inet, c_cidr cidr, c_macaddr macaddr, c_macaddr8 macaddr8, c_ltree ltree, c_tsvector tsvector,
    c_int4range int4range, c_tstzrange tstzrange, c_uuid uuid, c_json json, c_jsonb jsonb, c_bytea bytea,
    c_date date, c_date_bc date, c_time time, c_time3 time(3), c_timestamp timestamp, c_timestamp3 timestamp(3),
    c_timestamptz timestamptz, c_timestamptz0 timestamptz(0), c_timetz timetz, c_interval interval,
    c_mood {s}.mood, c_posint {s}.posint,
    c_int_arr int[], c_text_arr text[], c_uuid_arr uuid[], c_int_2d int[][],
    c_bit1 bit(1), c_bit10 bit(10), c_varbit varbit, c_hstore hstore, c_point point,
    c_big text, c_blob bytea
);
"""

TYPICAL = r"""
INSERT INTO {s}.corpus VALUES (1,
    12, -7, 9223372036854775807, 4294967295,
    3.14159, 12.3, 0.0000000001, 1234567890123456789012345678901234567890,
    1234.5, 3.3, -1.5e-10, true,
    'ab', 'héllo', 'Grüße, 世界 🎉', 'MiXeD', 'nm',
    '192.168.0.1/24', '10.0.0.0/8', '08:00:2b:01:02:03', '08:00:2b:01:02:03:04:05', 'Top.Science', 'a fat cat',
    '[1,10)', '[2024-01-01 00:00+00,)', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"b": 1,  "a": [2]}',
    '{"b": 1, "a": [2]}', '\x00ff10',
    '2024-02-29', '0044-03-15 BC', '10:15:30.123456', '10:15:30.123', '2024-01-01 05:00:00.5',
    '2024-01-01 05:00:00.123',
    '2024-01-01 10:30:00.5+05:30', '2024-01-01 05:00:00-08', '10:15:30.123+02', '1 year 2 mons 3 days 04:05:06.789',
    'happy', 42,
    '{1,NULL,3}', '{"a b","c\"d",NULL}', '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}', '{{1,2},{3,4}}',
    B'1', B'1000000001', B'101', 'a=>1, b=>NULL', '(1.5,-2)',
    'small', '\x01'
)
"""

EXTREME = r"""
INSERT INTO {s}.corpus VALUES (2,
    -32768, -2147483648, -9223372036854775808, 0,
    'NaN', -99999999.99, -12.5, -9999999999999999999999999999999999999999,
    -92233720368547758.08, '-Infinity', '-0', false,
    'abcde', '', E'line1\nline2\t"q"\\', '', '',
    '::1/128', '::/0', '00:00:00:00:00:00', 'ff:ff:ff:ff:ff:ff:ff:ff', '', '',
    'empty', 'empty', '00000000-0000-0000-0000-000000000000', 'null', '[]', '\x',
    '-infinity', 'infinity', '24:00:00', '00:00:00', 'infinity', '-infinity',
    'infinity', '0044-03-15 12:00:00+00 BC', '24:00:00+00', '-1 days -00:00:01.5',
    'sad', 1,
    '{}', '{"NULL",""}', '{}', '[0:1][0:1]={{1,2},{3,4}}',
    B'0', B'0000000000', B'', '', '(0,0)',
    'x', '\x'
)
"""

EXPECTED_TYPICAL = {
    "id": 1,
    "c_smallint": 12,
    "c_int": -7,
    "c_bigint": 9223372036854775807,
    "c_oid": 4294967295,
    "c_numeric": "3.14159",
    "c_numeric_p": "12.30",
    "c_numeric_tiny": "0.0000000001",
    "c_numeric_40": "1234567890123456789012345678901234567890",
    "c_money": "1234.50",
    "c_real": 3.3,
    "c_double": -1.5e-10,
    "c_bool": True,
    "c_char": "ab   ",
    "c_varchar": "héllo",
    "c_text": "Grüße, 世界 🎉",
    "c_citext": "MiXeD",
    "c_name": "nm",
    "c_inet": "192.168.0.1/24",
    "c_cidr": "10.0.0.0/8",
    "c_macaddr": "08:00:2b:01:02:03",
    "c_macaddr8": "08:00:2b:01:02:03:04:05",
    "c_ltree": "Top.Science",
    "c_tsvector": "'a' 'cat' 'fat'",
    "c_int4range": "[1,10)",
    "c_tstzrange": '["2024-01-01 05:45:00+05:45",)',
    "c_uuid": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
    "c_json": '{"b": 1,  "a": [2]}',
    "c_jsonb": '{"a": [2], "b": 1}',
    "c_bytea": "AP8Q",
    "c_date": 19782,
    "c_date_bc": -735160,
    "c_time": 36930123456,
    "c_time3": 36930123,
    "c_timestamp": 1704085200500000,
    "c_timestamp3": 1704085200123,
    "c_timestamptz": "2024-01-01T05:00:00.500000Z",
    "c_timestamptz0": "2024-01-01T13:00:00Z",
    "c_timetz": "08:15:30.123Z",
    "c_interval": 37091106789000,
    "c_mood": "happy",
    "c_posint": 42,
    "c_int_arr": [1, None, 3],
    "c_text_arr": ["a b", 'c"d', None],
    "c_uuid_arr": ["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"],
    "c_int_2d": [[1, 2], [3, 4]],
    "c_bit1": True,
    "c_bit10": "AQI=",
    "c_varbit": "BQ==",
    "c_hstore": '{"a":"1","b":null}',
    "c_point": {"x": 1.5, "y": -2.0, "wkb": "AQEAAAAAAAAAAAD4PwAAAAAAAADA", "srid": None},
    "c_big": "small",
    "c_blob": "AQ==",
}

EXPECTED_EXTREME = {
    "id": 2,
    "c_smallint": -32768,
    "c_int": -2147483648,
    "c_bigint": -9223372036854775808,
    "c_oid": 0,
    "c_numeric": "NAN",
    "c_numeric_p": "-99999999.99",
    "c_numeric_tiny": "-12.5000000000",
    "c_numeric_40": "-9999999999999999999999999999999999999999",
    "c_money": "-92233720368547758.08",
    "c_real": "-Infinity",
    "c_double": -0.0,
    "c_bool": False,
    "c_char": "abcde",
    "c_varchar": "",
    "c_text": 'line1\nline2\t"q"\\',
    "c_citext": "",
    "c_name": "",
    "c_inet": "::1",
    "c_cidr": "::/0",
    "c_macaddr": "00:00:00:00:00:00",
    "c_macaddr8": "ff:ff:ff:ff:ff:ff:ff:ff",
    "c_ltree": "",
    "c_tsvector": "",
    "c_int4range": "empty",
    "c_tstzrange": "empty",
    "c_uuid": "00000000-0000-0000-0000-000000000000",
    "c_json": "null",
    "c_jsonb": "[]",
    "c_bytea": "",
    "c_date": DATE_NEGATIVE_INFINITY,
    "c_date_bc": DATE_POSITIVE_INFINITY,
    "c_time": 86400000000,
    "c_time3": 0,
    "c_timestamp": TIMESTAMP_POSITIVE_INFINITY_US,
    "c_timestamp3": -9223372036832400,
    "c_timestamptz": "infinity",
    "c_timestamptz0": "-0043-03-15T12:00:00Z",
    "c_timetz": "00:00:00Z",
    "c_interval": -86401500000,
    "c_mood": "sad",
    "c_posint": 1,
    "c_int_arr": [],
    "c_text_arr": ["NULL", ""],
    "c_uuid_arr": [],
    "c_int_2d": [[1, 2], [3, 4]],
    "c_bit1": False,
    "c_bit10": "",
    "c_varbit": "",
    "c_hstore": "{}",
    "c_point": {"x": 0.0, "y": 0.0, "wkb": "AQEAAAAAAAAAAAAAAAAAAAAAAAAA", "srid": None},
    "c_big": "x",
    "c_blob": "",
}


@dataclass(frozen=True)
class Corpus:
    table: TableInfo
    types: dict[int, TypeInfo]
    messages: list[Message]

    def convert(self, values: TupleData) -> dict[str, Any]:
        row: dict[str, Any] = {}
        for column, value in zip(self.table.columns, values, strict=True):
            if value is None:
                row[column.name] = None
            elif value is UNCHANGED_TOAST:
                row[column.name] = placeholder_for(column, self.types)
            else:
                assert isinstance(value, str)
                row[column.name] = converter_for(column, self.types)(value)
        return row

    def changes(self, kind: type[Insert] | type[Update]) -> list[Any]:
        return [m for m in self.messages if isinstance(m, kind)]


@pytest.fixture(scope="module")
def corpus(pg_dsn: str) -> Iterator[Corpus]:
    name = f"corpus_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        for setting, value in {**TEXT_FORMAT_SETTINGS, "TimeZone": "Asia/Kathmandu"}.items():
            conn.execute("SELECT set_config(%s, %s, false)", [setting, value])
        # the test server runs with synchronous_commit=off; decoding stops at the flushed WAL position
        conn.execute("SET synchronous_commit = on")

        schema = sql.Identifier(name).as_string(conn)

        def run(statement: str, params: Any = None) -> None:
            # plain replacement: the statements hold array and JSON literals full of braces
            conn.execute(statement.replace("{s}", schema), params)

        for extension in ("hstore", "citext", "ltree"):
            with contextlib.suppress(psycopg.errors.UniqueViolation):  # created concurrently by another session
                conn.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(extension)))
        run("CREATE SCHEMA {s}")
        try:
            run(CREATE)
            run("CREATE PUBLICATION {s} FOR TABLES IN SCHEMA {s}")
            conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", [name])
            run(TYPICAL)
            run(EXTREME)
            run("INSERT INTO {s}.corpus (id) VALUES (3)")
            run("INSERT INTO {s}.corpus (id, c_big, c_blob) VALUES (4, %s, %s)", [BIG_TEXT, BIG_BLOB])
            run("UPDATE {s}.corpus SET c_int = 5 WHERE id = 4")
            run("ALTER TABLE {s}.corpus REPLICA IDENTITY FULL")
            run("UPDATE {s}.corpus SET c_int = 6 WHERE id = 4")
            rows = conn.execute(
                "SELECT data FROM pg_logical_slot_peek_binary_changes(%s, NULL, NULL,"
                " 'proto_version', '1', 'publication_names', %s)",
                [name, name],
            ).fetchall()
            (table,) = load_tables(conn, schemas=[name])
            types = load_types(conn, {c.type_oid for c in table.columns})
            yield Corpus(table, types, [decode_message(data) for (data,) in rows])
        finally:
            conn.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s", [name]
            )
            run("DROP PUBLICATION IF EXISTS {s}")
            run("DROP SCHEMA {s} CASCADE")


def test_typical_values(corpus: Corpus) -> None:
    assert corpus.convert(corpus.changes(Insert)[0].new) == EXPECTED_TYPICAL


def test_extreme_values(corpus: Corpus) -> None:
    assert corpus.convert(corpus.changes(Insert)[1].new) == EXPECTED_EXTREME


def test_extreme_values_serialise_as_jackson_writes_them(corpus: Corpus) -> None:
    row = corpus.convert(corpus.changes(Insert)[1].new)
    assert orjson.dumps([row["c_real"], row["c_double"], row["c_numeric"]]) == b'["-Infinity",-0.0,"NAN"]'


def test_null_in_every_column(corpus: Corpus) -> None:
    expected = {column.name: None for column in corpus.table.columns} | {"id": 3}
    assert corpus.convert(corpus.changes(Insert)[2].new) == expected


def test_huge_toasted_values_arrive_whole_on_insert(corpus: Corpus) -> None:
    row = corpus.convert(corpus.changes(Insert)[3].new)
    assert (row["c_big"] == BIG_TEXT, row["c_blob"] == EXPECTED_BLOB) == (True, True)


def test_update_of_another_column_sends_unchanged_toasted_values_as_placeholders(corpus: Corpus) -> None:
    update = corpus.changes(Update)[0]
    row = corpus.convert(update.new)
    assert (update.key, update.old, row["c_int"], row["c_big"], row["c_blob"]) == (
        None,
        None,
        5,
        "__debezium_unavailable_value",
        "X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ==",
    )


def test_replica_identity_full_flags_every_column_as_key(corpus: Corpus) -> None:
    relations = [m for m in corpus.messages if isinstance(m, Relation)]
    # a Relation message may be re-sent (cache invalidations), so compare the distinct ones
    assert {(r.replica_identity, all(c.is_key for c in r.columns)) for r in relations} == {("d", False), ("f", True)}


def test_replica_identity_full_sends_the_old_row_detoasted_but_not_the_new_one(corpus: Corpus) -> None:
    update = corpus.changes(Update)[1]
    old, new = corpus.convert(update.old), corpus.convert(update.new)
    assert (old["c_int"], old["c_big"] == BIG_TEXT, new["c_int"], new["c_big"], update.new[-1]) == (
        5,
        True,
        6,
        "__debezium_unavailable_value",
        UNCHANGED_TOAST,
    )


def test_catalog_keeps_the_real_primary_key_under_replica_identity_full(corpus: Corpus) -> None:
    assert (corpus.table.primary_key, corpus.table.replica_identity) == (["id"], "f")
