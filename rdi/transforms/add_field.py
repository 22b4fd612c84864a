"""`add_field`: set one or more fields, each at a dot path, to the value of an expression (spec §2.5).

Fields are set in the order listed, and each expression sees the fields set before it. The path is a path in
the record's data: in `partial` format `total` is a column of the row; in `full` format `after.total` is a
column written by outputs, a bare `total` is a scratch field outputs ignore, and `opcode` rewrites the
operation (a `d` turned into a `u` updates the target instead of deleting the key). Missing or null objects on
the path are created.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from typing_extensions import override

from rdi.config.job import AddFieldBlock
from rdi.errors import BadRecordError
from rdi.events.event import Record, Row
from rdi.expressions import Expression
from rdi.transforms._path import Path, PathError, parse_path, set_path
from rdi.transforms._step import evaluate, evaluate_batch, step_error, with_data
from rdi.transforms.base import Transform

__all__ = ["AddFieldTransform"]


class AddFieldTransform(Transform):
    """A compiled `add_field` block (single field or `fields:` list)."""

    def __init__(self, block: AddFieldBlock, *, step: str) -> None:
        self.step = step
        self._fields: list[tuple[Path, Expression, str]] = [
            (parse_path(f.field), f.compiled, f"add_field `{f.field}`") for f in block.with_.fields
        ]

    @override
    def apply(self, record: Record) -> Record:
        data = record.data
        for path, expression, label in self._fields:
            data = self._set(data, path, evaluate(expression, data, self.step, label), label)
        return with_data(record, data)

    @override
    def apply_batch(self, records: Sequence[Record]) -> list[Record]:
        rows = [record.data for record in records]
        try:
            for path, expression, label in self._fields:
                values = evaluate_batch(expression, rows, self.step, label)
                rows = [self._set(row, path, value, label) for row, value in zip(rows, values, strict=True)]
        except BadRecordError:
            # Per record, so the error is the one of the first failing record, as `apply` would raise it.
            return super().apply_batch(records)
        return [with_data(record, row) for record, row in zip(records, rows, strict=True)]

    def _set(self, row: Row, path: Path, value: Any, label: str) -> Row:
        try:
            return set_path(row, path, value)
        except PathError as exc:
            raise step_error(self.step, label, str(exc)) from exc
