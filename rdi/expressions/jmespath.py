"""JMESPath expressions with RDI's custom functions (spec §2.4).

`jmespath` only finds unknown functions and wrong arities when it calls them, so `compile_jmespath` walks the
parsed tree to report them at load time; literal arguments it can check early (a `filter_entries` predicate,
a `hash` algorithm, a `regex_replace` pattern) are checked too.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError, LexerError, ParseError

from rdi.errors import BadRecordError
from rdi.expressions._expression import ExpressionError, Language, Row
from rdi.expressions.functions import HASH_ALGORITHMS, Clock, RdiFunctions, arity, utc_now

__all__ = ["JmespathExpression", "compile_jmespath"]


class JmespathExpression:
    """A compiled JMESPath expression; `functions.clock` is the clock `time_delta_*` compares with."""

    language: Language = "jmespath"

    def __init__(self, text: str, parsed: Any, functions: RdiFunctions) -> None:
        self.text = text
        self.functions = functions
        self._parsed = parsed
        self._options = jmespath.Options(custom_functions=functions)
        self._path = _field_path(parsed.parsed)
        """The names of a plain field path (``after.name``, ``key.key``), read without the interpreter."""

    def evaluate(self, row: Row) -> Any:
        """The value on `row`; raises `BadRecordError` when a function rejects this row's data."""
        path = self._path
        if path is not None:  # what jmespath's field visitor does, ~10x faster: `.get`, else null
            value: Any = row
            for name in path:
                try:
                    value = value.get(name)
                except AttributeError:
                    return None
            return value
        try:
            return self._parsed.search(row, options=self._options)
        except JMESPathError as exc:
            raise BadRecordError(f"jmespath `{self.text}`: {_one_line(str(exc))}") from exc

    def evaluate_batch(self, rows: Sequence[Row]) -> list[Any]:
        """`evaluate` on each row, in order; the first failing row raises `BadRecordError`."""
        return [self.evaluate(row) for row in rows]

    def __repr__(self) -> str:
        return f"JmespathExpression({self.text!r})"


def compile_jmespath(
    text: str, *, clock: Clock = utc_now, new_uuid: Callable[[], str] | None = None
) -> JmespathExpression:
    """Parse `text` and check every function call; raises `ExpressionError` with a one-line reason."""
    parsed = _parse(text)
    _check(parsed.parsed)
    functions = RdiFunctions(clock) if new_uuid is None else RdiFunctions(clock, new_uuid)
    return JmespathExpression(text, parsed, functions)


def _field_path(node: dict[str, Any]) -> tuple[str, ...] | None:
    """``("after", "name")`` for the tree of ``after.name`` (fields joined by dots); None for anything else."""
    if node["type"] == "field":
        return (node["value"],)
    if node["type"] == "subexpression":
        parts = [_field_path(child) for child in node["children"]]
        if all(part is not None for part in parts):
            return tuple(name for part in parts if part is not None for name in part)
    return None


def _parse(text: str) -> Any:
    try:
        with warnings.catch_warnings():
            # RDI documents `` `sha1` `` and `` `key == 'a'` `` (JSON-less backtick literals), which jmespath
            # still reads as strings but flags as deprecated
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            return jmespath.compile(text)
    except LexerError as exc:
        raise ExpressionError(f"invalid jmespath `{text}`: {_one_line(exc.msg)} at column {exc.lex_position}") from exc
    except ParseError as exc:
        at_end = exc.token_value is None or str(exc.token_type).lower() == "eof"
        where = "end of expression" if at_end else f"`{exc.token_value}`"
        raise ExpressionError(f"invalid jmespath `{text}`: unexpected {where} at column {exc.lex_position}") from exc
    except JMESPathError as exc:
        raise ExpressionError(f"invalid jmespath `{text}`: {_one_line(str(exc))}") from exc


def _check(node: dict[str, Any]) -> None:
    children: list[Any] = node.get("children", [])
    if node.get("type") == "function_expression":
        name = node["value"]
        bounds = arity(name)
        if bounds is None:
            raise ExpressionError(f"unknown function `{name}`")
        low, high = bounds
        if not low <= len(children) <= high:
            raise ExpressionError(f"function `{name}` takes {_count(low, high)}, got {len(children)} instead")
        _check_literal_arguments(name, children)
    for child in children:
        if isinstance(child, dict):
            _check(child)


def _check_literal_arguments(name: str, args: list[dict[str, Any]]) -> None:
    literals = [a["value"] if a.get("type") == "literal" else None for a in args]
    if name == "filter_entries" and isinstance(literals[1], str):
        _check(_parse(literals[1]).parsed)
    elif name == "hash" and len(args) == 2 and isinstance(literals[1], str) and literals[1] not in HASH_ALGORITHMS:
        raise ExpressionError(f"unknown hash algorithm `{literals[1]}`, expected one of {', '.join(HASH_ALGORITHMS)}")
    elif name == "regex_replace" and isinstance(literals[1], str):
        try:
            re.compile(literals[1])
        except re.error as exc:
            raise ExpressionError(f"invalid regular expression `{literals[1]}`: {exc}") from exc


def _count(low: int, high: float) -> str:
    plural = "" if high == 1 else "s"
    if low == high:
        return f"{low} argument{plural}"
    if high == math.inf:
        return f"at least {low} argument{'' if low == 1 else 's'}"
    return f"{low} to {int(high)} arguments"


def _one_line(message: str) -> str:
    return " ".join(message.split())
