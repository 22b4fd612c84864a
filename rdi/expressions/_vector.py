"""The vectorised path of SQL expressions: a subset of SQLite translated into one Polars expression per batch.

It answers only when the answer is provably SQLite's, value and Python type alike; otherwise it returns None
and the caller asks SQLite. The decision is made twice:

* at compile time, by `_parser`: syntax outside the subset → never vectorised;
* per batch, by the column types found in it: each referenced column must hold one storage class (INTEGER:
  Python int/bool within 64 bits; REAL: finite floats; TEXT without NUL characters; or only NULLs), and the
  translation refuses what would differ for those classes (REAL → TEXT formatting, TEXT → number conversions,
  CASE branches of two classes, comparisons under CAST affinity, …). Runtime guards cover what only the values
  can tell (integer overflow, ±2^53 precision, INT64_MIN) and send the batch to SQLite when any row trips one.

Rules mirrored from SQLite: integer `/` truncates toward zero and `%` takes the dividend's sign; division by
zero and NaN results are NULL; `||` with NULL is NULL; values of different storage classes compare as
INTEGER/REAL < TEXT; comparisons and logic give 0/1 with three-valued NULL logic; `round(x)` adds ±0.5 and
truncates; `upper`/`lower`/`LIKE` fold ASCII only; `trim` strips spaces only; `substr` follows `substrFunc`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import polars as pl

from rdi.expressions import _parser as ast
from rdi.expressions._lexer import Token

__all__ = ["VectorPlan", "plan"]

Kind: TypeAlias = Literal["int", "real", "text", "null", "bool"]
"""A storage class for every row of a batch; `bool` is an INTEGER 0/1 held as a Polars Boolean."""

_I64 = pl.Int64
_F64 = pl.Float64
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_OVERFLOW = float(2**62)  # guard margin: float estimates of int results this large may have overflowed
_EXACT_INT_IN_REAL = 2**53 - 1  # compared as Int64: no rounding
_ROUND_LIMIT = 4503599627370496.0
_SUBSTR_ALL = 1_000_000_000  # SQLite's SQLITE_LIMIT_LENGTH, the length substr() uses when none is given
_LOWER = [chr(c) for c in range(ord("a"), ord("z") + 1)]
_UPPER = [c.upper() for c in _LOWER]
_REGEX_META = set("\\.+*?()|[]{}^$#&-~")
_CLASS = {"int": "num", "real": "num", "bool": "num", "text": "text"}


@dataclass(frozen=True)
class _Typed:
    expr: pl.Expr
    kind: Kind
    affinity: bool = False  # from CAST: SQLite converts the other side of a comparison


_NULL = _Typed(pl.lit(None, dtype=_I64), "null")


def _dtype(kind: Kind) -> pl.DataType:
    return {"int": _I64(), "real": _F64(), "text": pl.String(), "bool": pl.Boolean(), "null": _I64()}[kind]


def _null_of(kind: Kind) -> pl.Expr:
    return pl.lit(None, dtype=_dtype(kind))


def _as_int(t: _Typed) -> _Typed:
    return _Typed(t.expr.cast(_I64), "int") if t.kind == "bool" else t


def _as_real(t: _Typed) -> pl.Expr:
    return t.expr.cast(_F64)


def _as_text(t: _Typed) -> pl.Expr:
    """TEXT value of `t`; REAL → TEXT is SQLite's `%!.15g`, which Polars cannot print."""
    t = _as_int(t)
    if t.kind == "text":
        return t.expr
    if t.kind == "int":
        return t.expr.cast(pl.String)
    if t.kind == "null":
        return pl.lit(None, dtype=pl.String)
    raise ast.Unsupported("REAL as text")


def _truth(t: _Typed) -> pl.Expr:
    """SQLite's truth value of `t` as a nullable Boolean."""
    if t.kind == "bool":
        return t.expr
    if t.kind == "int":
        return t.expr != 0
    if t.kind == "real":
        return t.expr != 0.0
    if t.kind == "null":
        return pl.lit(None, dtype=pl.Boolean)
    raise ast.Unsupported("TEXT as a truth value")


def _ascii_fold(expr: pl.Expr, upper: bool) -> pl.Expr:
    source, target = (_LOWER, _UPPER) if upper else (_UPPER, _LOWER)
    return expr.str.replace_many(source, target)


