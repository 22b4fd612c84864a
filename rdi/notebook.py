"""Notebook helpers: dry-run results as Polars tables, and a read-only look at a live staging stream.

The tables are built from what :func:`rdi.dry_run.dry_run_pipeline` (and :func:`rdi.dry_run.dry_run`) return, so a
notebook shows exactly what ``rdi dry-run`` and the processor compute. :func:`records_frame` and
:func:`commands_frame` are pure; :func:`read_staging` and :func:`staging_streams` are the only functions that talk to
Redis, and they only read (``SCAN``, ``XREVRANGE``, ``HGETALL``): no consumer group is read through or acknowledged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import polars as pl
import redis

from rdi import keys
from rdi.events import ColumnType
from rdi.stream_schema import read_types

__all__ = ["COMMAND_COLUMNS", "RECORD_COLUMNS", "StagingSample", "commands_frame", "read_staging",
           "records_frame", "staging_streams"]  # fmt: skip

RECORD_COLUMNS = ("event", "job", "op", "key", "note")
"""The first columns of :func:`records_frame`; a record field of the same name is shown as ``data.<name>``."""
COMMAND_COLUMNS = ("event", "job", "connection", "command", "key", "args")
"""The columns of :func:`commands_frame`."""


@dataclass(frozen=True, slots=True)
class StagingSample:
    """The last entries of one staging stream, oldest first, and the column types its collector published."""

    stream: str
    entries: list[dict[str, Any]]
    """``{"id": "<ms>-<seq>", "key": …, "value": …}`` per entry (bytes, or str for a decoding client)."""
    types: dict[str, ColumnType] | None


def staging_streams(client: redis.Redis) -> list[str]:
    """The staging streams (``data:*``) in the RDI database, sorted. Read-only (``SCAN``)."""
    found = client.scan_iter(match=keys.STREAM_PATTERN, count=1000, _type="STREAM")
    return sorted(_text(name) for name in found)


def read_staging(client: redis.Redis, stream: str, count: int = 10) -> StagingSample:
    """The last ``count`` entries of ``stream`` (oldest first) and its published column types.

    Read-only: ``XREVRANGE`` and ``HGETALL`` — no consumer group is created, read through or acknowledged, so the
    processor's position and pending entries stay as they were. Raises ``ValueError`` for ``count < 1`` and what
    the Redis client raises.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    raw: Any = client.xrevrange(stream, count=count)
    entries: list[dict[str, Any]] = []
    for entry_id, fields in reversed(raw):
        by_name = {_text(name): value for name, value in fields.items()}
        entries.append({"id": _text(entry_id), "key": by_name.get("key"), "value": by_name.get("value", b"")})
    return StagingSample(stream=stream, entries=entries, types=read_types(client, stream))


def records_frame(results: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """One row per dry-run result: ``event`` (its index), ``job``, ``op``, ``key`` (the first Redis key written),
    ``note`` (``filtered``, ``skipped: …``, ``rejected: …``; null when written), then the record's fields.

    Nested values (objects, lists) are shown as JSON text; a field's values of different types share the text type.
    """
    rows: list[dict[str, Any]] = []
    for result in results:
        row: dict[str, Any] = {"event": result.get("index"), "job": result.get("job"), "op": None, "key": None}
        record = result.get("transformation")
        if "rejected" in result:
            row["note"] = f"rejected: {result['rejected']}"
        elif "skipped" in result:
            row["note"] = f"skipped: {result['skipped']}"
        elif record is None:
            row["note"] = "filtered"
        else:
            row["op"] = record["opcode"]
            row["key"] = next((c[1] for o in result["output"] for c in o["commands"] if len(c) > 1), None)
            row["note"] = None
            for name, value in record["data"].items():
                row[f"data.{name}" if name in RECORD_COLUMNS else name] = _cell(value)
        rows.append(row)
    if not rows:
        return pl.DataFrame(schema=dict.fromkeys(RECORD_COLUMNS, pl.String))
    return pl.DataFrame(rows, strict=False, infer_schema_length=None)


def commands_frame(results: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """One row per Redis command of the dry-run results, in order: ``event``, ``job``, ``connection``,
    ``command`` (e.g. ``HSET``), ``key``, ``args`` (the remaining arguments, as text)."""
    rows: list[dict[str, Any]] = []
    for result in results:
        for output in result.get("output") or []:
            for command in output["commands"]:
                words = [_word(w) for w in command]
                rows.append({
                    "event": result.get("index"),
                    "job": result.get("job"),
                    "connection": output["connection"],
                    "command": words[0],
                    "key": words[1] if len(words) > 1 else None,
                    "args": words[2:],
                })  # fmt: skip
    schema: dict[str, pl.DataType | type[pl.DataType]] = {
        "event": pl.Int64,
        "job": pl.String,
        "connection": pl.String,
        "command": pl.String,
        "key": pl.String,
        "args": pl.List(pl.String),
    }
    return pl.DataFrame(rows, schema=schema)


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (dict, list, tuple)):
        return orjson.dumps(value, default=str).decode()
    return str(value)


def _word(value: Any) -> str:
    return value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else str(value)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
