"""`column_type_for`: the Debezium schema type the collector publishes for each PostgreSQL column type."""

from __future__ import annotations

import pytest

from rdi.collectors.pg_types import PgColumn, TypeInfo, column_type_for
from rdi.events import ColumnType

HSTORE, LTREE, CITEXT, MOOD, MOOD_ARRAY, JDOC, TS3 = 70001, 70002, 70003, 70004, 70005, 70006, 70007
TYPES = {
    HSTORE: TypeInfo(HSTORE, "hstore", "b", "public"),
    LTREE: TypeInfo(LTREE, "ltree", "b", "public"),
    CITEXT: TypeInfo(CITEXT, "citext", "b", "public"),
    MOOD: TypeInfo(MOOD, "mood", "e", "public"),
    MOOD_ARRAY: TypeInfo(MOOD_ARRAY, "_mood", "a", "public", element_oid=MOOD),
    JDOC: TypeInfo(JDOC, "jdoc", "d", "public", base_oid=3802),
    TS3: TypeInfo(TS3, "ts3", "d", "public", base_oid=1114, base_typmod=3),
}


def t(name: str | None, kind: str) -> ColumnType:
    return ColumnType(name=name, type=kind)


CASES = [
    ("bool", 16, -1, t(None, "boolean")),
    ("bytea", 17, -1, t(None, "bytes")),
    ("int8", 20, -1, t(None, "int64")),
    ("int2", 21, -1, t(None, "int16")),
    ("int4", 23, -1, t(None, "int32")),
    ("oid", 26, -1, t(None, "int64")),
    ("text", 25, -1, t(None, "string")),
    ("varchar(10)", 1043, 14, t(None, "string")),
    ("inet", 869, -1, t(None, "string")),
    ("json", 114, -1, t("io.debezium.data.Json", "string")),
    ("jsonb", 3802, -1, t("io.debezium.data.Json", "string")),
    ("xml", 142, -1, t("io.debezium.data.Xml", "string")),
    ("uuid", 2950, -1, t("io.debezium.data.Uuid", "string")),
    ("tsvector", 3614, -1, t("io.debezium.data.Tsvector", "string")),
    ("point", 600, -1, t("io.debezium.data.geometry.Point", "struct")),
    ("float4", 700, -1, t(None, "float32")),
    ("float8", 701, -1, t(None, "float64")),
    ("money", 790, -1, t(None, "string")),
    ("numeric", 1700, -1, t(None, "string")),
    ("numeric(10,2)", 1700, 655366, t(None, "string")),
    ("date", 1082, -1, t("io.debezium.time.Date", "int32")),
    ("time", 1083, -1, t("io.debezium.time.MicroTime", "int64")),
    ("time(3)", 1083, 3, t("io.debezium.time.Time", "int32")),
    ("time(4)", 1083, 4, t("io.debezium.time.MicroTime", "int64")),
    ("timestamp", 1114, -1, t("io.debezium.time.MicroTimestamp", "int64")),
    ("timestamp(0)", 1114, 0, t("io.debezium.time.Timestamp", "int64")),
    ("timestamp(3)", 1114, 3, t("io.debezium.time.Timestamp", "int64")),
    ("timestamp(6)", 1114, 6, t("io.debezium.time.MicroTimestamp", "int64")),
    ("timestamptz", 1184, -1, t("io.debezium.time.ZonedTimestamp", "string")),
    ("timetz", 1266, -1, t("io.debezium.time.ZonedTime", "string")),
    ("interval", 1186, -1, t("io.debezium.time.MicroDuration", "int64")),
    ("bit(1)", 1560, 1, t(None, "boolean")),
    ("bit(10)", 1560, 10, t("io.debezium.data.Bits", "bytes")),
    ("varbit", 1562, -1, t("io.debezium.data.Bits", "bytes")),
    ("int4[]", 1007, -1, t(None, "array")),
    ("date[]", 1182, -1, t(None, "array")),
    ("hstore", HSTORE, -1, t("io.debezium.data.Json", "string")),
    ("ltree", LTREE, -1, t("io.debezium.data.Ltree", "string")),
    ("citext", CITEXT, -1, t(None, "string")),
    ("enum", MOOD, -1, t("io.debezium.data.Enum", "string")),
    ("enum[]", MOOD_ARRAY, -1, t(None, "array")),
    ("domain over jsonb", JDOC, -1, t("io.debezium.data.Json", "string")),
    ("domain over timestamp(3)", TS3, -1, t("io.debezium.time.Timestamp", "int64")),
    ("unknown type", 99999, -1, t(None, "string")),
]


@pytest.mark.parametrize(("oid", "typmod", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_column_type_matches_debezium_postgres_schema_with_rdi_defaults(
    oid: int, typmod: int, expected: ColumnType
) -> None:
    assert column_type_for(PgColumn("c", oid, typmod), TYPES) == expected
