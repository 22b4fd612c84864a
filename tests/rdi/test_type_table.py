"""The RDI type table end to end (rdi-compat-spec §3.2): a Debezium column value → hash field and JSON value.

Each row: the Debezium logical type (what the event schema or the collector says), the value as Debezium's JSON
converter writes it, what a hash output stores (``None`` = no field) and what a JSON output stores
(``ABSENT`` = no field).
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from rdi.events import ColumnType, decode_event
from rdi.jobs import JobRouter
from rdi.writers.redis import WriteDefaults

ABSENT = object()
PLACEHOLDER = "__debezium_unavailable_value"

ROWS: list[tuple[str, ColumnType | None, Any, str | None, Any]] = [
    ("int", ColumnType(type="int32"), 42, "42", 42),
    ("bigint", ColumnType(type="int64"), -9007199254740993, "-9007199254740993", -9007199254740993),
    ("boolean", ColumnType(type="boolean"), True, "1", True),
    ("boolean false", ColumnType(type="boolean"), False, "0", False),
    ("varchar", ColumnType(type="string"), "héllo", "héllo", "héllo"),
    ("char keeps padding", ColumnType(type="string"), "ab  ", "ab  ", "ab  "),
    ("numeric (string mode)", ColumnType(type="string"), "12.34", "12.34", "12.34"),
    ("numeric (precise)", ColumnType("org.apache.kafka.connect.data.Decimal", "bytes", 2), "BNI=", "12.34", "12.34"),
    ("numeric negative (precise)", ColumnType("org.apache.kafka.connect.data.Decimal", "bytes", 2), "/2o=",
     "-1.50", "-1.50"),
    ("numeric without scale", ColumnType("io.debezium.data.VariableScaleDecimal", "struct"),
     {"scale": 2, "value": "BNI="}, "12.34", "12.34"),
    ("real", ColumnType(type="float"), 1.5, "1.5", 1.5),
    ("double", ColumnType(type="double"), 2.0, "2.0", 2.0),
    ("date (days)", ColumnType("io.debezium.time.Date", "int32"), 19000, "1641600000000", 1641600000000),
    ("time (µs)", ColumnType("io.debezium.time.MicroTime", "int64"), 3600000000, "3600000000", 3600000000),
    ("timestamp(3) (ms)", ColumnType("io.debezium.time.Timestamp", "int64"), 1529507596945, "1529507596945",
     1529507596945),
    ("timestamp (µs)", ColumnType("io.debezium.time.MicroTimestamp", "int64"), 1529507596945104,
     "1529507596945.104", 1529507596945.104),
    ("timestamp (ns)", ColumnType("io.debezium.time.NanoTimestamp", "int64"), 1529507596945104000,
     "1529507596945.104", 1529507596945.104),
    ("timestamptz", ColumnType("io.debezium.time.ZonedTimestamp", "string"), "2024-01-01T05:00:00.500000Z",
     "2024-01-01T05:00:00.500000Z", "2024-01-01T05:00:00.500000Z"),
    ("bytea (base64)", ColumnType(type="bytes"), "AQID", "AQID", "AQID"),
    ("json/jsonb", ColumnType("io.debezium.data.Json", "string"), '{"a": [1, 2]}', '{"a":[1,2]}', {"a": [1, 2]}),
    ("uuid", ColumnType("io.debezium.data.Uuid", "string"), "a0ee-bc99", "a0ee-bc99", "a0ee-bc99"),
    ("enum", ColumnType("io.debezium.data.Enum", "string"), "paid", "paid", "paid"),
    ("array", ColumnType(type="array"), [1, 2], "[1,2]", [1, 2]),
    ("bit(n) is dropped", ColumnType("io.debezium.data.Bits", "bytes"), "AQI=", None, ABSENT),
    ("interval is dropped", ColumnType("io.debezium.time.MicroDuration", "int64"), 3600000000, None, ABSENT),
    ("null", ColumnType(type="string"), None, None, None),
    ("TOAST-unchanged text is skipped", ColumnType(type="string"), PLACEHOLDER, None, ABSENT),
    ("untyped number passes through", None, 7, "7", 7),
]  # fmt: skip


def _write(data_type: str, column_type: ColumnType | None, value: Any) -> list[tuple[str, ...]]:
    envelope = {
        "before": None, "after": {"id": 1, "v": value}, "op": "u", "ts_ms": 1,
        "source": {"connector": "postgresql", "name": "rdi", "db": "d", "schema": "public", "table": "t"},
    }  # fmt: skip
    types = {"v": column_type} if column_type else None
    event = decode_event(b'{"id":1}', orjson.dumps(envelope), types=types)
    assert event is not None
    result = JobRouter({}, WriteDefaults(target_data_type=data_type)).apply([event])[0]  # type: ignore[arg-type]
    return [tuple(c) for o in result.outputs for c in o.commands]


@pytest.mark.parametrize(("label", "column_type", "value", "in_hash", "in_json"), ROWS, ids=[r[0] for r in ROWS])
def test_type_table_row(
    label: str, column_type: ColumnType | None, value: Any, in_hash: str | None, in_json: Any
) -> None:
    hash_commands = _write("hash", column_type, value)
    json_commands = _write("json", column_type, value)
    expected_hash = [("HSET", "t:id:1", "id", "1") + (() if in_hash is None else ("v", in_hash))]
    if value is None:  # an update to NULL removes the field
        expected_hash.insert(0, ("HDEL", "t:id:1", "v"))
    expected_doc: dict[str, Any] = {"id": 1} if in_json is ABSENT else {"id": 1, "v": in_json}
    assert (hash_commands, json_commands) == (
        expected_hash,
        [("JSON.SET", "t:id:1", "$", orjson.dumps(expected_doc).decode())],
    )
