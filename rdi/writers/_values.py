"""Normalised values as the text Redis stores (spec §3.2): the hash/stream column, and JSON for documents."""

from __future__ import annotations

from typing import Any, TypeAlias

import orjson

from rdi.errors import BadRecordError

__all__ = ["Arg", "as_text", "dumps", "shown"]

Arg: TypeAlias = str | bytes
"""One argument of a Redis command, as sent."""


def as_text(value: Any) -> Arg:
    """A non-null value as a hash field / stream field / member string (spec §3.2, hash column)."""
    t = type(value)
    if t is str:
        return value  # type: ignore[no-any-return]
    if t is int:
        return int.__repr__(value)
    if t is float:
        return float.__repr__(value)
    if t is bool:
        return "1" if value else "0"
    if t is dict or t is list:
        return dumps(value)
    if isinstance(value, bytes):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return float.__repr__(value)
    return str(value)


def dumps(value: Any) -> str:
    """Compact JSON text; a value JSON cannot hold (an int beyond 64 bits, a set) is a bad record."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError as exc:
        raise BadRecordError(f"values cannot be written as JSON: {exc}") from None


def shown(value: Any) -> str:
    """A value as error messages show it: JSON when possible."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return repr(value)
