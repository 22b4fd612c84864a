"""The vectorised SQL path against SQLite itself, on seeded random expressions over a generated corpus.

For each expression: when the vectorised path answers, its results must equal SQLite's row by row, value and
Python type alike; when SQLite fails on a row, the vectorised path must not answer. A share of the expressions
must really take the vectorised path, so a silent fallback everywhere fails the test.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from rdi.errors import BadRecordError
from rdi.expressions import compile_sql

SEED = 20240611
EXPRESSIONS = 2000

INTS = [0, 1, -1, 2, -7, 7, 3, -3, 10, 100, -100, 255, 2**31, -(2**31), 2**40 + 3, 10**15, -(10**15)]
BIGS = [2**53, 2**53 + 1, -(2**53) - 1, 2**62, -(2**62), 2**63 - 1, -(2**63), 3_000_000_000_000_000_000]
FLOATS = [0.0, -0.0, 0.5, -0.5, 1.5, 2.5, -2.5, 0.1, 1e-7, 3.14159, -1234.5678, 1e15 + 0.5, 1e300, 7.0, -3.0]
STRINGS = ["", "a", "abc", "ABC", "Abc Def", "  padded  ", "x y", "12", "-3", " 7", "1e3", "0.5", "007",
           "ß", "éclair", "日本語", "ǅungla", "a%b_c", "tab\tx", "line\nbreak", "NULL", "Ab", "zz",
           "9223372036854775808"]  # fmt: skip


def make_corpus(rng: random.Random, size: int = 48) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for k in range(size):

        def maybe(values: list[Any], null_rate: float = 0.15) -> Any:
            return None if rng.random() < null_rate else rng.choice(values)

        after = {"id": k if k % 5 else None, "name": maybe(STRINGS)}
        rows.append(
            {
                "i": maybe(INTS),
                "j": maybe([0, 1, -1, 2, -2, 3, 5, -5]),
                "big": maybe(BIGS, 0.1) if k < size // 2 else maybe(INTS),
                "f": maybe(FLOATS),
                "g": maybe([0.25, -0.75, 2.0, 10.5, -0.0]),
                "s": maybe(STRINGS),
                "t": maybe(["a", "b", "A", "ab", "", "ä", "B"]),
                "n": None,
                "flag": maybe([True, False]),
                "mixed": rng.choice([1, "1", 2.5, None]),
                "after": after,
                "before": None if k % 3 == 0 else {"id": k, "name": maybe(STRINGS)},
            }
        )
    return rows


class ExpressionMaker:
    """Random SQL text; each kind (number, text, condition) mostly produces what its name says."""

    NUM_COLUMNS = ("i", "j", "big", "f", "g", "flag", "n", "after.id", "before.id")
    TEXT_COLUMNS = ("s", "t", "n", "after.name", "before.name")
    INT_LITERALS = (
        "0",
        "1",
        "2",
        "3",
        "-1",
        "7",
        "100",
        "9223372036854775807",
        "4611686018427387904",
        "TRUE",
    )
    REAL_LITERALS = ("0.5", "2.5", "-1.25", "0.1", "1e3", "3.0", "1e308", "0.3")
    TEXT_LITERALS = ("''", "'a'", "'A'", "'abc'", "'12'", "' '", "'ß'", "'x''y'", "'%'")
    LIKE_PATTERNS = ("'a%'", "'%b%'", "'_'", "'%'", "'A_c'", "'%é%'", "'12'", "'%\n%'", "''")

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def pick(self, *options: str) -> str:
        return self.rng.choice(options)

    def any(self, depth: int) -> str:
        return self.rng.choice([self.number, self.text, self.condition])(depth)

    def number(self, depth: int) -> str:
        r = self.rng
        if depth <= 0 or r.random() < 0.3:
            roll = r.random()
            if roll < 0.6:
                return r.choice(self.NUM_COLUMNS)
            if roll < 0.8:
                return r.choice(self.INT_LITERALS)
            if roll < 0.95:
                return r.choice(self.REAL_LITERALS)
            return "NULL"
        d = depth - 1
        form = r.randrange(14)
        if form <= 3:
            return f"({self.number(d)} {self.pick('+', '-', '*', '/', '%')} {self.number(d)})"
        if form == 4:
            return f"- {self.number(d)}"
        if form == 5:
            return f"{self.pick('abs', 'round')}({self.number(d)})"
        if form == 6:
            return self._text_measure(d)
        if form == 7:
            return f"CAST({self.any(d)} AS {self.pick('INTEGER', 'REAL', 'INT', 'NUMERIC')})"
        if form == 8:
            return f"CASE WHEN {self.condition(d)} THEN {self.number(d)} ELSE {self.number(d)} END"
        if form == 9:
            return f"{self.pick('coalesce', 'ifnull', 'nullif')}({self.number(d)}, {self.number(d)})"
        if form == 10:
            return self.condition(d)
        if form == 11:
            return f"({self.text(d)} + {self.number(d)})"
        if form == 12:
            return f"CASE {self.number(d)} WHEN {self.number(d)} THEN {self.number(d)} END"
        return f"round({self.number(d)}, {self.pick('0', '1', '-1')})"

    def _text_measure(self, d: int) -> str:
        if self.rng.random() < 0.5:
            return f"length({self.text(d)})"
        return f"instr({self.text(d)}, {self.rng.choice(self.TEXT_LITERALS)})"

    def text(self, depth: int) -> str:
        r = self.rng
        if depth <= 0 or r.random() < 0.3:
            return r.choice(self.TEXT_COLUMNS) if r.random() < 0.65 else r.choice(self.TEXT_LITERALS)
        d = depth - 1
        form = r.randrange(12)
        if form <= 1:
            return f"({self.text(d)} || {self.any(d) if r.random() < 0.4 else self.text(d)})"
        if form == 2:
            return f"{self.pick('upper', 'lower')}({self.text(d) if r.random() < 0.8 else self.number(d)})"
        if form == 3:
            chars = f", {r.choice(self.TEXT_LITERALS)}" if r.random() < 0.4 else ""
            return f"{self.pick('trim', 'ltrim', 'rtrim')}({self.text(d)}{chars})"
        if form == 4:
            start = r.choice(["0", "1", "2", "-1", "-2", "-10", "5"])
            count = f", {r.choice(['0', '1', '2', '-1', '-3', '10'])}" if r.random() < 0.7 else ""
            return f"{self.pick('substr', 'substring')}({self.text(d)}, {start}{count})"
        if form == 5:
            return f"replace({self.text(d)}, {r.choice(self.TEXT_LITERALS)}, {r.choice(self.TEXT_LITERALS)})"
        if form == 6:
            return f"CAST({self.any(d)} AS {self.pick('TEXT', 'VARCHAR', 'CHAR')})"
        if form == 7:
            return f"CASE WHEN {self.condition(d)} THEN {self.text(d)} ELSE {self.text(d)} END"
        if form == 8:
            return f"{self.pick('coalesce', 'ifnull', 'nullif')}({self.text(d)}, {self.text(d)})"
        if form == 9:
            return f"typeof({self.any(d)})"
        if form == 10:
            return f"CASE WHEN {self.condition(d)} THEN {self.text(d)} END"
        return f"({self.number(d)} || {self.text(d)})"

    def condition(self, depth: int) -> str:
        r = self.rng
        d = max(depth - 1, 0)
        form = r.randrange(12)
        ops = ("=", "==", "!=", "<>", "<", "<=", ">", ">=")
        if form <= 2 or depth <= 0:
            return f"({self.number(d)} {r.choice(ops)} {self.number(d)})"
        if form == 3:
            return f"({self.text(d)} {r.choice(ops)} {self.text(d)})"
        if form == 4:
            return f"({self.number(d)} {r.choice(ops)} {self.text(d)})"
        if form == 5:
            return f"({self.condition(d)} {self.pick('AND', 'OR')} {self.condition(d)})"
        if form == 6:
            return f"NOT {self.condition(d)}"
        if form == 7:
            return f"{self.any(d)} IS {self.pick('NULL', 'NOT NULL')}"
        if form == 8:
            items = ", ".join(self.number(0) if r.random() < 0.7 else self.text(0) for _ in range(r.randrange(4)))
            return f"{self.number(d)} {self.pick('IN', 'NOT IN')} ({items})"
        if form == 9:
            between = self.pick("BETWEEN", "NOT BETWEEN")
            return f"{self.number(d)} {between} {self.number(0)} AND {self.number(0)}"
        if form == 10:
            return f"{self.text(d)} {self.pick('LIKE', 'NOT LIKE')} {r.choice(self.LIKE_PATTERNS)}"
        return f"({self.any(d)} {self.pick('IS', 'IS NOT')} {self.any(d)})"

    def expression(self) -> str:
        depth = self.rng.choice([1, 2, 2, 3, 3, 4])
        if self.rng.random() < 0.03:
            return f"mixed + {self.number(1)}"
        return self.any(depth)


def typed(values: list[Any]) -> list[tuple[type, Any]]:
    return [(type(v), v) for v in values]


def sqlite_rows(expression: Any, rows: list[dict[str, Any]]) -> list[Any] | None:
    """SQLite's result per row, or None when SQLite rejects one of the rows."""
    try:
        return [expression.evaluate(row) for row in rows]
    except BadRecordError:
        return None


