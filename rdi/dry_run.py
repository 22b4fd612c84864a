"""Dry-run: change events through one job, giving RDI's shape — the transformed record and the Redis commands
(for a `relational.write` output: the row writes, ``{"op", "schema", "table", "keys", "values"}``).

Pure (no I/O): ``rdi dry-run`` and the API's job dry-run both call :func:`dry_run`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from rdi.config import Job, Processors
from rdi.errors import RdiError
from rdi.events import decode_event
from rdi.jobs import JobResult, JobRouter, Write
from rdi.processor import write_defaults
from rdi.writers.sql import SqlWrite

__all__ = ["dry_run", "render_result"]


def dry_run(name: str, job: Job, processors: Processors, events: Sequence[Any]) -> list[dict[str, Any]]:
    """One result per event: ``{"index", "job", "transformation", "output"}``, ``{"index", "skipped"}`` for a
    tombstone or non-row event, ``{"index", "rejected"}`` for an event the job cannot take.

    An event is a Debezium value (object or JSON text), or ``{"key": …, "value": …}``. Raises ``ConfigError`` for
    a job that does not compile (e.g. a ``nest`` whose shape cannot be kept right).
    """
    router = JobRouter({name: job}, write_defaults(processors))
    compiled = next(iter(router.write_behind.values()), None) or (router.jobs[0] if router.jobs else router.default)
    results: list[dict[str, Any]] = []
    for i, item in enumerate(events):
        try:
            event = decode_event(*_split_entry(item))
            if event is None:
                results.append({"index": i, "skipped": "tombstone or non-row event"})
                continue
            results.append({"index": i, **render_result(compiled.apply(event))})
        except (RdiError, orjson.JSONDecodeError, TypeError, ValueError) as exc:
            results.append({"index": i, "rejected": str(exc)})
    return results


def render_result(result: JobResult) -> dict[str, Any]:
    """RDI's dry-run shape: ``transformation`` (the record) and ``output`` (commands per connection)."""
    record = result.record
    if record is None:
        return {"job": result.job, "filtered": True, "transformation": None, "output": []}
    return {
        "job": result.job,
        "transformation": {"opcode": record.opcode, "data": record.data},
        "output": [{"connection": o.connection, "commands": [_shown(c) for c in o.commands]} for o in result.outputs],
    }


def _shown(write: Write) -> Any:
    if isinstance(write, SqlWrite):
        return {
            "op": write.op,
            "schema": write.schema,
            "table": write.table,
            "keys": write.keys,
            "values": write.values,
        }
    return list(write)


def _split_entry(item: Any) -> tuple[bytes | None, bytes]:
    if isinstance(item, dict) and "value" in item and "op" not in item:
        key, value = item.get("key"), item["value"]
    else:
        key, value = None, item
    return (None if key is None else _as_json_text(key)), _as_json_text(value)


def _as_json_text(value: Any) -> bytes:
    return value.encode() if isinstance(value, str) else orjson.dumps(value)