def _regex_escape(text: str) -> str:
    return "".join("\\" + c if c in _REGEX_META else c for c in text)


def _like_regex(pattern: str) -> str:
    folded = "".join(c.lower() if c.isascii() else c for c in pattern)
    body = "".join(".*" if c == "%" else "." if c == "_" else _regex_escape(c) for c in folded)
    return "(?s)^" + body + "$"


class _Translator:
    """Turns the AST into a Polars expression for one combination of column kinds."""

    def __init__(self, kinds: dict[ast.Column, Kind], names: dict[ast.Column, str]) -> None:
        self.kinds = kinds
        self.names = names
        self.guards: list[pl.Expr] = []

    def guard(self, condition: pl.Expr) -> None:
        """The batch goes to SQLite when `condition` holds on any row."""
        self.guards.append(condition.fill_null(False).any())

    def visit(self, node: ast.Node) -> _Typed:
        method: Callable[[Any], _Typed] = getattr(self, "visit_" + type(node).__name__.lower())
        return method(node)

    def visit_literal(self, node: ast.Literal) -> _Typed:
        value = node.value
        if value is None:
            return _NULL
        if isinstance(value, str):
            return _Typed(pl.lit(value, dtype=pl.String), "text")
        if isinstance(value, int):
            if value > _INT64_MAX:
                raise ast.Unsupported("integer literal beyond 64 bits")
            return _Typed(pl.lit(value, dtype=_I64), "int")
        return _Typed(pl.lit(value, dtype=_F64), "real")

    def visit_column(self, node: ast.Column) -> _Typed:
        return _Typed(pl.col(self.names[node]), self.kinds[node])

    def visit_unary(self, node: ast.Unary) -> _Typed:
        operand = self.visit(node.operand)
        if node.op == "NOT":
            return _Typed(~_truth(operand), "bool")
        if node.op == "+":
            return operand
        operand = _as_int(operand)
        if operand.kind == "int":
            self.guard(operand.expr == _INT64_MIN)
            return _Typed(-operand.expr, "int")
        if operand.kind == "real":
            return _Typed(-operand.expr, "real")
        if operand.kind == "null":
            return _NULL
        raise ast.Unsupported("arithmetic on TEXT")

    def visit_binary(self, node: ast.Binary) -> _Typed:
        if node.op in ("IS", "IS NOT") and isinstance(node.right, ast.Literal) and node.right.keyword:
            # `x IS TRUE` / `x IS NOT FALSE` test x's truth value; NULL is neither
            holds = (_truth(self.visit(node.left)) == bool(node.right.value)).fill_null(False)
            return _Typed(~holds if node.op == "IS NOT" else holds, "bool")
        left, right = self.visit(node.left), self.visit(node.right)
        if node.op in ("AND", "OR"):
            a, b = _truth(left), _truth(right)
            return _Typed(a & b if node.op == "AND" else a | b, "bool")
        if node.op == "||":
            if "null" in (left.kind, right.kind):
                return _Typed(pl.lit(None, dtype=pl.String), "text")
            return _Typed(pl.concat_str([_as_text(left), _as_text(right)]), "text")
        if node.op in ("+", "-", "*", "/", "%"):
            return self.arithmetic(node.op, _as_int(left), _as_int(right))
        if node.op in ("IS", "IS NOT"):
            same = self.identical(left, right)
            return _Typed(~same if node.op == "IS NOT" else same, "bool")
        return _Typed(self.compare(node.op, left, right), "bool")

    def arithmetic(self, op: str, left: _Typed, right: _Typed) -> _Typed:
        if "text" in (left.kind, right.kind):
            raise ast.Unsupported("arithmetic on TEXT")
        if "null" in (left.kind, right.kind):
            return _NULL
        a, b = left.expr, right.expr
        if left.kind == "int" and right.kind == "int":
            if op in ("+", "-", "*"):
                fa, fb = a.cast(_F64), b.cast(_F64)
                estimate = fa + fb if op == "+" else fa - fb if op == "-" else fa * fb
                self.guard(estimate.abs() > _OVERFLOW)
                return _Typed(a + b if op == "+" else a - b if op == "-" else a * b, "int")
            self.guard((a == _INT64_MIN) & (b == -1))
            safe = pl.when(b == 0).then(pl.lit(1, dtype=_I64)).otherwise(b)
            floor = a // safe
            truncated = floor + ((a % safe != 0) & ((a < 0) != (safe < 0))).cast(_I64)
            value = truncated if op == "/" else a - safe * truncated
            return _Typed(pl.when(b == 0).then(_null_of("int")).otherwise(value), "int")
        if op == "%":
            raise ast.Unsupported("% on REAL")
        fa, fb = _as_real(left), _as_real(right)  # SQLite also converts with a plain (double) cast
        if op == "/":
            # a column, not a scalar: Polars divides by a scalar as a multiplication by its inverse (inexact)
            fb = fb + pl.col("_n").cast(_F64)
            result = pl.when(fb == 0.0).then(_null_of("real")).otherwise(fa / fb)
        else:
            result = fa + fb if op == "+" else fa - fb if op == "-" else fa * fb
        return _Typed(pl.when(result.is_nan()).then(_null_of("real")).otherwise(result), "real")

    def operands(self, left: _Typed, right: _Typed) -> tuple[pl.Expr, pl.Expr] | None:
        """Both operands in one comparable Polars type, or None when their storage classes differ."""
        left, right = _as_int(left), _as_int(right)
        cl, cr = _CLASS[left.kind], _CLASS[right.kind]
        if cl != cr:
            if left.affinity or right.affinity:
                raise ast.Unsupported("comparison under CAST affinity")
            return None
        if left.kind == right.kind:
            return left.expr, right.expr
        for side in (left, right):
            if side.kind == "int":  # SQLite compares INTEGER with REAL exactly; a double holds ±2^53
                self.guard((side.expr > _EXACT_INT_IN_REAL) | (side.expr < -_EXACT_INT_IN_REAL))
        return _as_real(left), _as_real(right)

    def compare(self, op: str, left: _Typed, right: _Typed) -> pl.Expr:
        if "null" in (left.kind, right.kind):
            return pl.lit(None, dtype=pl.Boolean)
        pair = self.operands(left, right)
        if pair is None:
            # INTEGER/REAL sort before TEXT; the outcome only depends on which side is the number
            left_is_number = _CLASS[left.kind] == "num"
            outcome = {"=": False, "!=": True, "<": left_is_number, "<=": left_is_number}.get(op, not left_is_number)
            either_null = left.expr.is_null() | right.expr.is_null()
            return pl.when(either_null).then(pl.lit(None, dtype=pl.Boolean)).otherwise(pl.lit(outcome))
        a, b = pair
        return {"=": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]

    def identical(self, left: _Typed, right: _Typed) -> pl.Expr:
        if left.kind == "null" or right.kind == "null":
            other = right if left.kind == "null" else left
            return other.expr.is_null()
        pair = self.operands(left, right)
        if pair is None:
            return left.expr.is_null() & right.expr.is_null()
        return pair[0].eq_missing(pair[1])

    def visit_isnull(self, node: ast.IsNull) -> _Typed:
        operand = self.visit(node.operand)
        return _Typed(operand.expr.is_not_null() if node.negated else operand.expr.is_null(), "bool")

    def visit_inlist(self, node: ast.InList) -> _Typed:
        operand = self.visit(node.operand)
        if not node.items:
            return _Typed(pl.lit(node.negated), "bool")
        found: pl.Expr | None = None
        for item in node.items:
            equal = self.compare("=", operand, self.visit(item))
            found = equal if found is None else found | equal
        assert found is not None
        return _Typed(~found if node.negated else found, "bool")

    def visit_between(self, node: ast.Between) -> _Typed:
        operand = self.visit(node.operand)
        within = self.compare(">=", operand, self.visit(node.low)) & self.compare("<=", operand, self.visit(node.high))
        return _Typed(~within if node.negated else within, "bool")

    def visit_like(self, node: ast.Like) -> _Typed:
        if not isinstance(node.pattern, ast.Literal) or not isinstance(node.pattern.value, str):
            raise ast.Unsupported("LIKE with a pattern that is not a string literal")
        operand = self.visit(node.operand)
        if operand.kind == "null":
            return _Typed(pl.lit(None, dtype=pl.Boolean), "bool")
        matched = _ascii_fold(_as_text(operand), upper=False).str.contains(_like_regex(node.pattern.value))
        return _Typed(~matched if node.negated else matched, "bool")

    def visit_case(self, node: ast.Case) -> _Typed:
        base = self.visit(node.base) if node.base is not None else None
        conditions: list[pl.Expr] = []
        results: list[_Typed] = []
        for when, then in node.whens:
            typed = self.visit(when)
            conditions.append(self.compare("=", base, typed) if base is not None else _truth(typed))
            results.append(_as_int(self.visit(then)))
        otherwise = _as_int(self.visit(node.otherwise)) if node.otherwise is not None else _NULL
        kinds = {r.kind for r in (*results, otherwise)} - {"null"}
        if len(kinds) > 1:
            raise ast.Unsupported("CASE branches of different storage classes")
        kind: Kind = kinds.pop() if kinds else "null"
        if kind == "null":
            return _NULL

        def value(t: _Typed) -> pl.Expr:
            return _null_of(kind) if t.kind == "null" else t.expr

        chain: Any = pl.when(conditions[0].fill_null(False)).then(value(results[0]))
        for condition, result in zip(conditions[1:], results[1:], strict=True):
            chain = chain.when(condition.fill_null(False)).then(value(result))
        return _Typed(chain.otherwise(value(otherwise)), kind)

    def visit_cast(self, node: ast.Cast) -> _Typed:
        operand = _as_int(self.visit(node.operand))
        target = _affinity(node.type_name)
        if operand.kind == "null":
            return _Typed(_null_of(target), target, affinity=True) if target != "null" else _NULL
        if target == "int":
            if operand.kind == "int":
                return _Typed(operand.expr, "int", affinity=True)
            if operand.kind == "real":
                self.guard(operand.expr.abs() >= 2.0**63)
                return _Typed(operand.expr.cast(_I64, strict=False), "int", affinity=True)
            # TEXT: only plain decimal integers, which SQLite and Polars read alike
            self.guard(~operand.expr.str.contains(r"^-?[0-9]{1,18}$"))
            return _Typed(operand.expr.cast(_I64, strict=False), "int", affinity=True)
        if target == "real":
            if operand.kind == "int":
                return _Typed(_as_real(operand), "real", affinity=True)
            if operand.kind == "real":
                return _Typed(operand.expr, "real", affinity=True)
            self.guard(~operand.expr.str.contains(r"^-?[0-9]{1,15}$"))
            return _Typed(operand.expr.cast(_F64, strict=False), "real", affinity=True)
        if target == "text":
            return _Typed(_as_text(operand), "text", affinity=True)
        raise ast.Unsupported(f"CAST AS {node.type_name}")

    def visit_call(self, node: ast.Call) -> _Typed:
        handler = _FUNCTIONS.get(node.name)
        if handler is None:
            raise ast.Unsupported(f"function {node.name}")
        return handler(self, node.args)


