"""The PostgreSQL collector publishes each captured table's column types (`rdi.stream_schema`) for the processor."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rdi import keys
from rdi.events import ColumnType, decode_event
from rdi.stream_schema import read_types

from ._pg_pipeline import Running, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def t(name: str | None, kind: str) -> ColumnType:
    return ColumnType(name=name, type=kind)


MANY_TYPES = """
CREATE EXTENSION IF NOT EXISTS hstore;
CREATE TYPE {s}.mood AS ENUM ('sad', 'ok');
CREATE DOMAIN {s}.doc AS jsonb;
CREATE TABLE {s}.t (
    id int PRIMARY KEY, c_small smallint, c_big bigint, c_num numeric(10,2), c_money money, c_real real,
    c_double double precision, c_bool boolean, c_text text, c_uuid uuid, c_json json, c_jsonb jsonb, c_doc {s}.doc,
    c_bytea bytea, c_date date, c_time time, c_time3 time(3), c_ts timestamp, c_ts3 timestamp(3), c_tstz timestamptz,
    c_timetz timetz, c_interval interval, c_bit1 bit(1), c_bit8 bit(8), c_varbit varbit, c_arr int[],
    c_mood {s}.mood, c_point point, c_hstore hstore
);
INSERT INTO {s}.t (id) VALUES (1);
"""

MANY_TYPES_EXPECTED = {
    "id": t(None, "int32"),
    "c_small": t(None, "int16"),
    "c_big": t(None, "int64"),
    "c_num": t(None, "string"),
    "c_money": t(None, "string"),
    "c_real": t(None, "float32"),
    "c_double": t(None, "float64"),
    "c_bool": t(None, "boolean"),
    "c_text": t(None, "string"),
    "c_uuid": t("io.debezium.data.Uuid", "string"),
    "c_json": t("io.debezium.data.Json", "string"),
    "c_jsonb": t("io.debezium.data.Json", "string"),
    "c_doc": t("io.debezium.data.Json", "string"),
    "c_bytea": t(None, "bytes"),
    "c_date": t("io.debezium.time.Date", "int32"),
    "c_time": t("io.debezium.time.MicroTime", "int64"),
    "c_time3": t("io.debezium.time.Time", "int32"),
    "c_ts": t("io.debezium.time.MicroTimestamp", "int64"),
    "c_ts3": t("io.debezium.time.Timestamp", "int64"),
    "c_tstz": t("io.debezium.time.ZonedTimestamp", "string"),
    "c_timetz": t("io.debezium.time.ZonedTime", "string"),
    "c_interval": t("io.debezium.time.MicroDuration", "int64"),
    "c_bit1": t(None, "boolean"),
    "c_bit8": t("io.debezium.data.Bits", "bytes"),
    "c_varbit": t("io.debezium.data.Bits", "bytes"),
    "c_arr": t(None, "array"),
    "c_mood": t("io.debezium.data.Enum", "string"),
    "c_point": t("io.debezium.data.geometry.Point", "struct"),
    "c_hstore": t("io.debezium.data.Json", "string"),
}


def stream(r: Running, table: str, partition: int | None = None) -> str:
    return keys.staging_stream("pg", r.schema, table, partition)


def test_snapshot_publishes_the_type_of_every_column(running: Callable[..., Running]) -> None:
    r = running("rdi_sch_many", MANY_TYPES)
    assert read_types(r.rdi, stream(r, "t")) == MANY_TYPES_EXPECTED


def test_a_column_added_while_streaming_is_published_before_its_first_event(running: Callable[..., Running]) -> None:
    r = running("rdi_sch_add", "CREATE TABLE {s}.t (id int PRIMARY KEY, v int);")
    before = read_types(r.rdi, stream(r, "t"))
    r.sql("ALTER TABLE {s}.t ADD COLUMN born date; INSERT INTO {s}.t VALUES (1, 2, '2024-01-02')")
    r.wait_events("t", 1)
    assert (before, read_types(r.rdi, stream(r, "t"))) == (
        {"id": t(None, "int32"), "v": t(None, "int32")},
        {"id": t(None, "int32"), "v": t(None, "int32"), "born": t("io.debezium.time.Date", "int32")},
    )


def test_a_column_whose_type_changes_while_streaming_gets_the_new_type_and_converter(
    running: Callable[..., Running],
) -> None:
    r = running("rdi_sch_alter", "CREATE TABLE {s}.t (id int PRIMARY KEY, d text);")
    r.sql("INSERT INTO {s}.t VALUES (1, '2024-01-02')")
    r.wait_events("t", 1)
    r.sql("ALTER TABLE {s}.t ALTER COLUMN d TYPE date USING d::date; INSERT INTO {s}.t VALUES (2, '2024-01-02')")
    events = r.wait_events("t", 2)
    assert ([e["value"]["after"] for e in events], read_types(r.rdi, stream(r, "t"))) == (
        [{"id": 1, "d": "2024-01-02"}, {"id": 2, "d": 19724}],
        {"id": t(None, "int32"), "d": t("io.debezium.time.Date", "int32")},
    )


def test_a_table_split_into_partitions_publishes_to_every_partition_stream(running: Callable[..., Running]) -> None:
    r = running("rdi_sch_part", "CREATE TABLE {s}.t (id int PRIMARY KEY, born date);", **{"rdi.partitions": 2})
    expected = {"id": t(None, "int32"), "born": t("io.debezium.time.Date", "int32")}
    assert [read_types(r.rdi, stream(r, "t", p)) for p in (0, 1)] == [expected, expected]


def test_a_staged_row_decoded_with_the_published_types_has_rdi_values(running: Callable[..., Running]) -> None:
    r = running(
        "rdi_sch_decode",
        "CREATE TABLE {s}.t (id int PRIMARY KEY, born date, doc jsonb, price numeric(10,2), at timestamp,"
        " at3 timestamp(3), span interval, note text);",
    )
    r.sql(
        "INSERT INTO {s}.t VALUES (1, '2024-01-02', '{{\"a\": [1, 2]}}', 12.30, '2024-01-02 03:04:05.123456',"
        " '2024-01-02 03:04:05.123', '1 day', '1234')"
    )
    entries = wait_for(lambda: r.rdi.xrange(stream(r, "t")), 30, "the insert to be staged")
    fields = entries[0][1]
    event = decode_event(fields[b"key"], fields[b"value"], types=read_types(r.rdi, stream(r, "t")))
    assert event is not None and event.after == {
        "id": 1,
        "born": 1704153600000,
        "doc": {"a": [1, 2]},
        "price": "12.30",
        "at": 1704164645123.456,
        "at3": 1704164645123,
        "note": "1234",
    }
