"""The two shapes a change takes inside rdi.

* :class:`ChangeEvent` — one decoded Debezium change event (envelope + source coordinates), values already
  normalised by the RDI type table (see ``rdi.events.types``) into plain JSON-like Python values.
* :class:`Record` — what a job's transforms and outputs see: the row in ``partial`` or ``full`` row format,
  plus the coordinates and the operation code, which a ``full``-format transform may rewrite.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

__all__ = ["ChangeEvent", "Op", "Record", "Row", "RowFormat"]

Op: TypeAlias = Literal["c", "u", "d", "r", "t"]
RowFormat: TypeAlias = Literal["partial", "full"]
Row: TypeAlias = dict[str, Any]


@dataclass(slots=True)
class ChangeEvent:
    """One change of one row, decoded from a Debezium event (key JSON + value JSON).

    Treat it as immutable (derive a changed copy with ``dataclasses.replace``); it is not ``frozen`` only
    because a frozen dataclass costs ~1.7 µs more per construction, on the hottest path of the processor.

    ``key`` holds the primary-key columns (``None`` for a table without a key, and for truncates);
    ``before``/``after`` hold the row images with normalised values (``None`` where Debezium gives none);
    ``source`` is the raw Debezium ``source`` block, kept for DLQ entries and tracing.
    """

    op: Op
    key: Row | None
    before: Row | None
    after: Row | None
    server_name: str
    db: str | None
    schema: str | None
    table: str
    ts_ms: int | None = None
    source: Row = field(default_factory=dict)


@dataclass(slots=True)
class Record:
    """The value a job works on; transforms return new or updated records, outputs read them.

    ``data`` is what expressions see:
      * ``partial``: the flat row (the after-image; for a delete, the before-image or else the key columns);
      * ``full``: ``{"key", "before", "after", "opcode", "db", "schema", "table"}``.
    ``key`` is the primary-key columns of the source row, used for the default Redis key.
    ``redis_key`` is the Redis key a legacy ``key`` transform (or job-level ``key:``) chose; outputs without a
    ``key`` of their own write there instead of the default key.
    """

    data: Row
    key: Row
    row_format: RowFormat
    op: Op
    server_name: str
    db: str | None
    schema: str | None
    table: str
    source: Row = field(default_factory=dict)
    redis_key: str | None = None

    @property
    def opcode(self) -> str:
        """The operation code after transforms: in ``full`` format a transform may rewrite ``opcode``."""
        if self.row_format == "full":
            return str(self.data.get("opcode") or self.op)
        return self.op

    @property
    def values(self) -> Row:
        """The field values an output writes: the flat row (``partial``) or ``after`` (``full``)."""
        if self.row_format == "full":
            after = self.data.get("after")
            return after if isinstance(after, dict) else {}
        return self.data