def _affinity(type_name: str) -> Kind:
    if "INT" in type_name:
        return "int"
    if any(word in type_name for word in ("CHAR", "CLOB", "TEXT")):
        return "text"
    if "BLOB" in type_name or not type_name:
        return "null"  # BLOB affinity: not supported
    if any(word in type_name for word in ("REAL", "FLOA", "DOUB")):
        return "real"
    raise ast.Unsupported(f"CAST AS {type_name}")


def _text_literal(node: ast.Node, what: str) -> str | None:
    if isinstance(node, ast.Literal) and (node.value is None or isinstance(node.value, str)):
        return node.value
    raise ast.Unsupported(f"{what} that is not a string literal")


def _int_literal(node: ast.Node) -> int:
    sign = 1
    while isinstance(node, ast.Unary) and node.op in ("-", "+"):
        sign = -sign if node.op == "-" else sign
        node = node.operand
    if isinstance(node, ast.Literal) and isinstance(node.value, int) and not node.keyword:
        return sign * node.value
    raise ast.Unsupported("argument that is not an integer literal")


def _arity(args: tuple[ast.Node, ...], low: int, high: int) -> None:
    if not low <= len(args) <= high:
        raise ast.Unsupported("arity")


def _fold(upper: bool) -> Callable[[_Translator, tuple[ast.Node, ...]], _Typed]:
    def fold(tr: _Translator, args: tuple[ast.Node, ...]) -> _Typed:
        _arity(args, 1, 1)
        operand = tr.visit(args[0])
        if operand.kind == "null":
            return _Typed(_null_of("text"), "text")
        return _Typed(_ascii_fold(_as_text(operand), upper), "text")

    return fold


