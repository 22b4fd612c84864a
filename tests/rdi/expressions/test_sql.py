"""SQL expressions evaluated with SQLite semantics (spec §2.4): the exact path and how rows become columns."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest

from rdi.errors import BadRecordError
from rdi.expressions import ExpressionError, compile_expression, compile_sql
from rdi.expressions.sql import format_real

FULL_INSERT = {"before": None, "after": {"id": 7, "total": 10.5}, "key": {"id": 7}, "opcode": "c"}
FULL_UPDATE = {
    "before": {"id": 8, "total": 3},
    "after": {"id": 8, "total": 4},
    "key": {"id": 8},
    "opcode": "u",
}


def test_filter_expression_on_a_flat_row() -> None:
    expression = compile_expression("status <> 'draft'", "sql")
    assert expression.evaluate_batch([{"status": "draft"}, {"status": "paid"}, {"status": None}]) == [
        0,
        1,
        None,
    ]


def test_full_row_columns_are_addressed_as_qualifier_dot_column() -> None:
    expression = compile_expression("opcode || ':' || coalesce(after.id, before.id) || ':' || key.id", "sql")
    assert expression.evaluate_batch([FULL_INSERT, FULL_UPDATE]) == ["c:7:7", "u:8:8"]


def test_null_before_image_gives_null_columns() -> None:
    expression = compile_sql("before.total IS NULL AND after.total > 10")
    assert expression.evaluate(FULL_INSERT) == 1


def test_nested_object_is_also_a_json_text_column() -> None:
    expression = compile_sql("json_extract(after, '$.total')")
    assert expression.evaluate(FULL_INSERT) == 10.5


def test_values_are_bound_as_sqlite_values() -> None:
    row = {"b": True, "j": [1, {"a": None}], "raw": b"\x00\x01", "huge": 2**70, "n": None}
    expression = compile_sql("typeof(b) || b || typeof(j) || j || typeof(raw) || typeof(huge) || typeof(n)")
    assert expression.evaluate(row) == 'integer1text[1,{"a":null}]blobrealnull'


def test_comparison_results_are_integers() -> None:
    assert compile_sql("a < b").evaluate_batch([{"a": 1, "b": 2}, {"a": 2, "b": 1}]) == [1, 0]


def test_documented_functions_are_available() -> None:
    expression = compile_sql("concat(a, '-', floor(b), '-', mod(7, 3), '-', round(b), '-', strftime('%Y', d))")
    assert expression.evaluate({"a": "x", "b": 2.5, "d": "2024-05-01"}) == "x-2.0-1.0-3.0-2024"


def test_concat_skips_nulls_and_prints_reals_like_sqlite() -> None:
    assert compile_sql("concat(a, NULL, 1e20, 2, 0.5)").evaluate({"a": "x"}) == "x1.0e+2020.5"


def test_format_real_matches_sqlite_text_of_reals() -> None:
    values = [1.0, 1e20, 1 / 3, -2.5e-7, 1e-5, 100.0, 123456789012345678.0, float("inf")]
    expected = compile_sql("printf('%s', x)").evaluate_batch([{"x": v} for v in values])
    assert [format_real(v) for v in values] == expected


def test_field_names_are_case_insensitive_like_sqlite_columns() -> None:
    assert compile_sql("ID + After.Total").evaluate({"id": 1, "after": {"total": 2}}) == 3


def test_batch_without_shared_fields_is_evaluated_per_row() -> None:
    expression = compile_sql("coalesce(a, b)")
    rows: list[dict[str, Any]] = [{"a": 1, "b": None}, {"b": "x", "a": None}, {"a": None, "b": 2.5, "c": 0}]
    assert expression.evaluate_batch(rows) == [1, "x", 2.5]


def test_aggregate_is_evaluated_per_row_not_over_the_batch() -> None:
    assert compile_sql("max(a) + count(*)").evaluate_exact([{"a": 1}, {"a": 5}]) == [2, 6]


def test_exact_batch_query_keeps_row_order() -> None:
    rows = [{"a": i, "s": str(i)} for i in range(5000)]
    assert compile_sql("s || ':' || (a * 2)").evaluate_exact(rows) == [f"{i}:{i * 2}" for i in range(5000)]


def test_empty_batch_gives_no_results() -> None:
    assert compile_sql("a").evaluate_batch([]) == []


def test_each_thread_uses_its_own_connection() -> None:
    expression = compile_sql("a * 2")
    results: list[Any] = []
    threads = [threading.Thread(target=lambda i=i: results.append(expression.evaluate({"a": i}))) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [0, 2, 4, 6]


COMPILE_ERRORS = [
    ("uper(name)", "unknown function `uper`"),
    ("upper(a, b)", "wrong number of arguments to function `upper`"),
    ("a +", "invalid sql `a +`: incomplete input"),
    ("a + * b", 'invalid sql `a + * b`: near "*": syntax error'),
    ("(a", "invalid sql `(a`: incomplete input"),
    ("a)", "invalid sql `a)`: unbalanced `)` at column 1"),
    ("'abc", "invalid sql `'abc`: unterminated quote at column 0"),
    ("a; DROP TABLE t", "invalid sql `a; DROP TABLE t`: `;` is not allowed in an expression"),
    ("a, b", "invalid sql `a, b`: expected one expression, got `,`"),
    ("a FROM sqlite_master", "invalid sql `a FROM sqlite_master`: expected one expression, got `FROM`"),
    ("a = ?", "invalid sql `a = ?`: parameters like `?` are not allowed"),
    ("x.y.z", "invalid sql `x.y.z`: no such column: x.y.z"),
    ("", "empty sql expression"),
]


@pytest.mark.parametrize(("text", "message"), COMPILE_ERRORS, ids=[c[0] for c in COMPILE_ERRORS])
def test_compile_error(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=f"^{re.escape(message)}$"):
        compile_expression(text, "sql")


RUNTIME_ERRORS = [
    ("total + 1", {"amount": 1}, "sql `total + 1`: no such column: total"),
    ("after.id", {"after": 5}, "sql `after.id`: no such column: after.id"),
    ("abs(a)", {"a": -(2**63)}, "sql `abs(a)`: integer overflow"),
    ("json_extract(a, '$.x')", {"a": "{"}, "sql `json_extract(a, '$.x')`: malformed JSON"),
]


@pytest.mark.parametrize(("text", "row", "reason"), RUNTIME_ERRORS, ids=[e[0] for e in RUNTIME_ERRORS])
def test_runtime_error_is_a_bad_record(text: str, row: dict[str, Any], reason: str) -> None:
    with pytest.raises(BadRecordError, match=f"^{re.escape(reason)}$"):
        compile_sql(text).evaluate(row)


def test_batch_reports_the_failing_row_like_evaluate() -> None:
    rows = [{"a": "{}"}, {"a": "{"}]
    with pytest.raises(BadRecordError, match=re.escape("sql `json_extract(a, '$.x')`: malformed JSON")):
        compile_sql("json_extract(a, '$.x')").evaluate_batch(rows)
