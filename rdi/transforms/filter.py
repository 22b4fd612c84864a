"""`filter`: keep a record only when its expression is truthy; a dropped one counts as filtered (spec §2.5).

Truthiness follows the expression's language:

* JMESPath: `false`, `null`, `''`, `[]` and `{}` are false; everything else, `0` included, is true.
* SQL (SQLite): `NULL` and zero are false; text and blobs count as the number their numeric prefix spells
  (`'1x'` is true, `'abc'` and `''` are false), as in a SQLite `WHERE` clause.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from typing_extensions import override

from rdi.config.job import FilterBlock
from rdi.events.event import Record
from rdi.transforms._step import evaluate, evaluate_batch
from rdi.transforms.base import Transform

__all__ = ["FilterTransform", "jmespath_truthy", "sql_truthy"]

_NUMERIC_PREFIX = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def jmespath_truthy(value: Any) -> bool:
    """JMESPath truthiness: `false`, `null`, `''`, `[]`, `{}` are false, numbers (`0` too) are true."""
    if value is None or value is False:
        return False
    return not (isinstance(value, str | list | dict | tuple) and not value)


def sql_truthy(value: Any) -> bool:
    """SQLite truthiness: NULL, 0, NaN and text without a non-zero numeric prefix are false."""
    if value is None:
        return False
    if isinstance(value, bool | int):
        return value != 0
    if isinstance(value, float):
        return value != 0 and not math.isnan(value)
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, str):
        match = _NUMERIC_PREFIX.match(value)
        return match is not None and float(match.group(0)) != 0
    return bool(value)


class FilterTransform(Transform):
    """A compiled `filter` block: returns the record unchanged, or `None` to drop it."""

    def __init__(self, block: FilterBlock, *, step: str) -> None:
        self.step = step
        self._expression = block.with_.compiled
        self._truthy = sql_truthy if block.with_.language == "sql" else jmespath_truthy
        self._label = "filter"

    @override
    def apply(self, record: Record) -> Record | None:
        keep = self._truthy(evaluate(self._expression, record.data, self.step, self._label))
        return record if keep else None

    @override
    def apply_batch(self, records: Sequence[Record]) -> list[Record]:
        values = evaluate_batch(self._expression, [r.data for r in records], self.step, self._label)
        return [record for record, value in zip(records, values, strict=True) if self._truthy(value)]