def _length(tr: _Translator, args: tuple[ast.Node, ...]) -> _Typed:
    _arity(args, 1, 1)
    operand = tr.visit(args[0])
    if operand.kind == "null":
        return _NULL
    return _Typed(_as_text(operand).str.len_chars().cast(_I64), "int")


def _trim(side: str) -> Callable[[_Translator, tuple[ast.Node, ...]], _Typed]:
    def trim(tr: _Translator, args: tuple[ast.Node, ...]) -> _Typed:
        _arity(args, 1, 2)
        chars = _text_literal(args[1], "trim characters") if len(args) == 2 else " "
        operand = tr.visit(args[0])
        if operand.kind == "null" or chars is None:
            return _Typed(_null_of("text"), "text")
        text = _as_text(operand)
        if not chars:
            return _Typed(text, "text")
        stripped = {
            "both": text.str.strip_chars(chars),
            "left": text.str.strip_chars_start(chars),
            "right": text.str.strip_chars_end(chars),
        }[side]
        return _Typed(stripped, "text")

    return trim


def _substr(tr: _Translator, args: tuple[ast.Node, ...]) -> _Typed:
    _arity(args, 2, 3)
    start = _int_literal(args[1])
    count = _int_literal(args[2]) if len(args) == 3 else _SUBSTR_ALL
    operand = tr.visit(args[0])
    if operand.kind == "null":
        return _Typed(_null_of("text"), "text")
    text = _as_text(operand)
    negative, p2 = count < 0, abs(count)
    # SQLite's substrFunc, with p1/p2 as Polars expressions where they depend on the string's length
    p1e: pl.Expr
    p2e: pl.Expr
    if start < 0:
        shifted = text.str.len_chars().cast(_I64) + start
        p2e = pl.when(shifted < 0).then((p2 + shifted).clip(lower_bound=0)).otherwise(pl.lit(p2, dtype=_I64))
        p1e = shifted.clip(lower_bound=0)
    else:
        p1 = start - 1 if start > 0 else 0
        if start == 0 and p2 > 0:
            p2 -= 1
        p1e, p2e = pl.lit(p1, dtype=_I64), pl.lit(p2, dtype=_I64)
    if negative:
        moved = p1e - p2e
        p2e = pl.when(moved < 0).then(p2e + moved).otherwise(p2e)
        p1e = moved.clip(lower_bound=0)
    return _Typed(text.str.slice(p1e, p2e.clip(lower_bound=0)), "text")


