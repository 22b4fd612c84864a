"""Turn a decoded :class:`ChangeEvent` into the :class:`Record` a job's transforms and outputs see."""

from __future__ import annotations

from rdi.events.event import ChangeEvent, Record, Row, RowFormat

__all__ = ["to_record"]


def to_record(event: ChangeEvent, row_format: RowFormat = "partial") -> Record:
    """The record a job sees for ``event`` in ``row_format`` (RDI's ``source.row_format``).

    * ``partial``: ``data`` is the flat row — the after-image; for a delete (no after-image) the
      before-image, or else the key columns; ``{}`` for a truncate.
    * ``full``: ``data`` is ``{"key", "before", "after", "opcode", "db", "schema", "table"}``; ``key``,
      ``before`` and ``after`` are ``None`` where the event has none (a keyless table: ``"key": None``).

    ``Record.key`` is the event's key columns, ``{}`` for a keyless table or a truncate. Every dict in the
    record is a fresh shallow copy, so transforms may mutate it without touching ``event``. Pure; raises
    only ``ValueError`` for an unknown ``row_format`` (a programming error).
    """
    key = event.key
    if row_format == "partial":
        row = event.after if event.after is not None else event.before if event.before is not None else key
        data: Row = dict(row) if row is not None else {}
    elif row_format == "full":
        data = {
            "key": _copy(key),
            "before": _copy(event.before),
            "after": _copy(event.after),
            "opcode": event.op,
            "db": event.db,
            "schema": event.schema,
            "table": event.table,
        }
    else:
        raise ValueError(f"unknown row format `{row_format}`; expected `partial` or `full`")
    return Record(
        data=data,
        key=dict(key) if key is not None else {},
        row_format=row_format,
        op=event.op,
        server_name=event.server_name,
        db=event.db,
        schema=event.schema,
        table=event.table,
        source=event.source,
    )


def _copy(row: Row | None) -> Row | None:
    return dict(row) if row is not None else None
