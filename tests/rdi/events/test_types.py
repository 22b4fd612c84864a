"""`normalise_row` and `column_types`: the parts of the type table not reached through whole events."""

from __future__ import annotations

from rdi.events import DEFAULT_PLACEHOLDER, ColumnType, column_types, normalise_row


def test_column_types_reads_names_types_and_scale_from_a_struct_schema():
    schema = {
        "type": "struct",
        "fields": [
            {"type": "int32", "optional": False, "field": "id"},
            {"type": "int32", "name": "io.debezium.time.Date", "version": 1, "field": "day"},
            {
                "type": "bytes",
                "name": "org.apache.kafka.connect.data.Decimal",
                "parameters": {"scale": "2", "connect.decimal.precision": "10"},
                "field": "price",
            },
            {"type": "array", "items": {"type": "string"}, "field": "tags"},
            {"type": "string"},
        ],
    }
    assert column_types(schema) == {
        "id": ColumnType(type="int32"),
        "day": ColumnType(name="io.debezium.time.Date", type="int32"),
        "price": ColumnType(name="org.apache.kafka.connect.data.Decimal", type="bytes", scale=2),
        "tags": ColumnType(type="array"),
    }


def test_column_types_of_a_schema_without_fields_is_empty():
    assert column_types({"type": "string"}) == {}


def test_normalise_row_returns_a_new_row_and_leaves_the_input_unchanged():
    row = {"id": 1, "day": 1, "body": DEFAULT_PLACEHOLDER}
    out = normalise_row(row, {"day": ColumnType("io.debezium.time.Date")})
    assert (row, out) == ({"id": 1, "day": 1, "body": DEFAULT_PLACEHOLDER}, {"id": 1, "day": 86400000})


def test_normalise_row_without_types_only_removes_placeholders():
    row = {"a": 19000, "b": "X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ==", "c": "{}", "d": None}
    assert normalise_row(row) == {"a": 19000, "c": "{}", "d": None}


def test_normalise_row_keeps_column_order():
    types = {"b": ColumnType("io.debezium.data.Json"), "a": ColumnType("io.debezium.time.Date")}
    assert list(normalise_row({"a": 1, "b": "[]", "c": 3}, types)) == ["a", "b", "c"]