def _replace(tr: _Translator, args: tuple[ast.Node, ...]) -> _Typed:
    _arity(args, 3, 3)
    old = _text_literal(args[1], "replace pattern")
    new = _text_literal(args[2], "replacement")
    operand = _as_int(tr.visit(args[0]))
    if operand.kind == "null" or old is None:
        return _Typed(_null_of("text"), "text")
    if not old:
        return operand  # SQLite returns its first argument untouched, whatever its type
    if new is None:
        return _Typed(_null_of("text"), "text")
    return _Typed(_as_text(operand).str.replace_all(old, new, literal=True), "text")


def _abs(tr: _Translator, args: tuple[ast.Node, ...]) -> _Typed:
    _arity(args, 1, 1)
    operand = _as_int(tr.visit(args[0]))
    if operand.kind == "int":
        tr.guard(operand.expr == _INT64_MIN)  # SQLite raises "integer overflow"
    elif operand.kind not in ("real", "null"):
        raise ast.Unsupported("abs on TEXT")
    return _Typed(operand.expr.abs(), operand.kind) if operand.kind != "null" else _NULL


def _round(tr: _Translator, args: tuple[ast.Node, ...]) -> _Typed:
    _arity(args, 1, 2)
    if len(args) == 2 and _int_literal(args[1]) > 0:
        raise ast.Unsupported("round to decimals (SQLite prints and re-reads the number)")
    operand = _as_int(tr.visit(args[0]))
    if operand.kind == "null":
        return _Typed(_null_of("real"), "real")
    if operand.kind == "text":
        raise ast.Unsupported("round on TEXT")
    r = _as_real(operand)
    half = pl.when(r < 0).then(pl.lit(-0.5)).otherwise(pl.lit(0.5))
    rounded = (r + half).cast(_I64, strict=False).cast(_F64)
    return _Typed(pl.when(r.abs() > _ROUND_LIMIT).then(r).otherwise(rounded), "real")


