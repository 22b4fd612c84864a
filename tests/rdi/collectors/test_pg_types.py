"""PostgreSQL text values convert to the JSON values Debezium's PostgreSQL connector writes with RDI's defaults."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest

from rdi.collectors.pg_types import (
    DATE_NEGATIVE_INFINITY,
    DATE_POSITIVE_INFINITY,
    TIMESTAMP_NEGATIVE_INFINITY_US,
    TIMESTAMP_POSITIVE_INFINITY_US,
    PgColumn,
    TypeInfo,
    converter_for,
    placeholder_for,
)
from rdi.collectors.pgoutput import RelationColumn

HSTORE = 90001
CITEXT = 90002
MOOD = 90003
MOOD_ARRAY = 90004
POSINT = 90005
TS3_DOMAIN = 90006
POSINT_ARRAY = 90007
TYPES = {
    HSTORE: TypeInfo(HSTORE, "hstore", "b", "public"),
    CITEXT: TypeInfo(CITEXT, "citext", "b", "public"),
    MOOD: TypeInfo(MOOD, "mood", "e", "public"),
    MOOD_ARRAY: TypeInfo(MOOD_ARRAY, "_mood", "a", "public", element_oid=MOOD),
    POSINT: TypeInfo(POSINT, "posint", "d", "public", base_oid=23),
    TS3_DOMAIN: TypeInfo(TS3_DOMAIN, "ts3", "d", "public", base_oid=1114, base_typmod=3),
    POSINT_ARRAY: TypeInfo(POSINT_ARRAY, "_posint", "a", "public", element_oid=POSINT),
}


def convert(type_oid: int, text: str, typmod: int = -1) -> Any:
    return converter_for(PgColumn("c", type_oid, typmod), TYPES)(text)


CASES = [
    # integers, oid
    ("smallint", 21, -1, "-32768", -32768),
    ("integer", 23, -1, "2147483647", 2147483647),
    ("bigint min", 20, -1, "-9223372036854775808", -9223372036854775808),
    ("oid", 26, -1, "4294967295", 4294967295),
    # floating point: finite numbers, Jackson's strings for the rest
    ("real", 700, -1, "3.3", 3.3),
    ("double", 701, -1, "1.7976931348623157e+308", 1.7976931348623157e308),
    ("double NaN", 701, -1, "NaN", "NaN"),
    ("real Infinity", 700, -1, "Infinity", "Infinity"),
    ("double -Infinity", 701, -1, "-Infinity", "-Infinity"),
    # numeric in string mode: BigDecimal.toString()
    ("numeric keeps scale", 1700, 655366, "12.30", "12.30"),
    (
        "numeric 40 digits",
        1700,
        -1,
        "1234567890123456789012345678901234567890",
        "1234567890123456789012345678901234567890",
    ),
    ("numeric negative", 1700, -1, "-0.5", "-0.5"),
    ("numeric 1e-6 stays plain", 1700, -1, "0.000001", "0.000001"),
    ("numeric below 1e-6 stays plain (Debezium's toPlainString)", 1700, -1, "0.0000001", "0.0000001"),
    ("numeric plain keeps trailing zeros", 1700, -1, "-0.000000120", "-0.000000120"),
    ("numeric zero with scale 6", 1700, -1, "0.000000", "0.000000"),
    ("numeric zero with scale 8", 1700, -1, "0.00000000", "0.00000000"),
    ("numeric NaN", 1700, -1, "NaN", "NAN"),
    ("numeric Infinity", 1700, -1, "Infinity", "POSITIVE_INFINITY"),
    ("numeric -Infinity", 1700, -1, "-Infinity", "NEGATIVE_INFINITY"),
    # money: C locale text without symbol and separators
    ("money", 790, -1, "$1,234.50", "1234.50"),
    ("money negative", 790, -1, "-$92,233,720,368,547,758.08", "-92233720368547758.08"),
    ("money in parentheses", 790, -1, "($0.99)", "-0.99"),
    # boolean and bits
    ("boolean true", 16, -1, "t", True),
    ("boolean false", 16, -1, "f", False),
    ("boolean true cast to text (snapshot)", 16, -1, "true", True),
    ("boolean false cast to text (snapshot)", 16, -1, "false", False),
    ("bit(1)", 1560, 1, "1", True),
    ("varbit(1)", 1562, 1, "0", False),
    ("bit(10) little-endian", 1560, 10, "1000000001", "AQI="),
    ("bit(2) minimal bytes", 1560, 2, "11", "Aw=="),
    ("bit all zero is empty", 1560, 16, "0000000000000000", ""),
    ("varbit", 1562, -1, "101", "BQ=="),
    # text-like types pass through
    ("char(5) keeps padding", 1042, 9, "ab   ", "ab   "),
    ("text unicode", 25, -1, "Grüße, 世界 🎉", "Grüße, 世界 🎉"),
    ("uuid", 2950, -1, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
    ("json keeps its text", 114, -1, '{"b": 1,  "a": [2]}', '{"b": 1,  "a": [2]}'),
    ("jsonb", 3802, -1, '{"a": [2], "b": 1}', '{"a": [2], "b": 1}'),
    ("xml", 142, -1, "<a>1</a>", "<a>1</a>"),
    ("inet", 869, -1, "192.168.0.1/24", "192.168.0.1/24"),
    ("tstzrange", 3910, -1, '["2024-01-01 00:00:00+00",)', '["2024-01-01 00:00:00+00",)'),
    ("citext", CITEXT, -1, "MiXeD", "MiXeD"),
    ("enum", MOOD, -1, "happy", "happy"),
    ("unknown type", 600000, -1, "whatever", "whatever"),
    # bytea
    ("bytea hex", 17, -1, "\\x00ff10", "AP8Q"),
    ("bytea empty", 17, -1, "\\x", ""),
    ("bytea escape format", 17, -1, "a\\000\\\\b", "YQBcYg=="),
    # date
    ("date epoch", 1082, -1, "1970-01-01", 0),
    ("date", 1082, -1, "2024-02-29", 19782),
    ("date before epoch", 1082, -1, "1969-12-31", -1),
    ("date BC", 1082, -1, "0001-01-01 BC", -719528),
    ("date year 10000", 1082, -1, "10000-01-01", 2932897),
    ("date infinity", 1082, -1, "infinity", DATE_POSITIVE_INFINITY),
    ("date -infinity", 1082, -1, "-infinity", DATE_NEGATIVE_INFINITY),
    # time: ms for precision 0-3, µs otherwise
    ("time", 1083, -1, "10:15:30.123456", 36930123456),
    ("time(3) in ms", 1083, 3, "10:15:30.123", 36930123),
    ("time(0) in ms", 1083, 0, "23:59:59", 86399000),
    ("time 24:00", 1083, -1, "24:00:00", 86400000000),
    ("time short fraction", 1083, 6, "00:00:00.5", 500000),
    # timestamp: ms for precision 0-3, µs otherwise, read as UTC
    ("timestamp", 1114, -1, "2024-01-01 05:00:00.5", 1704085200500000),
    ("timestamp five fraction digits", 1114, 5, "2024-01-01 05:00:00.12345", 1704085200123450),
    ("timestamp(3) in ms", 1114, 3, "2024-01-01 05:00:00.123", 1704085200123),
    ("timestamp before epoch", 1114, -1, "1969-12-31 23:59:59.999999", -1),
    ("timestamp BC", 1114, -1, "0001-01-01 00:00:00 BC", -62167219200000000),
    ("timestamp infinity", 1114, -1, "infinity", TIMESTAMP_POSITIVE_INFINITY_US),
    ("timestamp -infinity", 1114, -1, "-infinity", TIMESTAMP_NEGATIVE_INFINITY_US),
    ("timestamp(3) infinity", 1114, 3, "infinity", 9223372036825200),
    ("timestamp(3) -infinity", 1114, 3, "-infinity", -9223372036832400),
    # timestamptz: UTC ISO text, fraction width = precision
    ("timestamptz UTC", 1184, -1, "2024-01-01 05:00:00.5+00", "2024-01-01T05:00:00.500000Z"),
    ("timestamptz offset", 1184, -1, "2024-01-01 10:30:00+05:30", "2024-01-01T05:00:00.000000Z"),
    ("timestamptz negative offset crossing a day", 1184, -1, "2023-12-31 20:00:00-09", "2024-01-01T05:00:00.000000Z"),
    ("timestamptz LMT seconds offset", 1184, -1, "1900-01-01 05:41:16+05:41:16", "1900-01-01T00:00:00.000000Z"),
    ("timestamptz(3)", 1184, 3, "2024-01-01 05:00:00.12+00", "2024-01-01T05:00:00.120Z"),
    ("timestamptz(0)", 1184, 0, "2024-01-01 05:00:00+00", "2024-01-01T05:00:00Z"),
    ("timestamptz BC", 1184, -1, "0044-03-15 12:00:00+00 BC", "-0043-03-15T12:00:00.000000Z"),
    ("timestamptz after 9999", 1184, -1, "10000-01-01 00:00:00+00", "+10000-01-01T00:00:00.000000Z"),
    ("timestamptz infinity", 1184, -1, "infinity", "infinity"),
    ("timestamptz -infinity", 1184, -1, "-infinity", "-infinity"),
    # timetz: UTC ISO time, shortest fraction
    ("timetz", 1266, -1, "10:15:30.123+02", "08:15:30.123Z"),
    ("timetz whole seconds", 1266, -1, "10:15:30-03:30", "13:45:30Z"),
    ("timetz wraps past midnight", 1266, -1, "01:00:00.500000+02", "23:00:00.5Z"),
    ("timetz 24:00 is OffsetTime's midnight", 1266, -1, "24:00:00+00", "00:00:00Z"),
    # interval: MicroDuration with 365.25/12 days a month
    ("interval", 1186, -1, "1 year 2 mons 3 days 04:05:06.789", 37091106789000),
    ("interval negative time", 1186, -1, "-1 days -00:00:01.5", -86401500000),
    ("interval mixed signs", 1186, -1, "-1 years -2 mons +3 days -04:05:06", -36572706000000),
    ("interval one month", 1186, -1, "1 mon", 2629800000000),
    ("interval zero", 1186, -1, "00:00:00", 0),
    ("interval microsecond", 1186, -1, "00:00:00.000001", 1),
    # point
    ("point", 600, -1, "(1,1)", {"x": 1.0, "y": 1.0, "wkb": "AQEAAAAAAAAAAADwPwAAAAAAAPA/", "srid": None}),
    # hstore: JSON text in java.util.HashMap order
    ("hstore", HSTORE, -1, '"a"=>"1", "b"=>NULL, "zz"=>"x\\"y"', '{"zz":"x\\"y","a":"1","b":null}'),
    ("hstore empty", HSTORE, -1, "", "{}"),
    # arrays
    ("int[]", 1007, -1, "{1,NULL,3}", [1, None, 3]),
    ("int[] empty", 1007, -1, "{}", []),
    ("int[][]", 1007, -1, "{{1,2},{3,4}}", [[1, 2], [3, 4]]),
    ("int[] with bounds", 1007, -1, "[0:1]={1,2}", [1, 2]),
    ("text[] quoting", 1009, -1, '{"a b","c\\"d",NULL,"NULL","",x}', ["a b", 'c"d', None, "NULL", "", "x"]),
    ("uuid[]", 2951, -1, "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}", ["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"]),
    ("bytea[]", 1001, -1, '{"\\\\x0102",NULL}', ["AQI=", None]),
    ("timestamp(3)[] keeps the precision", 1115, 3, '{"2024-01-01 05:00:00.123"}', [1704085200123]),
    ("numeric[]", 1231, -1, "{1.50,NaN}", ["1.50", "NAN"]),
    ("enum[]", MOOD_ARRAY, -1, "{sad,happy}", ["sad", "happy"]),
    # domains convert as their base type
    ("domain over int", POSINT, -1, "42", 42),
    ("domain over timestamp(3)", TS3_DOMAIN, -1, "2024-01-01 05:00:00.123", 1704085200123),
    ("array of a domain", POSINT_ARRAY, -1, "{1,2}", [1, 2]),
]


@pytest.mark.parametrize(("type_oid", "typmod", "text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_text_value_becomes_debeziums_json_value(type_oid: int, typmod: int, text: str, expected: Any) -> None:
    assert convert(type_oid, text, typmod) == expected


def test_negative_zero_double_stays_negative_in_json() -> None:
    assert orjson.dumps(convert(701, "-0")) == b"-0.0"


def test_relation_column_converts_like_a_catalog_column() -> None:
    assert converter_for(RelationColumn(0, "t", 1184, 3))("2024-01-01 05:00:00+00") == "2024-01-01T05:00:00.000Z"


def test_unparsable_text_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=re.escape("invalid literal for int() with base 10: 'x'")):
        convert(23, "x")


PLACEHOLDERS = [
    ("text", 25, "__debezium_unavailable_value"),
    ("jsonb", 3802, "__debezium_unavailable_value"),
    ("numeric", 1700, "__debezium_unavailable_value"),
    ("bytea", 17, "X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ=="),
    ("text[]", 1009, ["__debezium_unavailable_value"]),
    ("varchar[]", 1015, ["__debezium_unavailable_value"]),
    ("jsonb[]", 3807, ["__debezium_unavailable_value"]),
    ("bytea[]", 1001, ["X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ=="]),
    ("int[]", 1007, list(b"__debezium_unavailable_value")),
    ("bigint[]", 1016, list(b"__debezium_unavailable_value")),
    ("date[]", 1182, list(b"__debezium_unavailable_value")),
    ("uuid[]", 2951, ["b68a35a7-17ad-35b3-af2a-ae46edb4545a"]),
    ("hstore", HSTORE, '{"__debezium_unavailable_value":"__debezium_unavailable_value"}'),
    ("enum[]", MOOD_ARRAY, "__debezium_unavailable_value"),
]


@pytest.mark.parametrize(("type_oid", "expected"), [p[1:] for p in PLACEHOLDERS], ids=[p[0] for p in PLACEHOLDERS])
def test_unchanged_toast_placeholder_takes_the_form_of_the_column_type(type_oid: int, expected: Any) -> None:
    assert placeholder_for(PgColumn("c", type_oid), TYPES) == expected


def test_custom_placeholder_bytes_are_signed_like_java_bytes() -> None:
    assert placeholder_for(PgColumn("c", 1007), placeholder="ü") == [-61, -68]
