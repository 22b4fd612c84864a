"""A parser for the subset of SQLite expressions the vectorised path can run.

Anything outside the subset (sub-queries, COLLATE, GLOB, bit operators, blobs, `->`, …) raises `Unsupported`;
the caller then uses SQLite for every batch. Precedence follows SQLite's table, lowest first: OR; AND; NOT;
`= == != <> IS IN LIKE BETWEEN`; `< <= > >=`; `+ -`; `* / %`; `||`; unary `- +`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from rdi.expressions._lexer import Token

__all__ = [
    "Between",
    "Binary",
    "Call",
    "Case",
    "Cast",
    "Column",
    "InList",
    "IsNull",
    "Like",
    "Literal",
    "Node",
    "Unary",
    "Unsupported",
    "parse",
]


class Unsupported(Exception):
    """The expression (or this batch) needs SQLite to get the exact answer."""


@dataclass(frozen=True)
class Literal:
    value: int | float | str | None
    text: str = ""
    """The literal as written (numbers), to let the caller check how SQLite reads it."""
    keyword: bool = False
    """TRUE/FALSE: SQLite reads them as a column when one has that name."""


@dataclass(frozen=True)
class Column:
    qualifier: str | None
    name: str


@dataclass(frozen=True)
class Unary:
    op: str  # "-", "+", "NOT"
    operand: Node


@dataclass(frozen=True)
class Binary:
    op: str  # arithmetic, "||", comparisons ("==" → "=", "<>" → "!="), "AND", "OR", "IS", "IS NOT"
    left: Node
    right: Node


@dataclass(frozen=True)
class IsNull:
    operand: Node
    negated: bool


@dataclass(frozen=True)
class InList:
    operand: Node
    items: tuple[Node, ...]
    negated: bool


@dataclass(frozen=True)
class Between:
    operand: Node
    low: Node
    high: Node
    negated: bool


@dataclass(frozen=True)
class Like:
    operand: Node
    pattern: Node
    negated: bool


@dataclass(frozen=True)
class Case:
    base: Node | None
    whens: tuple[tuple[Node, Node], ...]
    otherwise: Node | None


@dataclass(frozen=True)
class Cast:
    operand: Node
    type_name: str


@dataclass(frozen=True)
class Call:
    name: str  # lower-case
    args: tuple[Node, ...]


Node: TypeAlias = Literal | Column | Unary | Binary | IsNull | InList | Between | Like | Case | Cast | Call

_EQUALITY = {"=": "=", "==": "=", "!=": "!=", "<>": "!="}
_ORDER = ("<", "<=", ">", ">=")
# Words that end an operand: a bare word among them is never a column name in the subset.
_RESERVED = frozenset(
    {"AND", "OR", "NOT", "IS", "IN", "LIKE", "GLOB", "MATCH", "REGEXP", "BETWEEN", "CASE", "WHEN", "THEN",
     "ELSE", "END", "CAST", "AS", "NULL", "ISNULL", "NOTNULL", "COLLATE", "ESCAPE", "SELECT", "EXISTS",
     "DISTINCT", "FROM"}
)  # fmt: skip


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0

    def peek(self, offset: int = 0) -> Token:
        return self.tokens[min(self.i + offset, len(self.tokens) - 1)]

    def word(self, *words: str, offset: int = 0) -> bool:
        tok = self.peek(offset)
        return tok.kind == "id" and tok.text.upper() in words

    def op(self, *ops: str) -> bool:
        tok = self.peek()
        return tok.kind == "op" and tok.text in ops

    def take(self) -> Token:
        tok = self.peek()
        self.i += 1
        return tok

    def expect_word(self, word: str) -> None:
        if not self.word(word):
            raise Unsupported(f"expected {word}")
        self.i += 1

    def expect_op(self, op: str) -> None:
        if not self.op(op):
            raise Unsupported(f"expected {op}")
        self.i += 1

    def expression(self) -> Node:
        return self.disjunction()

    def disjunction(self) -> Node:
        node = self.conjunction()
        while self.word("OR"):
            self.i += 1
            node = Binary("OR", node, self.conjunction())
        return node

    def conjunction(self) -> Node:
        node = self.negation()
        while self.word("AND"):
            self.i += 1
            node = Binary("AND", node, self.negation())
        return node

    def negation(self) -> Node:
        if self.word("NOT"):
            self.i += 1
            return Unary("NOT", self.negation())
        return self.equality()

    def equality(self) -> Node:
        node = self.ordering()
        while True:
            negated = self.word("NOT") and self.word("IN", "LIKE", "BETWEEN", offset=1)
            if negated:
                self.i += 1
            if self.op(*_EQUALITY) and not negated:
                node = Binary(_EQUALITY[self.take().text], node, self.ordering())
            elif self.word("IS") and not negated:
                self.i += 1
                is_not = self.word("NOT")
                if is_not:
                    self.i += 1
                if self.word("NULL"):
                    self.i += 1
                    node = IsNull(node, is_not)
                elif self.word("DISTINCT"):
                    raise Unsupported("IS DISTINCT FROM")
                else:
                    node = Binary("IS NOT" if is_not else "IS", node, self.ordering())
            elif self.word("ISNULL", "NOTNULL") and not negated:
                node = IsNull(node, self.take().text.upper() == "NOTNULL")
            elif self.word("NOT") and self.word("NULL", offset=1) and not negated:
                self.i += 2
                node = IsNull(node, True)
            elif self.word("IN"):
                self.i += 1
                node = InList(node, self.in_items(), negated)
            elif self.word("LIKE"):
                self.i += 1
                node = Like(node, self.ordering(), negated)
                if self.word("ESCAPE"):
                    raise Unsupported("LIKE … ESCAPE")
            elif self.word("BETWEEN"):
                self.i += 1
                low = self.ordering()
                self.expect_word("AND")
                node = Between(node, low, self.ordering(), negated)
            elif negated:
                raise Unsupported("NOT")
            else:
                return node

    def in_items(self) -> tuple[Node, ...]:
        self.expect_op("(")
        if self.word("SELECT"):
            raise Unsupported("IN (SELECT …)")
        items: list[Node] = []
        while not self.op(")"):
            items.append(self.expression())
            if not self.op(")"):
                self.expect_op(",")
        self.i += 1
        return tuple(items)

    def ordering(self) -> Node:
        node = self.additive()
        while self.op(*_ORDER):
            node = Binary(self.take().text, node, self.additive())
        return node

    def additive(self) -> Node:
        node = self.multiplicative()
        while self.op("+", "-"):
            node = Binary(self.take().text, node, self.multiplicative())
        return node

    def multiplicative(self) -> Node:
        node = self.concatenation()
        while self.op("*", "/", "%"):
            node = Binary(self.take().text, node, self.concatenation())
        return node

    def concatenation(self) -> Node:
        node = self.unary()
        while self.op("||"):
            self.i += 1
            node = Binary("||", node, self.unary())
        if self.word("COLLATE") or self.op("->", "->>", "&", "|", "<<", ">>", "~"):
            raise Unsupported(self.peek().text)
        return node

    def unary(self) -> Node:
        if self.op("-", "+"):
            return Unary(self.take().text, self.unary())
        return self.primary()

    def primary(self) -> Node:
        tok = self.take()
        if tok.kind == "num":
            return _number(tok.text)
        if tok.kind == "str":
            return Literal(tok.text)
        if tok.kind == "op" and tok.text == "(":
            if self.word("SELECT"):
                raise Unsupported("sub-query")
            node = self.expression()
            self.expect_op(")")
            return node
        if tok.kind == "qid":
            return self.column(tok)
        if tok.kind != "id":
            raise Unsupported(tok.text)
        upper = tok.text.upper()
        if upper == "NULL":
            return Literal(None)
        if upper in ("TRUE", "FALSE"):
            return Literal(int(upper == "TRUE"), upper, keyword=True)
        if upper == "CASE":
            return self.case()
        if upper == "CAST":
            return self.cast()
        if self.op("("):
            return self.call(tok.text.lower())
        if upper in _RESERVED:
            raise Unsupported(upper)
        return self.column(tok)

    def column(self, tok: Token) -> Node:
        if self.op("."):
            self.i += 1
            name = self.take()
            if name.kind not in ("id", "qid") or self.op(".", "("):
                raise Unsupported("qualified name")
            return Column(tok.text, name.text)
        return Column(None, tok.text)

    def case(self) -> Node:
        base = None if self.word("WHEN") else self.expression()
        whens: list[tuple[Node, Node]] = []
        while self.word("WHEN"):
            self.i += 1
            condition = self.expression()
            self.expect_word("THEN")
            whens.append((condition, self.expression()))
        otherwise = None
        if self.word("ELSE"):
            self.i += 1
            otherwise = self.expression()
        self.expect_word("END")
        if not whens:
            raise Unsupported("CASE without WHEN")
        return Case(base, tuple(whens), otherwise)

    def cast(self) -> Node:
        self.expect_op("(")
        operand = self.expression()
        self.expect_word("AS")
        words: list[str] = []
        while self.peek().kind == "id":
            words.append(self.take().text.upper())
        if self.op("("):
            raise Unsupported("sized type name")
        self.expect_op(")")
        return Cast(operand, " ".join(words))

    def call(self, name: str) -> Node:
        self.expect_op("(")
        if self.word("DISTINCT") or self.op("*"):
            raise Unsupported("aggregate")
        args: list[Node] = []
        while not self.op(")"):
            args.append(self.expression())
            if not self.op(")"):
                self.expect_op(",")
        self.i += 1
        if self.word("FILTER", "OVER"):
            raise Unsupported("window")
        return Call(name, tuple(args))


def _number(text: str) -> Literal:
    if text[:2].lower() == "0x":
        raise Unsupported("hex literal")
    if all(c.isdigit() for c in text):
        return Literal(int(text), text)
    return Literal(float(text), text)


def parse(tokens: list[Token]) -> Node:
    """Parse the whole token list into one expression; raises `Unsupported` outside the subset."""
    parser = _Parser(tokens)
    node = parser.expression()
    if parser.peek().kind != "eof":
        raise Unsupported(parser.peek().text)
    return node
