"""What the data plane shows in the RDI DB beside the controller's status: snapshot progress and stream counts.

Collectors keep ``rdi:collector:<source>:status`` (``phase``, ``heartbeat_ms``, ``snapshot:<table>`` =
``rows/estimate``, ``updated_at``) and the snapshot state in ``rdi:collector:<source>:snapshot``; the processor
reads every ``data:*`` stream with its pipeline's consumer group, and rejects into ``dlq:<stream>``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
import redis

from rdi import keys
from rdi.metrics.monitor import stream_backlog

__all__ = ["source_progress", "stream_counts"]

_SNAPSHOT_STATE = "__state__"  # the snapshot hash's state field (rdi.collectors.postgres / mysql SNAPSHOT_STATE)


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _int(value: Any) -> int:
    try:
        return int(_text(value))
    except ValueError:
        return 0


def source_progress(client: redis.Redis, sources: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Per source: ``phase`` (``starting`` | ``snapshot`` | ``streaming``), ``heartbeat_ms``, ``updated_at_ms`` and
    ``tables``: table → ``{rows, estimate, percent}`` of its snapshot."""
    progress: dict[str, dict[str, Any]] = {}
    for source in sources:
        status = {_text(k): _text(v) for k, v in client.hgetall(keys.collector_status(source)).items()}
        state_raw = client.hget(keys.collector_snapshot(source), _SNAPSHOT_STATE)
        try:
            state = orjson.loads(state_raw) if state_raw else {}
        except orjson.JSONDecodeError:
            state = {}
        tables: dict[str, dict[str, Any]] = {}
        for field, value in sorted(status.items()):
            if field.startswith("snapshot:"):
                rows_text, _, estimate_text = value.partition("/")
                rows, estimate = _int(rows_text), max(_int(estimate_text), _int(rows_text))
                percent = 100.0 if estimate == 0 else round(100.0 * rows / estimate, 1)
                tables[field.removeprefix("snapshot:")] = {"rows": rows, "estimate": estimate, "percent": percent}
        snapshot_done = isinstance(state, dict) and state.get("phase") == "complete"
        if snapshot_done or status.get("phase") == "streaming":
            phase = "streaming"
        else:
            phase = "snapshot" if tables else "starting"
        progress[source] = {
            "phase": phase,
            "heartbeat_ms": _int(status.get("heartbeat_ms", 0)),
            "updated_at_ms": _int(status.get("updated_at", 0)),
            "tables": tables,
        }
    return progress


def stream_counts(client: redis.Redis, pipeline: str, now_ms: int) -> dict[str, dict[str, int]]:
    """Per staging stream (ingest ``data:*`` and write-behind ``wb:*``): ``total`` (entries ever added),
    ``pending`` (not yet processed: unread + unacked, as the processor's metrics count them), ``rejected`` (DLQ
    length), ``last_arrival_ms`` and ``lag_ms`` (age of the oldest unprocessed entry, 0 if none)."""
    group = keys.consumer_group(pipeline)
    counts: dict[str, dict[str, int]] = {}
    found = (raw for pattern in keys.STAGING_PATTERNS for raw in client.scan_iter(match=pattern, count=1000,
                                                                                  _type="STREAM"))  # fmt: skip
    for raw in sorted(found):
        stream = _text(raw)
        try:
            info = client.xinfo_stream(stream)
            pending, oldest = stream_backlog(client, stream, group)
        except redis.ResponseError:
            continue
        total = _int(info.get("entries-added") or info.get("length") or 0)
        last_id = _text(info.get("last-generated-id") or "0-0")
        oldest_ms = _int(_text(oldest).split("-")[0]) if oldest is not None else 0
        counts[stream] = {
            "total": total,
            "pending": pending,
            "rejected": _int(client.xlen(keys.dlq_stream(stream))),
            "last_arrival_ms": _int(last_id.split("-")[0]),
            "lag_ms": max(now_ms - oldest_ms, 0) if oldest_ms else 0,
        }
    return counts
