"""Tokens of an SQLite expression, and the column references they name.

Both SQL paths need this: the exact path to build the `FROM` clause the expression's columns come from and to
refuse text that would escape the `SELECT` it is embedded in; the vectorised path to parse the expression.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, TypeAlias

__all__ = ["References", "Token", "TokenKind", "find_references", "tokenize"]

TokenKind: TypeAlias = Literal["num", "str", "id", "qid", "op", "blob", "param", "eof"]


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    text: str
    """For `str` and `qid` the unquoted value; for `id` and `op` the text as written; for `num` the digits."""
    pos: int


class LexError(ValueError):
    """The text is not a sequence of SQLite tokens; the message is one line."""


_SPACE = re.compile(r"\s+|--[^\n]*(?:\n|$)|/\*.*?\*/", re.S)
_NUMBER = re.compile(r"0[xX][0-9a-fA-F]+|(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_WORD = re.compile(r"[A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_$\u0080-\U0010ffff]*")
_BLOB = re.compile(r"[xX]'([0-9a-fA-F]*)'")
_PARAM = re.compile(r"\?[0-9]*|[:@$][A-Za-z0-9_]+")
_OPERATORS = (
    "->>", "||", "<=", ">=", "==", "!=", "<>", "<<", ">>", "->",
    "<", ">", "=", "+", "-", "*", "/", "%", "&", "|", "~", "(", ")", ",", ".", ";",
)  # fmt: skip
_QUOTES = {'"': '"', "`": "`", "[": "]"}


def tokenize(text: str) -> list[Token]:
    """Split `text` into tokens ending with an `eof` token; raises `LexError` on an unterminated literal."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        if m := _SPACE.match(text, i):
            i = m.end()
            continue
        if text.startswith("/*", i):
            raise LexError(f"unterminated comment at column {i}")
        c = text[i]
        if m := _BLOB.match(text, i):
            tokens.append(Token("blob", m.group(1), i))
            i = m.end()
        elif c == "'":
            end, value = _quoted(text, i, "'")
            tokens.append(Token("str", value, i))
            i = end
        elif c in _QUOTES:
            end, value = _quoted(text, i, _QUOTES[c])
            tokens.append(Token("qid", value, i))
            i = end
        elif m := _NUMBER.match(text, i):
            tokens.append(Token("num", m.group(), i))
            i = m.end()
        elif m := _WORD.match(text, i):
            tokens.append(Token("id", m.group(), i))
            i = m.end()
        elif m := _PARAM.match(text, i):
            tokens.append(Token("param", m.group(), i))
            i = m.end()
        else:
            op = next((o for o in _OPERATORS if text.startswith(o, i)), None)
            if op is None:
                raise LexError(f"unrecognized token `{c}` at column {i}")
            tokens.append(Token("op", op, i))
            i += len(op)
    tokens.append(Token("eof", "", n))
    return tokens


def _quoted(text: str, start: int, close: str) -> tuple[int, str]:
    parts: list[str] = []
    i = start + 1
    while True:
        j = text.find(close, i)
        if j < 0:
            raise LexError(f"unterminated quote at column {start}")
        parts.append(text[i:j])
        if close != "]" and text.startswith(close * 2, j):
            parts.append(close)
            i = j + 2
            continue
        return j + 1, "".join(parts)


@dataclass(frozen=True)
class References:
    """What an expression refers to, found from its tokens alone (no parse)."""

    columns: frozenset[str]
    """Bare names that are not function names (keywords included: harmless as dummy columns)."""
    qualified: dict[str, frozenset[str]]
    """`qualifier` (lower-case) → column names used as `qualifier.column`."""
    functions: frozenset[str]
    """Lower-case names called as functions."""
    has_select: bool
    """True when the expression contains a sub-query or a window (`SELECT`, `OVER`)."""


def find_references(tokens: list[Token]) -> References:
    columns: set[str] = set()
    qualified: dict[str, set[str]] = {}
    functions: set[str] = set()
    has_select = False
    for k, tok in enumerate(tokens):
        if tok.kind not in ("id", "qid"):
            continue
        if tok.kind == "id" and tok.text.upper() in ("SELECT", "OVER"):
            has_select = True
        prev, nxt = tokens[k - 1] if k else None, tokens[k + 1]
        if prev is not None and prev.kind == "op" and prev.text == ".":
            continue
        if nxt.kind == "op" and nxt.text == "(":
            functions.add(tok.text.lower())
        elif nxt.kind == "op" and nxt.text == "." and tokens[k + 2].kind in ("id", "qid"):
            qualified.setdefault(tok.text.lower(), set()).add(tokens[k + 2].text)
        else:
            columns.add(tok.text)
    return References(
        frozenset(columns),
        {q: frozenset(c) for q, c in qualified.items()},
        frozenset(functions),
        has_select,
    )
