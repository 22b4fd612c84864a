"""SQL expressions with SQLite semantics (spec §2.4): the record's fields are the columns.

The exact path runs the expression in an in-memory SQLite database (one connection per thread: computation,
not I/O) as ``SELECT <expr> FROM (SELECT ? AS "f1", ...) AS "_rdi", (SELECT ? AS "id", ...) AS "after"``:
top-level fields are bare columns, and each nested object the expression names as ``qualifier.column`` (the
``before``/``after``/``key`` objects of the ``full`` row format) is a sub-select aliased by its name. A
nested object that is null or absent yields NULL for every column the expression names in it, so
``before.id`` is NULL on an insert. Only fields the expression can name are bound, as parameters: bool → 0/1,
dict/list → JSON text, bytes → blob, integers beyond 64 bits → REAL (what SQLite makes of such a literal),
other objects → ``str()``.

`evaluate_batch` first tries the vectorised Polars path (`rdi.expressions._vector`), which only answers when
it can give SQLite's exact result; otherwise it runs the whole batch as one query when the rows share their
fields and the expression is row-local (no aggregate, window or sub-query), else row by row.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from collections.abc import Sequence
from typing import Any

from rdi.errors import BadRecordError
from rdi.expressions import _vector
from rdi.expressions._expression import ExpressionError, Language, Row
from rdi.expressions._lexer import LexError, References, Token, find_references, tokenize

__all__ = ["SqlExpression", "compile_sql", "format_real"]

_ROW = '"_rdi"'
_INDEX = '"_rdi_i"'
_AGGREGATES = frozenset(
    {"avg", "count", "group_concat", "max", "min", "sum", "total", "string_agg", "json_group_array",
     "json_group_object", "json_each", "json_tree"}
)  # fmt: skip
_CLAUSES = frozenset({"FROM", "WHERE", "GROUP", "HAVING", "ORDER", "LIMIT", "WINDOW", "UNION", "INTERSECT", "EXCEPT"})
_INT64 = (-(2**63), 2**63 - 1)


class SqlExpression:
    """A compiled SQL expression; `vectorisable` says whether batches may take the Polars path."""

    language: Language = "sql"

    def __init__(self, text: str, references: References, vector: _vector.VectorPlan | None) -> None:
        self.text = text
        self._refs = references
        self._vector = vector
        self._row_local = not (references.has_select or references.functions & _AGGREGATES)
        self._sql_cache: dict[Any, str] = {}
        # only fields the expression can name are bound: a bare word of it, compared case-insensitively
        self._words = frozenset(c.lower() for c in references.columns)
        self._selected: dict[tuple[str, ...], tuple[str, ...]] = {}

    @property
    def vectorisable(self) -> bool:
        """True when the expression parses into the subset the Polars path runs (decided at compile time)."""
        return self._vector is not None

    def evaluate(self, row: Row) -> Any:
        """The value on `row` as SQLite computes it; raises `BadRecordError` on an SQLite error."""
        sql, params = self._row_statement(row)
        try:
            found = _connection().execute(sql, params).fetchone()
        except (sqlite3.Error, OverflowError) as exc:
            raise BadRecordError(f"sql `{self.text}`: {exc}") from exc
        return found[0] if found else None

    def evaluate_batch(self, rows: Sequence[Row]) -> list[Any]:
        """Same results as `evaluate` on each row, in order; vectorised or in one query when possible."""
        if not rows:
            return []
        found = self.evaluate_vector(rows)
        if found is not None:
            return found
        return self.evaluate_exact(rows)

    def evaluate_vector(self, rows: Sequence[Row]) -> list[Any] | None:
        """The vectorised result for this batch, or None when only SQLite can give the exact answer for it."""
        if self._vector is None or not rows:
            return None
        return self._vector.evaluate(rows)

    def evaluate_exact(self, rows: Sequence[Row]) -> list[Any]:
        """Evaluate with SQLite: one query for the batch when the rows share their fields, else per row."""
        if self._row_local and not self._refs.qualified and len(rows) > 1:
            shape = tuple(rows[0])
            if all(tuple(row) == shape for row in rows):
                try:
                    return self._batch_query(self._select(shape), rows)
                except (sqlite3.Error, OverflowError):
                    pass  # find and report the failing row the way `evaluate` does
        return [self.evaluate(row) for row in rows]

    def _batch_query(self, keys: tuple[str, ...], rows: Sequence[Row]) -> list[Any]:
        conn = _connection()
        chunk = max(1, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // (len(keys) + 1))
        results: list[Any] = []
        for start in range(0, len(rows), chunk):
            part = rows[start : start + chunk]
            sql = self._sql_cache.get((keys, len(part)))
            if sql is None:
                values = ",".join(["(" + ",".join("?" * (len(keys) + 1)) + ")"] * len(part))
                columns = ",".join([_INDEX, *map(_quote, keys)])
                sql = f"WITH {_ROW}({columns}) AS (VALUES {values}) SELECT\n{self.text}\nFROM {_ROW} ORDER BY {_INDEX}"
                self._sql_cache[(keys, len(part))] = sql
            params = [p for i, row in enumerate(part) for p in (i, *(_bind(row[k]) for k in keys))]
            results.extend(r[0] for r in conn.execute(sql, params).fetchall())
        return results

    def _select(self, keys: tuple[str, ...]) -> tuple[str, ...]:
        selected = self._selected.get(keys)
        if selected is None:
            selected = self._selected[keys] = tuple(k for k in keys if k.lower() in self._words)
        return selected

    def _row_statement(self, row: Row) -> tuple[str, list[Any]]:
        columns = self._select(tuple(row))
        params = [_bind(row[k]) for k in columns]
        shape: list[Any] = [columns]
        sources: list[tuple[str, tuple[str, ...]]] = []
        for qualifier, names in self._refs.qualified.items():
            key = next((k for k in row if k.lower() == qualifier), None)
            nested = row.get(key) if key is not None else None
            if isinstance(nested, dict):
                sources.append((key or qualifier, tuple(nested)))
                params.extend(_bind(v) for v in nested.values())
            elif nested is None:
                sources.append((key or qualifier, tuple(sorted(names))))
                params.extend([None] * len(names))
        shape.extend(sources)
        cache_key = tuple(shape)
        sql = self._sql_cache.get(cache_key)
        if sql is None:
            froms = [f"{_subselect(columns)} AS {_ROW}"]
            froms.extend(f"{_subselect(cols)} AS {_quote(alias)}" for alias, cols in sources)
            sql = f"SELECT\n{self.text}\nFROM {', '.join(froms)}"
            self._sql_cache[cache_key] = sql
        return sql, params

    def __repr__(self) -> str:
        return f"SqlExpression({self.text!r})"


def compile_sql(text: str) -> SqlExpression:
    """Check `text` is one SQLite expression whose functions exist; raises `ExpressionError` if not."""
    try:
        tokens = tokenize(text)
    except LexError as exc:
        raise ExpressionError(f"invalid sql `{text}`: {exc}") from exc
    _check_single_expression(text, tokens)
    refs = find_references(tokens)
    _prepare(text, refs)
    return SqlExpression(text, refs, _vector.plan(tokens, _read_literal))


def _check_single_expression(text: str, tokens: list[Token]) -> None:
    if len(tokens) == 1:
        raise ExpressionError("empty sql expression")
    depth = 0
    for tok in tokens:
        if tok.kind == "param":
            raise ExpressionError(f"invalid sql `{text}`: parameters like `{tok.text}` are not allowed")
        if tok.kind == "op" and tok.text == "(":
            depth += 1
        elif tok.kind == "op" and tok.text == ")":
            depth -= 1
            if depth < 0:
                raise ExpressionError(f"invalid sql `{text}`: unbalanced `)` at column {tok.pos}")
        elif tok.kind == "op" and tok.text == ";":
            raise ExpressionError(f"invalid sql `{text}`: `;` is not allowed in an expression")
        elif depth == 0 and (
            (tok.kind == "op" and tok.text == ",") or (tok.kind == "id" and tok.text.upper() in _CLAUSES)
        ):
            raise ExpressionError(f"invalid sql `{text}`: expected one expression, got `{tok.text}`")
    if depth:
        raise ExpressionError(f"invalid sql `{text}`: incomplete input")


def _prepare(text: str, refs: References) -> None:
    """Prepare (EXPLAIN) the expression against NULL columns named like its identifiers."""
    conn = _connection()
    try:
        conn.execute(f"EXPLAIN SELECT\n{text}")
    except sqlite3.Error as exc:
        message = str(exc)
        if "syntax error" in message or "incomplete input" in message or "unrecognized token" in message:
            raise ExpressionError(f"invalid sql `{text}`: {message}") from exc
    froms = [f"{_subselect(tuple(sorted(refs.columns)))} AS {_ROW}"]
    froms.extend(f"{_subselect(tuple(sorted(c)))} AS {_quote(q)}" for q, c in refs.qualified.items())
    try:
        count = len(refs.columns) + sum(len(c) for c in refs.qualified.values())
        conn.execute(f"EXPLAIN SELECT\n{text}\nFROM {', '.join(froms)}", [None] * count)
    except sqlite3.Error as exc:
        message = str(exc)
        if message.startswith("no such function: "):
            raise ExpressionError(f"unknown function `{message.removeprefix('no such function: ')}`") from exc
        if message.startswith("wrong number of arguments to function "):
            name = message.removeprefix("wrong number of arguments to function ").removesuffix("()")
            raise ExpressionError(f"wrong number of arguments to function `{name}`") from exc
        raise ExpressionError(f"invalid sql `{text}`: {message}") from exc


def _read_literal(text: str) -> Any:
    return _connection().execute(f"SELECT {text}").fetchone()[0]


def _subselect(columns: tuple[str, ...]) -> str:
    if not columns:
        return '(SELECT NULL AS "_rdi_none")'
    return "(SELECT " + ", ".join(f"? AS {_quote(c)}" for c in columns) + ")"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _bind(value: Any) -> Any:
    if value is None or isinstance(value, str | float | bytes):
        return value
    if isinstance(value, int):
        return int(value) if _INT64[0] <= value <= _INT64[1] else float(value)
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    return str(value)


def format_real(value: float) -> str:
    """SQLite's text form of a REAL (`printf("%!.15g")`): `1.0`, `1.0e+20`, `0.333333333333333`, `Inf`."""
    if math.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    text = f"{value:.15g}"
    mantissa, e, exponent = text.partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    return mantissa + e + exponent


def _concat(*values: Any) -> str:
    return "".join(_as_text(v) for v in values if v is not None)


def _concat_ws(separator: Any, *values: Any) -> str | None:
    if separator is None:
        return None
    return _as_text(separator).join(_as_text(v) for v in values if v is not None)


def _as_text(value: Any) -> str:
    if isinstance(value, float):
        return format_real(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


_local = threading.local()


def _connection() -> sqlite3.Connection:
    conn: sqlite3.Connection | None = getattr(_local, "conn", None)
    if conn is None:
        conn = sqlite3.connect(":memory:", cached_statements=1024)
        if sqlite3.sqlite_version_info < (3, 44):  # concat() arrived in 3.44; RDI documents it
            conn.create_function("concat", -1, _concat, deterministic=True)
            conn.create_function("concat_ws", -1, _concat_ws, deterministic=True)
        _local.conn = conn
    return conn
