"""Debezium change events: decode stream entries, normalise values (RDI type table), build job records."""

from __future__ import annotations

from rdi.events.decode import decode_event
from rdi.events.event import ChangeEvent, Op, Record, Row, RowFormat
from rdi.events.key import default_key, render_value
from rdi.events.record import to_record
from rdi.events.types import DEFAULT_PLACEHOLDER, ColumnType, column_types, normalise_row

__all__ = [
    "DEFAULT_PLACEHOLDER",
    "ChangeEvent",
    "ColumnType",
    "Op",
    "Record",
    "Row",
    "RowFormat",
    "column_types",
    "decode_event",
    "default_key",
    "normalise_row",
    "render_value",
    "to_record",
]
