"""The contract every transform block fulfils, and how a failing expression becomes a `BadRecordError`.

Records are values: a transform never mutates the record it is given, nor any dict reachable from it (`data`,
`after`, nested objects). It returns a new `Record` whose `data` shares every untouched sub-object with the
input, and copies only the dicts along the paths it writes. So a job can hand the same record to several
outputs, keep the decoded event for its DLQ entry, and replay a record, without one step seeing another's
writes. A transform may return its input object itself when it changes nothing; callers treat records as
read-only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from rdi.events.event import Record

__all__ = ["Transform"]


class Transform(Protocol):
    """One compiled `transform` block of a job.

    ``step`` is the block's stable label (``transform[<index>]``), used in error reasons, metrics and logs.
    """

    step: str

    def apply(self, record: Record) -> Record | None:
        """The transformed record, or ``None`` when the block drops it (`filter`).

        Pure and deterministic (unless an expression calls `uuid()` or a clock), so idempotent under replay;
        raises `BadRecordError` naming the step when this record's data makes an expression fail.
        """
        ...

    def apply_batch(self, records: Sequence[Record]) -> list[Record]:
        """`apply` over a batch: the records kept, in input order, equal to calling `apply` on each.

        Raises the `BadRecordError` that `apply` raises for the first failing record; a caller that wants to
        dead-letter only that record runs the batch again record by record.
        """
        out: list[Record] = []
        for record in records:
            result = self.apply(record)
            if result is not None:
                out.append(result)
        return out