def _coalesce(low: int, high: int) -> Callable[[_Translator, tuple[ast.Node, ...]], _Typed]:
    def coalesce(tr: _Translator, args: tuple[ast.Node, ...]) -> _Typed:
        _arity(args, low, high)
        typed = [_as_int(tr.visit(a)) for a in args]
        kinds = {t.kind for t in typed} - {"null"}
        if len(kinds) > 1:
            raise ast.Unsupported("coalesce over different storage classes")
        if not kinds:
            return _NULL
        kind = kinds.pop()
        return _Typed(pl.coalesce([t.expr for t in typed if t.kind != "null"]), kind)

    return coalesce


def _nullif(tr: _Translator, args: tuple[ast.Node, ...]) -> _Typed:
    _arity(args, 2, 2)
    first, second = _as_int(tr.visit(args[0])), tr.visit(args[1])
    if first.kind == "null":
        return _NULL
    equal = tr.compare("=", first, second).fill_null(False)
    return _Typed(pl.when(equal).then(_null_of(first.kind)).otherwise(first.expr), first.kind)


def _instr(tr: _Translator, args: tuple[ast.Node, ...]) -> _Typed:
    _arity(args, 2, 2)
    needle = _text_literal(args[1], "instr needle")
    operand = tr.visit(args[0])
    if operand.kind == "null" or needle is None:
        return _NULL
    text = _as_text(operand)
    if not needle:
        return _Typed(pl.when(text.is_null()).then(_null_of("int")).otherwise(pl.lit(1, dtype=_I64)), "int")
    before = text.str.extract("(?s)^(.*?)" + _regex_escape(needle), 1)
    position = (before.str.len_chars().cast(_I64) + 1).fill_null(0)
    return _Typed(pl.when(text.is_null()).then(_null_of("int")).otherwise(position), "int")


def _typeof(tr: _Translator, args: tuple[ast.Node, ...]) -> _Typed:
    _arity(args, 1, 1)
    operand = _as_int(tr.visit(args[0]))
    name = {"int": "integer", "real": "real", "text": "text", "null": "null"}[operand.kind]
    null = pl.lit("null", dtype=pl.String)
    return _Typed(pl.when(operand.expr.is_null()).then(null).otherwise(pl.lit(name, dtype=pl.String)), "text")


_FUNCTIONS: dict[str, Callable[[_Translator, tuple[ast.Node, ...]], _Typed]] = {
    "upper": _fold(upper=True),
    "lower": _fold(upper=False),
    "length": _length,
    "trim": _trim("both"),
    "ltrim": _trim("left"),
    "rtrim": _trim("right"),
    "substr": _substr,
    "substring": _substr,
    "replace": _replace,
    "abs": _abs,
    "round": _round,
    "coalesce": _coalesce(2, 1000),
    "ifnull": _coalesce(2, 2),
    "nullif": _nullif,
    "instr": _instr,
    "typeof": _typeof,
}


def _children(node: ast.Node) -> list[ast.Node]:
    found: list[ast.Node] = []
    for value in vars(node).values():
        for item in value if isinstance(value, tuple) else (value,):
            for child in item if isinstance(item, tuple) else (item,):
                if isinstance(child, _NODE_TYPES):
                    found.append(child)
    return found


_NODE_TYPES = (
    ast.Literal, ast.Column, ast.Unary, ast.Binary, ast.IsNull, ast.InList, ast.Between, ast.Like, ast.Case,
    ast.Cast, ast.Call,
)  # fmt: skip


def _walk(node: ast.Node) -> list[ast.Node]:
    nodes = [node]
    for child in _children(node):
        nodes.extend(_walk(child))
    return nodes


class _Refuse(Exception):
    """This batch cannot take the vectorised path."""


def _column_values(rows: Sequence[dict[str, Any]], column: ast.Column, keys: set[str]) -> list[Any]:
    """The column's value in each row; refuses names SQLite would resolve differently (case, ambiguity)."""
    top = column.qualifier or column.name
    if sum(1 for k in keys if k.lower() == top.lower()) > 1:
        raise _Refuse
    try:
        if column.qualifier is None:
            return [row[column.name] for row in rows]
        nested = [row.get(column.qualifier) for row in rows]
        if not all(n is None or isinstance(n, dict) for n in nested):
            raise _Refuse
        inner: set[str] = set().union(*(n for n in nested if n))
        if sum(1 for k in inner if k.lower() == column.name.lower()) > 1:
            raise _Refuse
        return [None if n is None else n[column.name] for n in nested]
    except KeyError as exc:
        raise _Refuse from exc


