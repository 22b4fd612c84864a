"""MySQL/MariaDB values → Debezium JSON values, as either driver delivers them (pure, literal inputs)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from rdi.collectors.mysql_types import (
    MySqlColumn,
    column_from_information_schema,
    converter_for,
    float32_text,
    schema_entry,
    zero_value,
)


def convert(column: MySqlColumn, value: object, **modes: str) -> object:
    conv = converter_for(column, **modes)
    return value if conv is None else conv(value)


def test_float_prints_the_shortest_float32_text() -> None:
    assert [float32_text(v) for v in (1.100000023841858, 0.5, 3.4028234663852886e38, -2.5e-7)] == [
        1.1, 0.5, 3.4028235e38, -2.5e-7,
    ]  # fmt: skip


def test_decimal_modes() -> None:
    column = MySqlColumn("d", "decimal", precision=10, scale=2)
    assert [
        convert(column, Decimal("-12.34")),
        convert(column, Decimal("12.34"), decimal_mode="precise"),
        convert(column, Decimal("-1.50"), decimal_mode="precise"),
        convert(column, Decimal("0.00"), decimal_mode="precise"),
        convert(column, Decimal("12.34"), decimal_mode="double"),
    ] == ["-12.34", "BNI=", "/2o=", "AA==", 12.34]


def test_bigint_unsigned_is_exact_unless_long_mode_wraps_it() -> None:
    column = MySqlColumn("u", "bigint", unsigned=True)
    value = 18446744073709551615
    assert (convert(column, value), convert(column, value, bigint_unsigned_mode="long")) == (value, -1)


def test_bits_from_either_driver_are_little_endian_base64() -> None:
    ten, one = MySqlColumn("b", "bit", length=10), MySqlColumn("b", "bit", length=1)
    assert [convert(ten, "1000000001"), convert(ten, b"\x02\x01"), convert(one, "1"), convert(one, b"\x00")] == [
        "AQI=", "AQI=", True, False,
    ]  # fmt: skip


def test_set_members_in_declared_order() -> None:
    column = MySqlColumn("s", "set", values=("a", "b", "c"))
    assert (convert(column, {"c", "a"}), convert(column, "a,c")) == ("a,c", "a,c")


def test_binary_is_padded_with_the_zero_bytes_the_binlog_strips() -> None:
    assert convert(MySqlColumn("b", "binary", length=4), b"\x01") == "AQAAAA=="


def test_temporal_values() -> None:
    moment = dt.datetime(2024, 1, 1, 10, 0, 0, 500000)
    assert [
        convert(MySqlColumn("d", "date"), dt.date(2024, 2, 3)),
        convert(MySqlColumn("t", "time", fsp=3), dt.timedelta(hours=-838, minutes=-59, seconds=-59)),
        convert(MySqlColumn("dt", "datetime", fsp=3), moment),
        convert(MySqlColumn("dt", "datetime", fsp=6), moment),
        convert(MySqlColumn("ts", "timestamp", fsp=3), moment),
        convert(MySqlColumn("ts", "timestamp", fsp=0), moment),
        convert(MySqlColumn("d", "date", nullable=True), "0000-00-00"),
        convert(MySqlColumn("d", "date", nullable=False), "0000-00-00"),
        convert(MySqlColumn("dt", "datetime", fsp=6), "2024-01-01 10:00:00.5"),
        convert(MySqlColumn("t", "time", fsp=3), "-838:59:59.250"),
        convert(MySqlColumn("ts", "timestamp", fsp=0, nullable=False), "0000-00-00 00:00:00"),
    ] == [
        19756, -3020399000000, 1704103200500, 1704103200500000, "2024-01-01T10:00:00.500Z", "2024-01-01T10:00:00Z",
        None, 0, 1704103200500000, -3020399250000, "1970-01-01T00:00:00Z",
    ]  # fmt: skip


def test_not_null_zero_values_for_what_the_binlog_reads_as_none() -> None:
    columns = [MySqlColumn("d", "date"), MySqlColumn("t", "timestamp", fsp=2), MySqlColumn("s", "set")]
    assert [zero_value(c) for c in columns] == [0, "1970-01-01T00:00:00.00Z", ""]


def test_mariadb_json_column_from_the_catalog() -> None:
    column = column_from_information_schema("j", "longtext", "longtext", True, None, None, None, None, True)
    assert schema_entry(column) == {"type": "string", "name": "io.debezium.data.Json", "scale": None}


def test_schema_entries_of_the_logical_types() -> None:
    columns = [
        MySqlColumn("a", "date"),
        MySqlColumn("b", "datetime", fsp=0),
        MySqlColumn("c", "datetime", fsp=6),
        MySqlColumn("d", "timestamp"),
        MySqlColumn("e", "decimal", precision=10, scale=2),
        MySqlColumn("f", "int", unsigned=True),
        MySqlColumn("g", "bit", length=3),
        MySqlColumn("h", "enum", values=("x",)),
    ]
    assert [schema_entry(c) for c in columns] == [
        {"type": "int32", "name": "io.debezium.time.Date", "scale": None},
        {"type": "int64", "name": "io.debezium.time.Timestamp", "scale": None},
        {"type": "int64", "name": "io.debezium.time.MicroTimestamp", "scale": None},
        {"type": "string", "name": "io.debezium.time.ZonedTimestamp", "scale": None},
        {"type": "string", "name": None, "scale": 2},
        {"type": "int64", "name": None, "scale": None},
        {"type": "bytes", "name": "io.debezium.data.Bits", "scale": None},
        {"type": "string", "name": "io.debezium.data.Enum", "scale": None},
    ]
