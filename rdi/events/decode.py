"""Decode one staging-stream entry (Debezium ``key`` and ``value`` JSON text) into a :class:`ChangeEvent`.

The entry is what Debezium Server's Redis sink writes in its ``extended`` format: JSON with schemas
disabled (the payload only) — or, also accepted, schemas-enabled ``{"schema": …, "payload": …}`` on either
side. Entries that carry no row change are not errors; :func:`decode_event` returns ``None`` for them:

* tombstones — the value ``default`` (the sink's ``null.value``) or JSON ``null``;
* logical-decoding messages (``op: "m"``) — they name no table and RDI writes nothing for them;
* heartbeats (``{"ts_ms": …}``), transaction BEGIN/END markers and schema-change events, in case a
  collector is configured to emit them into a ``data:*`` stream.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

import orjson

from rdi.errors import BadRecordError
from rdi.events.event import ChangeEvent, Op, Row
from rdi.events.types import (
    DEFAULT_PLACEHOLDER,
    ColumnType,
    _needs_conversion,
    _normalise_in_place,
    _placeholder_forms,
    column_types,
)

__all__ = ["decode_event"]

_NULL_TEXTS: Final = ("default", b"default")
_OPS: Final[dict[str, Op]] = {"c": "c", "u": "u", "d": "d", "r": "r", "t": "t"}
_ROW_FIELDS: Final = ("after", "before")


def decode_event(
    key: bytes | str | None,
    value: bytes | str,
    *,
    types: Mapping[str, ColumnType] | None = None,
    placeholder: str = DEFAULT_PLACEHOLDER,
) -> ChangeEvent | None:
    """Decode one event; ``None`` when the entry carries no row change (see the module docstring).

    ``key``/``value`` are the stream entry's fields as received (``None`` or ``default`` key: keyless
    table). ``types`` maps column name → :class:`ColumnType` for the event's table, for events without
    schemas; a schemas-enabled event's own schema wins for the columns it describes. Row images (and the
    key) are normalised by the RDI type table (:mod:`rdi.events.types`); columns holding ``placeholder`` in
    any form are removed from the row images.
    Coordinates: ``server_name`` = ``source.name`` (``""`` if absent), ``db`` = ``source.db``, ``schema``
    = ``source.schema`` (``None`` for MySQL/MariaDB), ``table`` = ``source.table``.

    Pure and deterministic: decoding the same entry again gives an equal event.
    Raises :class:`BadRecordError` (one-line ``reason``) when the entry is not a Debezium change event: not
    JSON, not an object, no ``op``, an unknown ``op``, no ``source`` block or no ``source.table``, or a
    typed value that cannot be decoded.
    """
    if value in _NULL_TEXTS:
        return None
    schema, envelope = _unwrap(value, "value")
    if envelope is None:
        return None

    raw_op = envelope.get("op")
    if raw_op is None:
        if _is_control(envelope):
            return None
        raise BadRecordError("event value has no `op`")
    op = _OPS.get(raw_op) if isinstance(raw_op, str) else None
    if op is None:
        if raw_op == "m":
            return None
        shown = json.dumps(raw_op, separators=(",", ":"))
        raise BadRecordError(f"event has unknown op {shown}; expected c, u, d, r, t or m")

    source = envelope.get("source")
    if type(source) is not dict:
        raise BadRecordError("event value has no `source` block")
    table = source.get("table")
    if not isinstance(table, str) or not table:
        raise BadRecordError("event `source` has no `table`")

    row_types = _row_types(schema, types)
    forms = _placeholder_forms(placeholder)
    before = _row(envelope.get("before"), "before")
    after = _row(envelope.get("after"), "after")
    if before is not None:
        _normalise_in_place(before, row_types, forms)
    if after is not None:
        _normalise_in_place(after, row_types, forms)

    name, db, src_schema, ts_ms = (
        source.get("name"),
        source.get("db"),
        source.get("schema"),
        envelope.get("ts_ms"),
    )
    return ChangeEvent(
        op=op,
        key=_decode_key(key, types),
        before=before,
        after=after,
        server_name=name if isinstance(name, str) else "",
        db=db if isinstance(db, str) else None,
        schema=src_schema if isinstance(src_schema, str) else None,
        table=table,
        ts_ms=ts_ms if type(ts_ms) is int else None,
        source=source,
    )


def _parse(text: bytes | str, side: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        # Rare path: bare NaN/Infinity tokens (Jackson with WRITE_NAN_AS_STRINGS off) or integers beyond
        # 64 bits. NaN/Infinity become the strings Jackson writes by default ("NaN"): both decode alike.
        try:
            return json.loads(text, parse_constant=str)
        except (ValueError, RecursionError):
            raise BadRecordError(f"event {side} is not JSON: {exc}") from None


def _is_wrapped(obj: dict[str, Any]) -> bool:
    """A schemas-enabled JSON converter document: exactly ``{"schema": {...}, "payload": ...}``."""
    return len(obj) == 2 and "payload" in obj and type(obj.get("schema")) is dict


def _is_control(envelope: dict[str, Any]) -> bool:
    """A heartbeat, transaction marker or schema-change event: no row, nothing to write."""
    return (
        ("ts_ms" in envelope and envelope.keys() <= {"ts_ms", "ts_us", "ts_ns"})
        or envelope.get("status") in ("BEGIN", "END")
        or "ddl" in envelope
        or "tableChanges" in envelope
    )


def _row(image: Any, side: str) -> Row | None:
    if image is None or type(image) is dict:
        return image
    raise BadRecordError(f"event `{side}` is not a JSON object; got {_kind(image)}")


_RELEVANT: dict[int, tuple[Mapping[str, ColumnType], Mapping[str, ColumnType]]] = {}


def _relevant(types: Mapping[str, ColumnType] | None) -> Mapping[str, ColumnType]:
    """The columns of ``types`` whose values normalisation changes — usually a few of a table's columns.

    Cached per ``types`` object (a processor passes the same mapping for every event of a stream), so the
    per-row loop skips the plain columns.
    """
    if not types:
        return {}
    hit = _RELEVANT.get(id(types))
    if hit is not None and hit[0] is types:
        return hit[1]
    relevant = {col: ctype for col, ctype in types.items() if _needs_conversion(ctype)}
    if len(_RELEVANT) >= 256:
        _RELEVANT.clear()
    _RELEVANT[id(types)] = (types, relevant)
    return relevant


def _row_types(schema: Any, types: Mapping[str, ColumnType] | None) -> Mapping[str, ColumnType]:
    if type(schema) is not dict:
        return _relevant(types)
    found: dict[str, ColumnType] = {}
    for field in schema.get("fields") or ():
        if isinstance(field, dict) and field.get("field") in _ROW_FIELDS:
            found = column_types(field)
            if found:
                break
    merged = dict(types or {})
    merged.update({col: ctype for col, ctype in found.items() if _needs_conversion(ctype)})
    return merged


def _decode_key(key: bytes | str | None, types: Mapping[str, ColumnType] | None) -> Row | None:
    if key is None or key in _NULL_TEXTS:
        return None
    schema, parsed = _unwrap(key, "key")
    if parsed is None:
        return None
    key_types: Mapping[str, ColumnType] = _relevant(types)
    if type(schema) is dict:
        key_types = {**key_types, **{c: t for c, t in column_types(schema).items() if _needs_conversion(t)}}
    return _normalise_in_place(parsed, key_types, None) if key_types else parsed


def _unwrap(text: bytes | str, what: str) -> tuple[Any, dict[str, Any] | None]:
    """``(schema, payload)`` of a key or value: schemas-enabled JSON is unwrapped; a JSON null is ``None``."""
    parsed = _parse(text, what)
    schema: Any = None
    if type(parsed) is dict and _is_wrapped(parsed):
        schema, parsed = parsed["schema"], parsed["payload"]
    if parsed is not None and type(parsed) is not dict:
        raise BadRecordError(f"event {what} is not a JSON object; got {_kind(parsed)}")
    return schema, parsed


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"
