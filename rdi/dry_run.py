"""Dry-run: change events through one job (or a whole pipeline), giving RDI's shape — the transformed record and
the Redis commands (for a `relational.write` output: the row writes, ``{"op", "schema", "table", "keys", "values"}``).

Pure (no I/O but reading the pipeline folder): ``rdi dry-run`` and the API's job dry-run both call :func:`dry_run`,
``rdi validate`` calls :func:`validate_pipeline`, and the prototyping notebook calls both with
:func:`dry_run_pipeline`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from rdi.config import Job, Pipeline, Processors, load_pipeline
from rdi.errors import RdiError
from rdi.events import ChangeEvent, ColumnType, decode_event
from rdi.jobs import CompiledJob, JobResult, JobRouter, Write
from rdi.processor import write_defaults
from rdi.writers.sql import SqlWrite

__all__ = ["dry_run", "dry_run_pipeline", "render_result", "validate_pipeline"]


def validate_pipeline(
    directory: str | os.PathLike[str],
    *,
    resolve_secrets: bool = False,
    secrets_dir: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> Pipeline:
    """Load a pipeline folder and check what only its jobs together can tell (how ``nest`` outputs link up).

    What ``rdi validate`` checks. Raises one ``ConfigError`` listing every problem (print it with
    ``format_config_error``); with ``resolve_secrets`` every ``${NAME}`` reference must resolve.
    """
    pipeline = load_pipeline(directory, secrets_dir=secrets_dir, env=env, resolve_secrets=resolve_secrets)
    JobRouter(pipeline.jobs, write_defaults(pipeline.config.processors))
    return pipeline


def dry_run(name: str, job: Job, processors: Processors, events: Sequence[Any]) -> list[dict[str, Any]]:
    """One result per event: ``{"index", "job", "transformation", "output"}``, ``{"index", "skipped"}`` for a
    tombstone or non-row event, ``{"index", "rejected"}`` for an event the job cannot take.

    An event is a Debezium value (object or JSON text), or ``{"key": …, "value": …}``. Raises ``ConfigError`` for
    a job that does not compile (e.g. a ``nest`` whose shape cannot be kept right).
    """
    router = JobRouter({name: job}, write_defaults(processors))
    compiled = next(iter(router.write_behind.values()), None) or (router.jobs[0] if router.jobs else router.default)
    return _run(lambda event: compiled, events, None)


def dry_run_pipeline(
    pipeline: Pipeline, events: Sequence[Any], *, types: Mapping[str, ColumnType] | None = None
) -> list[dict[str, Any]]:
    """:func:`dry_run` through a whole pipeline: each event goes to the job the processor would pick for it (its
    table's job, else the default job, else the built-in mapping), named in ``job``.

    An event may also be a staging stream entry, ``{"key": b"…", "value": b"…"}`` (other fields are ignored);
    ``types`` are the column types the stream's collector published (``rdi.stream_schema.read_types``), used as
    the processor uses them to decode events without schemas.
    """
    router = JobRouter(pipeline.jobs, write_defaults(pipeline.config.processors))
    return _run(router.job_for, events, types)


def _run(
    pick: Callable[[ChangeEvent], CompiledJob], events: Sequence[Any], types: Mapping[str, ColumnType] | None
) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    for i, item in enumerate(events):
        try:
            event = decode_event(*_split_entry(item), types=types)
            if event is None:
                results.append({"index": i, "skipped": "tombstone or non-row event"})
                continue
            results.append({"index": i, **render_result(pick(event).apply(event))})
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
    if isinstance(value, bytes):
        return value
    return value.encode() if isinstance(value, str) else orjson.dumps(value)
