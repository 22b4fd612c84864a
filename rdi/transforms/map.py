"""`map`: replace the record's fields with a new structure built from expressions (spec §2.5).

The expression is an object of `new_field: expression` (SQL, or JMESPath with nested objects), or one JMESPath
string that must yield an object (a multi-select hash such as `{id: id, name: concat([first, ' ', last])}`).
Expressions always see the record's whole data. What the result replaces depends on the row format:

* `partial`: the whole row; later steps and outputs see only the new fields.
* `full`: `after` only, the image outputs write; `key`, `before`, `opcode` and the coordinates stay, so a
  later step can still rewrite the opcode and outputs still know the operation and the default key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from typing_extensions import override

from rdi.config.job import MapBlock
from rdi.errors import BadRecordError
from rdi.events.event import Record, Row
from rdi.transforms._step import describe_type, evaluate, evaluate_batch, step_error, with_data
from rdi.transforms.base import Transform

__all__ = ["MapTransform"]

_LABEL = "map"


class MapTransform(Transform):
    """A compiled `map` block.

    Raises `BadRecordError` when an expression fails on the record, or when a single-string expression gives
    something other than an object.
    """

    def __init__(self, block: MapBlock, *, step: str) -> None:
        self.step = step
        self._tree = block.with_.compiled

    @override
    def apply(self, record: Record) -> Record:
        return self._place(record, self._build(self._tree, record.data))

    @override
    def apply_batch(self, records: Sequence[Record]) -> list[Record]:
        try:
            results = self._build_batch(self._tree, [r.data for r in records])
            return [self._place(record, result) for record, result in zip(records, results, strict=True)]
        except BadRecordError:
            # Per record, so the error is the one of the first failing record, as `apply` would raise it.
            return super().apply_batch(records)

    def _build(self, tree: Any, row: Row) -> Any:
        if isinstance(tree, dict):
            return {name: self._build(sub, row) for name, sub in tree.items()}
        return evaluate(tree, row, self.step, _LABEL)

    def _build_batch(self, tree: Any, rows: list[Row]) -> list[Any]:
        if isinstance(tree, dict):
            columns = {name: self._build_batch(sub, rows) for name, sub in tree.items()}
            return [{name: column[i] for name, column in columns.items()} for i in range(len(rows))]
        return evaluate_batch(tree, rows, self.step, _LABEL)

    def _place(self, record: Record, result: Any) -> Record:
        if not isinstance(result, dict):
            msg = f"the expression gave {describe_type(result)}, expected an object"
            raise step_error(self.step, _LABEL, msg)
        if record.row_format == "full":
            return with_data(record, {**record.data, "after": result})
        return with_data(record, result)
