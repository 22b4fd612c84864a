"""Compiling and evaluating JMESPath expressions (spec §2.4, §2.10)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from rdi.errors import BadRecordError
from rdi.expressions import ExpressionError, compile_expression

FULL_INSERT = {
    "before": None,
    "after": {"id": 7, "total": 10},
    "key": {"id": 7},
    "opcode": "c",
    "table": "orders",
}
FULL_DELETE = {
    "before": {"id": 8, "total": 3},
    "after": None,
    "key": {"id": 8},
    "opcode": "d",
    "table": "orders",
}


def test_full_row_key_falls_back_from_after_to_before() -> None:
    expression = compile_expression("concat(['order:', after.id || before.id])", "jmespath")
    assert expression.evaluate_batch([FULL_INSERT, FULL_DELETE]) == ["order:7", "order:8"]


def test_full_row_fields_are_addressed_with_dots() -> None:
    expression = compile_expression("{op: opcode, key: key.id, total: after.total}", "jmespath")
    assert expression.evaluate(FULL_INSERT) == {"op": "c", "key": 7, "total": 10}


def test_backtick_literal_is_a_constant_key() -> None:
    assert compile_expression("`orders:by_total`", "jmespath").evaluate({"id": 1}) == "orders:by_total"


def test_builtin_functions_still_work() -> None:
    expression = compile_expression("concat([customer_name, ' #', to_string(customer_id)])", "jmespath")
    assert expression.evaluate({"customer_name": "Ann", "customer_id": 3}) == "Ann #3"


def test_expression_keeps_its_text_and_language() -> None:
    expression = compile_expression("a.b", "jmespath")
    assert (expression.text, expression.language) == ("a.b", "jmespath")


COMPILE_ERRORS = [
    ("uper(name)", "unknown function `uper`"),
    ("filter_entries(@, `nope(key)`)", "unknown function `nope`"),
    ("upper(a, b)", "function `upper` takes 1 argument, got 2 instead"),
    ("hash()", "function `hash` takes 1 to 2 arguments, got 0 instead"),
    ("uuid(a)", "function `uuid` takes 0 arguments, got 1 instead"),
    ("mid(s, `1`)", "function `mid` takes 3 arguments, got 2 instead"),
    ("not_null()", "function `not_null` takes at least 1 argument, got 0 instead"),
    ("hash(s, `crc32`)", "unknown hash algorithm `crc32`, expected one of sha1, sha224, sha256, sha384, "
     "sha512, sha3_224, sha3_256, sha3_384, sha3_512, md5, blake2b, blake2s"),
    ("regex_replace(s, '(', 'x')", "invalid regular expression `(`: missing ), unterminated subpattern at "
     "position 0"),
    ("a[", "invalid jmespath `a[`: unexpected end of expression at column 2"),
    ("a.", "invalid jmespath `a.`: unexpected end of expression at column 2"),
    ("a b", "invalid jmespath `a b`: unexpected `b` at column 2"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "message"), COMPILE_ERRORS, ids=[c[0] for c in COMPILE_ERRORS])
def test_compile_error(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=f"^{re.escape(message)}$"):
        compile_expression(text, "jmespath")


def test_unknown_language_is_a_compile_error() -> None:
    with pytest.raises(ExpressionError, match=re.escape("unknown expression language `xpath`")):
        compile_expression("a", "xpath")  # type: ignore[arg-type]


def test_type_error_on_a_row_is_a_bad_record() -> None:
    rows: list[dict[str, Any]] = [{"n": "a"}, {"n": 1}]
    with pytest.raises(BadRecordError, match=re.escape("jmespath `abs(n)`: In function abs(), invalid type")):
        compile_expression("abs(n)", "jmespath").evaluate_batch(rows)


@pytest.mark.parametrize("text", ["a", "a.b", "a.b.c", "key.key", '"quoted.name".b'])
def test_plain_field_paths_give_what_the_jmespath_interpreter_gives(text: str) -> None:
    """Field paths skip the interpreter; every shape of input must read the same as through it."""
    import jmespath

    rows: list[Any] = [
        {}, {"a": None}, {"a": 1}, {"a": "s"}, {"a": [1, 2]}, {"a": {"b": None}}, {"a": {"b": {"c": 3}}},
        {"a": {"b": [{"c": 1}]}}, {"a": {"b": {"c": {"d": 1}}}}, {"key": {"key": "cust:1"}}, {"key": "k"},
        {"quoted.name": {"b": 2}}, {"a": {"b": 0, "c": False}},
    ]  # fmt: skip
    compiled = compile_expression(text, "jmespath")
    for row in rows:
        assert compiled.evaluate(row) == jmespath.search(text, row), (text, row)