def test_vectorised_results_equal_sqlite_per_row() -> None:
    rng = random.Random(SEED)
    corpus = make_corpus(rng)
    maker = ExpressionMaker(rng)
    mismatches: list[str] = []
    vectorised = 0
    for _ in range(EXPRESSIONS):
        text = maker.expression()
        expression = compile_sql(text)
        rows = corpus if rng.random() < 0.7 else rng.sample(corpus, rng.randrange(1, len(corpus)))
        expected = sqlite_rows(expression, rows)
        found = expression.evaluate_vector(rows)
        if found is None:
            continue
        vectorised += 1
        if expected is None or typed(found) != typed(expected):
            mismatches.append(f"{text}: vector {found} sqlite {expected}")
    assert (mismatches[:3], vectorised >= EXPRESSIONS * 0.4) == ([], True), vectorised


def test_batch_results_equal_sqlite_per_row() -> None:
    rng = random.Random(SEED + 1)
    corpus = make_corpus(rng)
    flat = [{k: v for k, v in row.items() if k not in ("after", "before")} for row in corpus]
    maker = ExpressionMaker(rng)
    mismatches: list[str] = []
    for _ in range(300):
        text = maker.expression()
        expression = compile_sql(text)
        rows = flat if "after." not in text and "before." not in text else corpus
        expected = sqlite_rows(expression, rows)
        if expected is None:
            with pytest.raises(BadRecordError):
                expression.evaluate_batch(rows)
        elif typed(expression.evaluate_batch(rows)) != typed(expected):
            mismatches.append(text)
    assert mismatches == []
