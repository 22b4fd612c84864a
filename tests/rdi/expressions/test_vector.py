"""Each known difference between SQLite and Polars: the vectorised path either gives SQLite's result (value
and Python type) or leaves the batch to SQLite."""

from __future__ import annotations

from typing import Any

import pytest

from rdi.expressions import compile_sql

Typed = list[tuple[type, Any]]


def run(text: str, rows: list[dict[str, Any]]) -> tuple[str, Typed, Typed]:
    """(path taken, typed `evaluate_batch` result, typed SQLite per-row result)."""
    expression = compile_sql(text)
    path = "vector" if expression.evaluate_vector(rows) is not None else "sqlite"
    per_row = [expression.evaluate(row) for row in rows]
    return path, [(type(v), v) for v in expression.evaluate_batch(rows)], [(type(v), v) for v in per_row]


def column(name: str, *values: Any) -> list[dict[str, Any]]:
    return [{name: v} for v in values]


CASES: list[tuple[str, str, list[dict[str, Any]], str, Typed]] = [
    ("integer division truncates toward zero", "a / b",
     [{"a": 7, "b": 2}, {"a": -7, "b": 2}, {"a": 7, "b": -2}, {"a": -7, "b": -2}],
     "vector", [(int, 3), (int, -3), (int, -3), (int, 3)]),
    ("remainder takes the dividend's sign", "a % b",
     [{"a": 7, "b": 3}, {"a": -7, "b": 3}, {"a": 7, "b": -3}, {"a": -7, "b": -3}],
     "vector", [(int, 1), (int, -1), (int, 1), (int, -1)]),
    ("division by zero is NULL", "a / b",
     [{"a": 1, "b": 0}, {"a": 1.5, "b": 0.0}], "sqlite", [(type(None), None), (type(None), None)]),
    ("integer division by zero is NULL", "a / b", [{"a": 1, "b": 0}, {"a": 4, "b": 2}],
     "vector", [(type(None), None), (int, 2)]),
    ("real division by zero is NULL", "a / b", [{"a": 1.5, "b": 0.0}, {"a": 3.0, "b": 2.0}],
     "vector", [(type(None), None), (float, 1.5)]),
    ("real division by a literal is exact", "a / 1.25", column("a", -0.75),
     "vector", [(float, -0.6)]),
    ("integer overflow becomes REAL", "a + 1", column("a", 2**63 - 1, 1),
     "sqlite", [(float, 9.223372036854776e18), (int, 2)]),
    ("INT64_MIN / -1 overflows", "a / b", [{"a": -(2**63), "b": -1}],
     "sqlite", [(float, 9.223372036854776e18)]),
    ("NaN results are NULL", "a * 10 - a * 10", column("a", 1e308, 1.0),
     "vector", [(type(None), None), (float, 0.0)]),
    ("concatenation with NULL is NULL", "s || t", [{"s": "a", "t": None}, {"s": "a", "t": 1}],
     "vector", [(type(None), None), (str, "a1")]),
    ("REAL as text is SQLite's %!.15g", "f || ''", column("f", 0.1, 1e20),
     "sqlite", [(str, "0.1"), (str, "1.0e+20")]),
    ("numbers sort before text", "a < s", [{"a": 10**6, "s": "1"}, {"a": 1, "s": None}],
     "vector", [(int, 1), (type(None), None)]),
    ("a number never equals text without affinity", "a = s", [{"a": 1, "s": "1"}],
     "vector", [(int, 0)]),
    ("CAST gives affinity to a comparison", "CAST(a AS INTEGER) = s", [{"a": 1, "s": "1"}],
     "sqlite", [(int, 1)]),
    ("comparisons give integers 0/1", "a > 1", column("a", 2, 1),
     "vector", [(int, 1), (int, 0)]),
    ("int against real beyond 2^53 compares exactly", "a = f", [{"a": 2**53 + 1, "f": float(2**53)}],
     "sqlite", [(int, 0)]),
    ("round is half away from zero", "round(x)", column("x", 2.5, -2.5, 0.49999999999999994, -0.4),
     "vector", [(float, 3.0), (float, -3.0), (float, 1.0), (float, 0.0)]),
    ("round of an integer is REAL", "round(x)", column("x", 5),
     "vector", [(float, 5.0)]),
    ("round to decimals is left to SQLite", "round(x, 2)", column("x", 2.675),
     "sqlite", [(float, 2.68)]),
    ("length counts characters", "length(s)", column("s", "héllo", "日本", 123),
     "sqlite", [(int, 5), (int, 2), (int, 3)]),
    ("length of text counts characters", "length(s)", column("s", "héllo", "日本", None),
     "vector", [(int, 5), (int, 2), (type(None), None)]),
    ("text with NUL is left to SQLite", "length(s)", column("s", "a\x00b"),
     "sqlite", [(int, 1)]),
    ("upper folds ASCII only", "upper(s)", column("s", "straße", "éa"),
     "vector", [(str, "STRAßE"), (str, "éA")]),
    ("LIKE folds ASCII only", "s LIKE 'ä%'", column("s", "ÄB", "äb", None),
     "vector", [(int, 0), (int, 1), (type(None), None)]),
    ("trim strips spaces only", "trim(s)", column("s", " \tx "),
     "vector", [(str, "\tx")]),
    ("substr follows SQLite's positions", "substr(s, 0, 2) || substr(s, -2) || substr(s, 3, -2)",
     column("s", "abcdef"), "vector", [(str, "aefab")]),
    ("replace with an empty pattern returns the value untouched", "replace(a, '', 'x')", column("a", 12),
     "vector", [(int, 12)]),
    ("AND/OR use three-valued logic", "coalesce(a AND b, 9) * 10 + coalesce(a OR b, 9)",
     [{"a": 0, "b": None}, {"a": 1, "b": None}, {"a": None, "b": None}],
     "vector", [(int, 9), (int, 91), (int, 99)]),
    ("IN with NULL in the list is NULL when not found", "a IN (1, NULL)", column("a", 1, 2),
     "vector", [(int, 1), (type(None), None)]),
    ("IS TRUE tests the truth value", "a IS TRUE", column("a", -1, 0, None),
     "vector", [(int, 1), (int, 0), (int, 0)]),
    ("booleans are bound as 1/0", "flag + 0", column("flag", True, False),
     "vector", [(int, 1), (int, 0)]),
    ("a column of only NULLs", "a + 1", column("a", None, None),
     "vector", [(type(None), None), (type(None), None)]),
    ("mixed Python types in a column are left to SQLite", "a + 1", column("a", 1, 1.5),
     "sqlite", [(int, 2), (float, 2.5)]),
    ("non-finite floats are left to SQLite", "a + 1", column("a", float("inf")),
     "sqlite", [(float, float("inf"))]),
    ("bytes are left to SQLite", "length(a)", column("a", b"ab"),
     "sqlite", [(int, 2)]),
    ("integers beyond 64 bits are left to SQLite", "a", column("a", 2**64),
     "sqlite", [(float, 1.8446744073709552e19)]),
    ("text in arithmetic is left to SQLite", "s + 1", column("s", "12", "x"),
     "sqlite", [(int, 13), (int, 1)]),
    ("REAL % is left to SQLite", "a % 2", column("a", 5.5),
     "sqlite", [(float, 1.0)]),
    ("CASE with branches of two classes is left to SQLite", "CASE WHEN a THEN 1 ELSE 0.5 END",
     column("a", 1, 0), "sqlite", [(int, 1), (float, 0.5)]),
    ("CAST of plain digits is vectorised", "CAST(s AS INTEGER)", column("s", "12", "-7", None),
     "vector", [(int, 12), (int, -7), (type(None), None)]),
    ("CAST of other text is left to SQLite", "CAST(s AS INTEGER)", column("s", "12abc"),
     "sqlite", [(int, 12)]),
    ("TRUE beside a column named so is left to SQLite", "TRUE", column("true", 5),
     "sqlite", [(int, 1)]),
    ("a missing column is left to SQLite", "coalesce(a, 0)", [{"a": 1}, {"b": 1}, {"a": 2}],
     "sqlite", [(int, 1), (int, 0), (int, 2)]),
]  # fmt: skip


