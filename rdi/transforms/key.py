"""`key`: the legacy transform that sets the Redis key a record is written to (spec §2.7, §4.4).

The key is not a field of the row, so it is not put in `data` (where outputs would write it as a column and a
later `map` or `remove_field` would drop it): it goes to `Record.redis_key`. Later transforms keep it (they copy
records with `dataclasses.replace`), a later `key` block replaces it, and a Redis output that has no `key` of
its own writes to it instead of the default key. The job-level legacy `key:` is the same transform:
``KeyTransform(job.key, step="key")``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from typing_extensions import override

from rdi.config.job import ExpressionSpec, KeyBlock
from rdi.errors import BadRecordError
from rdi.events.event import Record
from rdi.transforms._step import describe_type, evaluate, evaluate_batch, step_error
from rdi.transforms.base import Transform

__all__ = ["KeyTransform", "redis_key"]

_LABEL = "key"


def redis_key(record: Record) -> str | None:
    """The Redis key a `key` transform set on `record`, or `None` when none did."""
    return record.redis_key


class KeyTransform(Transform):
    """A compiled `key` block (or job-level `key:`): evaluates the expression and sets `Record.redis_key`.

    A string result is the key; a number is written in decimal. Raises `BadRecordError` when the expression
    fails or gives anything else (null included).
    """

    def __init__(self, block: KeyBlock | ExpressionSpec, *, step: str) -> None:
        self.step = step
        spec = block.with_ if isinstance(block, KeyBlock) else block
        self._expression = spec.compiled

    @override
    def apply(self, record: Record) -> Record:
        return self._keyed(record, evaluate(self._expression, record.data, self.step, _LABEL))

    @override
    def apply_batch(self, records: Sequence[Record]) -> list[Record]:
        try:
            values = evaluate_batch(self._expression, [r.data for r in records], self.step, _LABEL)
            return [self._keyed(record, value) for record, value in zip(records, values, strict=True)]
        except BadRecordError:
            # Per record, so the error is the one of the first failing record, as `apply` would raise it.
            return super().apply_batch(records)

    def _keyed(self, record: Record, value: Any) -> Record:
        if isinstance(value, str):
            key = value
        elif isinstance(value, int | float) and not isinstance(value, bool):
            key = str(value)
        else:
            msg = f"the key expression gave {describe_type(value)}, expected a string"
            raise step_error(self.step, _LABEL, msg)
        return dataclasses.replace(record, redis_key=key)
