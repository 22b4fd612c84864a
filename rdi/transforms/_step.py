"""What every transform module shares: copying a record with new data, and labelling expression failures."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from rdi.errors import BadRecordError
from rdi.events.event import Record, Row
from rdi.expressions import Expression

# `dataclasses.replace` costs ~10x a direct call; use the call while Record's fields are the ones it spells.
_FIELDS = ("data", "key", "row_format", "op", "server_name", "db", "schema", "table", "source")
_DIRECT = tuple(f.name for f in dataclasses.fields(Record)) == _FIELDS


def with_data(record: Record, data: Row) -> Record:
    """A copy of `record` (of the same class, so subclasses keep their fields) with other data."""
    if _DIRECT and type(record) is Record:
        r = record
        return Record(data, r.key, r.row_format, r.op, r.server_name, r.db, r.schema, r.table, r.source)
    return dataclasses.replace(record, data=data)


def step_error(step: str, label: str, reason: str) -> BadRecordError:
    return BadRecordError(f"{step} ({label}): {reason}", step=step)


def evaluate(expression: Expression, row: Row, step: str, label: str) -> Any:
    try:
        return expression.evaluate(row)
    except BadRecordError as exc:
        raise step_error(step, label, exc.reason) from exc


def evaluate_batch(expression: Expression, rows: Sequence[Row], step: str, label: str) -> list[Any]:
    try:
        return expression.evaluate_batch(rows)
    except BadRecordError:
        # Find the record that failed so the error is exactly the one `apply` would raise.
        return [evaluate(expression, row, step, label) for row in rows]


def describe_type(value: Any) -> str:
    """The JSON type of `value` with its article, for messages: null, a boolean, a string, an array…"""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"