def _missing_column_case(case: tuple[str, str, list[dict[str, Any]], str, Typed]) -> bool:
    return case[0] == "a missing column is left to SQLite"


@pytest.mark.parametrize(
    ("text", "rows", "path", "expected"),
    [c[1:] for c in CASES if not _missing_column_case(c)],
    ids=[c[0] for c in CASES if not _missing_column_case(c)],
)
def test_vectorised_path_matches_sqlite(text: str, rows: list[dict[str, Any]], path: str, expected: Typed) -> None:
    assert run(text, rows) == (path, expected, expected)


def test_missing_column_is_not_vectorised() -> None:
    assert compile_sql("coalesce(a, 0)").evaluate_vector([{"a": 1}, {"b": 1}]) is None


def test_full_row_format_is_vectorised() -> None:
    rows: list[dict[str, Any]] = [
        {"before": None, "after": {"id": 1, "total": 10}, "opcode": "c"},
        {"before": {"id": 2, "total": 5}, "after": {"id": 2, "total": 7}, "opcode": "u"},
    ]
    text = "CASE WHEN before.total IS NULL THEN after.total ELSE after.total - before.total END"
    assert run(text, rows) == ("vector", [(int, 10), (int, 2)], [(int, 10), (int, 2)])


@pytest.mark.parametrize(
    ("text", "vectorisable"),
    [
        ("a + 1", True),
        ("upper(name) || ':' || id", True),
        ("a GLOB 'x*'", False),
        ("(SELECT 1)", False),
        ("a COLLATE NOCASE = 'x'", False),
        ("strftime('%Y', d)", True),  # parses; the function is left to SQLite per batch
    ],
)
def test_vectorisable_is_decided_by_syntax(text: str, vectorisable: bool) -> None:
    assert compile_sql(text).vectorisable is vectorisable


def test_unsupported_function_is_evaluated_by_sqlite() -> None:
    assert run("strftime('%Y', d)", column("d", "2024-05-01")) == ("sqlite", [(str, "2024")], [(str, "2024")])
