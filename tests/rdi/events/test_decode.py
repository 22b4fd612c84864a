"""`decode_event` rejects what is not a Debezium change event with one exact, one-line reason."""

from __future__ import annotations

import re

import pytest

from rdi.errors import BadRecordError
from rdi.events import ColumnType, decode_event

SOURCE = '"source":{"connector":"postgresql","name":"rdi","db":"shop","schema":"public","table":"t"}'


def _reason(key: bytes | str | None, value: bytes | str, types: dict[str, ColumnType] | None = None) -> str:
    with pytest.raises(BadRecordError) as info:
        decode_event(key, value, types=types)
    return info.value.reason


def test_value_that_is_not_json_is_rejected():
    assert _reason(None, b"nope") == (
        "event value is not JSON: invalid literal, expected 'null': line 1 column 1 (char 0)"
    )


def test_empty_value_is_rejected():
    assert _reason(None, "") == (
        "event value is not JSON: Input is a zero-length, empty document: line 1 column 1 (char 0)"
    )


def test_key_that_is_not_json_is_rejected():
    value = '{"op":"c","after":{"id":1},' + SOURCE + "}"
    assert _reason(b"{id:1}", value) == (
        "event key is not JSON: unexpected character, expected a string key: line 1 column 2 (char 1)"
    )


def test_value_that_is_an_array_is_rejected():
    assert _reason(None, b"[1,2]") == "event value is not a JSON object; got an array"


def test_schemas_enabled_payload_that_is_a_string_is_rejected():
    assert _reason(None, b'{"schema":{"type":"string"},"payload":"x"}') == (
        "event value is not a JSON object; got a string"
    )


def test_value_without_op_is_rejected():
    assert _reason(None, '{"after":{"id":1},' + SOURCE + "}") == "event value has no `op`"


def test_unknown_op_is_rejected():
    assert _reason(None, '{"op":"x",' + SOURCE + "}") == ('event has unknown op "x"; expected c, u, d, r, t or m')


def test_op_that_is_not_a_string_is_rejected():
    assert _reason(None, '{"op":["c"],' + SOURCE + "}") == ('event has unknown op ["c"]; expected c, u, d, r, t or m')


def test_value_without_source_is_rejected():
    assert _reason(None, b'{"op":"c","after":{"id":1}}') == "event value has no `source` block"


def test_source_without_table_is_rejected():
    value = b'{"op":"c","after":{"id":1},"source":{"connector":"postgresql","name":"rdi","db":"shop"}}'
    assert _reason(None, value) == "event `source` has no `table`"


def test_after_that_is_not_an_object_is_rejected():
    assert _reason(None, '{"op":"c","after":[1],' + SOURCE + "}") == (
        "event `after` is not a JSON object; got an array"
    )


def test_key_that_is_not_an_object_is_rejected():
    assert _reason(b"7", '{"op":"c","after":{"id":7},' + SOURCE + "}") == (
        "event key is not a JSON object; got a number"
    )


def test_date_that_is_not_an_integer_is_rejected():
    value = '{"op":"c","after":{"id":1,"d":"2024-01-01"},' + SOURCE + "}"
    assert _reason(None, value, types={"d": ColumnType("io.debezium.time.Date")}) == (
        "column `d`: `io.debezium.time.Date` expects an integer, got `str` '2024-01-01'"
    )


def test_json_column_that_is_not_json_is_rejected():
    value = '{"op":"c","after":{"id":1,"j":"{oops"},' + SOURCE + "}"
    assert _reason(None, value, types={"j": ColumnType("io.debezium.data.Json")}) == (
        "column `j`: `io.debezium.data.Json` value is not JSON: '{oops'"
    )


def test_decimal_without_scale_is_rejected():
    value = '{"op":"c","after":{"id":1,"p":"BNI="},' + SOURCE + "}"
    assert _reason(None, value, types={"p": ColumnType("org.apache.kafka.connect.data.Decimal")}) == (
        "column `p`: `org.apache.kafka.connect.data.Decimal` has no `scale` parameter"
    )


def test_malformed_variable_scale_decimal_is_rejected():
    value = '{"op":"c","after":{"id":1,"p":{"scale":"2","value":"BNI="}},' + SOURCE + "}"
    assert _reason(None, value, types={"p": ColumnType("io.debezium.data.VariableScaleDecimal")}) == (
        "column `p`: `io.debezium.data.VariableScaleDecimal` expects "
        "{\"scale\": int, \"value\": base64}, got {'scale': '2', 'value': 'BNI='}"
    )


def test_error_reasons_are_one_line():
    reason = _reason(None, b'{"op":\n"c"\n')
    assert re.fullmatch(r"event value is not JSON: [^\n]+", reason)
