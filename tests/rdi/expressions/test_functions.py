"""RDI's custom JMESPath functions, one behaviour per case (spec §2.4)."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from rdi.errors import BadRecordError
from rdi.expressions import compile_expression
from rdi.expressions.functions import HASH_ALGORITHMS

NOW = datetime(2024, 1, 10, 12, 0, 0, tzinfo=UTC)


def evaluate(text: str, row: dict[str, Any]) -> Any:
    return compile_expression(text, "jmespath", clock=lambda: NOW, new_uuid=lambda: "fixed-uuid").evaluate(row)


CASES: list[tuple[str, Any, Any]] = [
    ("base64_decode(encoded)", {"encoded": "SGVsbG8gV29ybGQh"}, "Hello World!"),
    ("base64_decode(encoded)", {"encoded": None}, None),
    ("capitalize(name)", {"name": "john doe"}, "John Doe"),
    ("capitalize(name)", {"name": "mcDonald  o'neil\tx"}, "McDonald  O'neil\tX"),
    ("capitalize(name)", {"name": None}, None),
    ("concat([fname, ' ', lname])", {"fname": "john", "lname": "doe"}, "john doe"),
    ("concat(['order:', id])", {"id": 42}, "order:42"),
    ("concat([a, b, c, d])", {"a": 1.5, "b": None, "c": True, "d": [1, "x"]}, '1.5true[1,"x"]'),
    ("concat(`[]`)", {}, ""),
    (
        "filter_entries(@, `key == 'name' || key == 'age'`)",
        {"name": "John", "age": 30, "country": "US", "score": 15},
        {"name": "John", "age": 30},
    ),
    ("filter_entries(@, 'value > `20`')", {"a": 10, "b": 30}, {"b": 30}),
    ("filter_entries(@, &value == `1`)", {"a": 1, "b": 2}, {"a": 1}),
    ("filter_entries(missing, 'key')", {}, None),
    (
        "from_entries(@)",
        [{"key": "name", "value": "John"}, {"key": "age", "value": 30}, {"key": "city", "value": None}],
        {"name": "John", "age": 30, "city": None},
    ),
    ("from_entries(missing)", {}, None),
    ("to_entries(@)", {"a": 1, "b": None}, [{"key": "a", "value": 1}, {"key": "b", "value": None}]),
    ("to_entries(missing)", {}, None),
    ("hash(s)", {"s": "some_value"}, "8c818171573b03feeae08b0b4ffeb6999e3afc05"),
    ("hash(n)", {"n": 42}, "92cfceb39d57d914ed8b14d0e37643de0797ae56"),
    ("hash(s)", {"s": None}, None),
    ("in(x, `[1, 2, 3]`)", {"x": 2}, True),
    ("in(x, `[1, 2, 3]`)", {"x": True}, False),
    ("in(x, `[1, 2, 3]`)", {"x": 2.0}, True),
    ("in(x, missing)", {"x": 1}, False),
    ("left(s, `2`)", {"s": "abcdef"}, "ab"),
    ("left(s, `-1`)", {"s": "abcdef"}, ""),
    ("left(s, `10`)", {"s": None}, None),
    ("right(s, `2`)", {"s": "abcdef"}, "ef"),
    ("right(s, `0`)", {"s": "abcdef"}, ""),
    ("right(s, `10`)", {"s": "abc"}, "abc"),
    ("mid(s, `1`, `3`)", {"s": "abcdef"}, "bcd"),
    ("mid(s, `4`, `10`)", {"s": "abcdef"}, "ef"),
    ("mid(s, `1`, `3`)", {"s": None}, None),
    ("lower(s)", {"s": "ÀBC"}, "àbc"),
    ("lower(s)", {"s": None}, None),
    ("upper(s)", {"s": "straße"}, "STRASSE"),
    ("upper(s)", {"s": None}, None),
    ("json_parse(s)", {"s": '{"a": [1, null]}'}, {"a": [1, None]}),
    ("json_parse(s)", {"s": None}, None),
    ("regex_replace(s, '[0-9]+', '#')", {"s": "a1b22"}, "a#b#"),
    ("regex_replace(s, '(\\w+)@(\\w+)', '\\2 at \\1')", {"s": "me@home"}, "home at me"),
    ("regex_replace(s, 'x', 'y')", {"s": None}, None),
    ("replace(s, 'a', 'o')", {"s": "banana"}, "bonono"),
    ("replace(s, 'a', 'o')", {"s": None}, None),
    ("split(s)", {"s": "a,b,,c"}, ["a", "b", "", "c"]),
    ("split(s, ' ')", {"s": "a b"}, ["a", "b"]),
    ("split(s)", {"s": ""}, [""]),
    ("split(s)", {"s": None}, None),
    ("time_delta_days(dt)", {"dt": "2024-01-15T12:00:00Z"}, 5),
    ("time_delta_days(dt)", {"dt": "2024-01-09T12:00:00"}, -1),
    ("time_delta_days(dt)", {"dt": "2024-01-10T00:00:00+00:00"}, -1),
    ("time_delta_days(dt)", {"dt": 1705320000}, 5),
    ("time_delta_days(dt)", {"dt": None}, None),
    ("time_delta_seconds(dt)", {"dt": "2024-01-10T12:01:30Z"}, 90),
    ("time_delta_seconds(dt)", {"dt": 1704888000.5}, 0),
    ("time_delta_seconds(dt)", {"dt": "2024-01-10T11:00:00Z"}, -3600),
    ("uuid()", {}, "fixed-uuid"),
    (
        "xml_to_dict(s)",
        {"s": '<a><b x="1">t</b><b>u</b></a>'},
        {"a": {"b": [{"@x": "1", "#text": "t"}, "u"]}},
    ),
    ("xml_to_dict(s)", {"s": None}, None),
    ("xml_to_dict(s)", {"s": ""}, ""),
]


@pytest.mark.parametrize(("text", "row", "expected"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_custom_function(text: str, row: dict[str, Any], expected: Any) -> None:
    assert evaluate(text, row) == expected


@pytest.mark.parametrize("algorithm", HASH_ALGORITHMS)
def test_hash_supports_each_listed_algorithm(algorithm: str) -> None:
    assert evaluate(f"hash(s, `{algorithm}`)", {"s": "x"}) == hashlib.new(algorithm, b"x").hexdigest()


def test_uuid_default_is_a_random_uuid4() -> None:
    value = compile_expression("uuid()", "jmespath").evaluate({})
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", value)


FAILURES = [
    ("base64_decode(s)", {"s": "!!"}, "jmespath `base64_decode(s)`: base64_decode(): invalid base64 `!!`"),
    ("json_parse(s)", {"s": "{"}, "jmespath `json_parse(s)`: json_parse(): invalid JSON: Expecting property "
     "name enclosed in double quotes: line 1 column 2 (char 1)"),
    ("hash(s, a)", {"s": "x", "a": "crc"}, "jmespath `hash(s, a)`: hash(): unknown algorithm `crc`, expected "
     "one of " + ", ".join(HASH_ALGORITHMS)),
    ("time_delta_days(s)", {"s": "soon"}, "jmespath `time_delta_days(s)`: time_delta_days(): invalid "
     "ISO-8601 date-time `soon`"),
    ("from_entries(@)", [{"value": 1}], 'jmespath `from_entries(@)`: from_entries(): expected objects with a '
     'string `key`, got {"value":1}'),
    ("upper(s)", {"s": 5}, "jmespath `upper(s)`: In function upper(), invalid type for value: 5, expected "
     "one of: ['string', 'null'], received: \"number\""),
    ("split(s, '')", {"s": "ab"}, "jmespath `split(s, '')`: split(): empty delimiter"),
    ("xml_to_dict(s)", {"s": "<a>"}, "jmespath `xml_to_dict(s)`: xml_to_dict(): invalid XML: no element "
     "found: line 1, column 3"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "row", "reason"), FAILURES, ids=[f[0] for f in FAILURES])
def test_function_rejects_the_record(text: str, row: Any, reason: str) -> None:
    with pytest.raises(BadRecordError, match=f"^{re.escape(reason)}$"):
        evaluate(text, row)
