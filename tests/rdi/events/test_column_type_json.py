"""`ColumnType.to_json` / `ColumnType.from_json`: the form collectors publish column types in."""

from __future__ import annotations

import re

import pytest

from rdi.events import ColumnType

TYPES = [
    ColumnType(),
    ColumnType(type="int32"),
    ColumnType(name="io.debezium.time.Date", type="int32"),
    ColumnType(name="org.apache.kafka.connect.data.Decimal", type="bytes", scale=2),
    ColumnType(name="io.debezium.data.Json", type="string", scale=None),
]


def test_to_json_writes_type_name_and_scale_with_nulls() -> None:
    assert [ColumnType(type="string").to_json(), TYPES[3].to_json()] == [
        b'{"type":"string","name":null,"scale":null}',
        b'{"type":"bytes","name":"org.apache.kafka.connect.data.Decimal","scale":2}',
    ]


def test_from_json_reads_back_what_to_json_wrote() -> None:
    assert [ColumnType.from_json(t.to_json()) for t in TYPES] == TYPES


def test_from_json_accepts_text_treats_missing_keys_as_null_and_ignores_unknown_keys() -> None:
    text = '{"name": "io.debezium.data.Bits", "type": "bytes", "length": 10}'
    assert [ColumnType.from_json(text), ColumnType.from_json("{}")] == [
        ColumnType(name="io.debezium.data.Bits", type="bytes"),
        ColumnType(),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"{", "a column type must be JSON, got '{' instead"),
        (b'"int32"', "a column type must be a JSON object, got '\"int32\"' instead"),
        (b'{"type": 32}', "column type `type` must be a string or null, got '{\"type\": 32}' instead"),
        (b'{"name": []}', "column type `name` must be a string or null, got '{\"name\": []}' instead"),
        (b'{"scale": "2"}', 'column type `scale` must be an integer or null, got \'{"scale": "2"}\' instead'),
    ],
)
def test_from_json_rejects_malformed_text_with_one_line(text: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        ColumnType.from_json(text)