def _series(name: str, values: list[Any]) -> tuple[pl.Series, Kind]:
    types = set(map(type, values))
    types.discard(type(None))
    if not types:
        return pl.Series(name, values, dtype=_I64), "null"
    if types <= {int, bool}:
        if bool in types:
            values = [None if v is None else int(v) for v in values]
        try:
            return pl.Series(name, values, dtype=_I64, strict=True), "int"
        except (TypeError, OverflowError, pl.exceptions.PolarsError) as exc:
            raise _Refuse from exc
    if types == {float}:
        series = pl.Series(name, values, dtype=_F64)
        if not series.is_finite().fill_null(True).all():
            raise _Refuse
        return series, "real"
    if types == {str}:
        series = pl.Series(name, values, dtype=pl.String)
        if series.str.contains("\x00", literal=True).fill_null(False).any():
            raise _Refuse
        return series, "text"
    raise _Refuse


class VectorPlan:
    """A parsed expression that evaluates a batch with Polars when the batch's types allow it."""

    def __init__(self, node: ast.Node) -> None:
        self.node = node
        nodes = _walk(node)
        self.columns = sorted(
            {n for n in nodes if isinstance(n, ast.Column)}, key=lambda c: (c.qualifier or "", c.name)
        )
        self.keyword_literals = any(isinstance(n, ast.Literal) and n.keyword for n in nodes)
        self._names = {c: f"c{i}" for i, c in enumerate(self.columns)}
        self._plans: dict[tuple[Kind, ...], tuple[pl.Expr, Kind, list[pl.Expr]] | None] = {}

    def evaluate(self, rows: Sequence[dict[str, Any]]) -> list[Any] | None:
        """SQLite's results for `rows` computed with Polars, or None when that cannot be guaranteed."""
        keys: set[str] = set().union(*rows)
        if self.keyword_literals and any(k.lower() in ("true", "false") for k in keys):
            return None
        try:
            built = [_series(self._names[c], _column_values(rows, c, keys)) for c in self.columns]
        except _Refuse:
            return None
        kinds = tuple(kind for _, kind in built)
        translated = self._translate(kinds)
        if translated is None:
            return None
        expr, kind, guards = translated
        frame = pl.DataFrame([s for s, _ in built] + [pl.Series("_n", [0] * len(rows), dtype=pl.Int8)])
        try:
            if guards and frame.select(pl.any_horizontal(guards)).item():
                return None
            result = frame.with_columns(expr.alias("_r")).get_column("_r")
        except pl.exceptions.PolarsError:
            return None
        if kind == "null":
            return [None] * len(rows)
        if kind == "bool":
            result = result.cast(_I64)
        return result.to_list()

    def _translate(self, kinds: tuple[Kind, ...]) -> tuple[pl.Expr, Kind, list[pl.Expr]] | None:
        if kinds in self._plans:
            return self._plans[kinds]
        translator = _Translator(dict(zip(self.columns, kinds, strict=True)), self._names)
        try:
            typed = translator.visit(self.node)
            result: tuple[pl.Expr, Kind, list[pl.Expr]] | None = (typed.expr, typed.kind, translator.guards)
        except ast.Unsupported:
            result = None
        self._plans[kinds] = result
        return result


def plan(tokens: list[Token], read_real: Callable[[str], Any]) -> VectorPlan | None:
    """A vectorised plan for the expression, or None when its syntax is outside the supported subset.

    `read_real` returns SQLite's value of a numeric literal's text: SQLite reads decimals with long-double
    arithmetic, so a REAL literal is only trusted when Python reads the same double.
    """
    try:
        node = ast.parse(tokens)
    except ast.Unsupported:
        return None
    for n in _walk(node):
        if isinstance(n, ast.Literal) and isinstance(n.value, float):
            value = read_real(n.text)
            if type(value) is not float or value != n.value or not math.isfinite(value):
                return None
    return VectorPlan(node)
