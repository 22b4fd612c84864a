"""Expression engines used by jobs: JMESPath with RDI's custom functions, and SQL with SQLite semantics.

Compile once with `compile_expression` (a mistake is an `ExpressionError` at load time, not a crash on the
first record), then call `evaluate` per record or `evaluate_batch` per batch. A failure caused by one record's
data is a `rdi.errors.BadRecordError` naming the expression.
"""

from __future__ import annotations

from collections.abc import Callable

from rdi.expressions._expression import Expression, ExpressionError, Language, Row
from rdi.expressions.functions import Clock, utc_now
from rdi.expressions.jmespath import JmespathExpression, compile_jmespath
from rdi.expressions.sql import SqlExpression, compile_sql

__all__ = [
    "Clock",
    "Expression",
    "ExpressionError",
    "JmespathExpression",
    "Language",
    "Row",
    "SqlExpression",
    "compile_expression",
    "compile_jmespath",
    "compile_sql",
]


def compile_expression(
    text: str,
    language: Language,
    *,
    clock: Clock = utc_now,
    new_uuid: Callable[[], str] | None = None,
) -> Expression:
    """Compile `text` in `language` once, for many evaluations.

    `clock` is the "now" of JMESPath `time_delta_days`/`time_delta_seconds` and `new_uuid` the source of
    `uuid()` (defaults: the system clock in UTC, random UUID4s); SQL ignores both. Raises `ExpressionError`
    with a one-line message (syntax error, unknown function, wrong number of arguments). Compiling is pure and
    can be repeated.
    """
    if language == "jmespath":
        return compile_jmespath(text, clock=clock, new_uuid=new_uuid)
    if language == "sql":
        return compile_sql(text)
    raise ExpressionError(f"unknown expression language `{language}`, expected `jmespath` or `sql`")
