"""What the demo shows: snapshot and live progress read from the RDI database, and a few resulting keys.

:func:`read_progress` asks Redis (the collector's status hash, the staging streams and the processor's
consumer group — nothing of either process's internals); :func:`render_progress` and :func:`sample_keys`
turn that into lines for the terminal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import redis

from rdi import keys
from rdi.collectors.postgres import SNAPSHOT_STATE

__all__ = ["TARGET_PATTERNS", "Progress", "read_progress", "render_progress", "sample_keys"]

TARGET_PATTERNS = ("customer:*", "product:*", "order:*")
"""The keys the demo's jobs write, counted in the progress line."""

_WIDTH = 220


@dataclass(frozen=True)
class Progress:
    """One look at the RDI database.

    ``phase`` is ``starting`` (nothing staged yet), ``snapshot`` or ``streaming`` (the snapshot is complete);
    ``snapshot`` maps a table to the collector's ``rows/estimate``; ``staged`` counts entries ever added to
    the source's staging streams; ``processed`` those the processor acknowledged; ``rejected`` the DLQ
    entries; ``targets`` the number of keys per pattern of :data:`TARGET_PATTERNS`."""

    phase: str
    snapshot: Mapping[str, str]
    staged: int
    processed: int
    rejected: int
    targets: Mapping[str, int]

    @property
    def snapshot_rows(self) -> int:
        return sum(int(v.split("/")[0]) for v in self.snapshot.values())


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def read_progress(client: redis.Redis, source: str, group: str) -> Progress:
    """Reads the progress of ``source``'s collector and of the processor reading with consumer ``group``."""
    status = {_text(k): _text(v) for k, v in client.hgetall(keys.collector_status(source)).items()}
    state = client.hget(keys.collector_snapshot(source), SNAPSHOT_STATE)
    snapshot_phase = orjson.loads(state).get("phase") if state else None
    snapshot = {
        k.removeprefix("snapshot:").removeprefix("public."): v for k, v in status.items() if k.startswith("snapshot:")
    }
    staged = processed = rejected = 0
    for raw in client.scan_iter(match=keys.staging_stream(source, "*", "*"), count=1000, _type="STREAM"):
        stream = _text(raw)
        info = client.xinfo_stream(stream)
        staged += int(info.get("entries-added") or info.get("length") or 0)
        for entry in client.xinfo_groups(stream):
            if _text(entry.get("name")) == group:
                processed += max(int(entry.get("entries-read") or 0) - int(entry.get("pending") or 0), 0)
        rejected += int(client.xlen(keys.dlq_stream(stream)))
    targets = {p: sum(1 for _ in client.scan_iter(match=p, count=1000)) for p in TARGET_PATTERNS}
    if snapshot_phase == "complete" or status.get("phase") == "streaming":
        phase = "streaming"
    else:
        phase = "snapshot" if snapshot else "starting"
    return Progress(phase, snapshot, staged, processed, rejected, targets)


def render_progress(progress: Progress, changes: Mapping[str, int], elapsed_s: float) -> str:
    """One line, e.g. ``[   12s] streaming | staged 2,410 (snapshot 2,250) | processed 2,400 | changes 80 inserts,
    60 updates, 20 deletes | keys 200 customer:*, …``; while the snapshot runs, each table's ``rows/estimate``."""
    if progress.phase == "streaming":
        head = f"streaming | staged {progress.staged:,} (snapshot {progress.snapshot_rows:,})"
    else:
        tables = ", ".join(f"{t} {v}" for t, v in sorted(progress.snapshot.items()))
        head = f"{progress.phase} {tables} | staged {progress.staged:,}".replace("  ", " ")
    parts = [
        f"[{elapsed_s:5.0f}s] {head}",
        f"processed {progress.processed:,}" + (f" (rejected {progress.rejected:,})" if progress.rejected else ""),
        "changes " + ", ".join(f"{changes.get(k, 0):,} {k}s" for k in ("insert", "update", "delete")),
        "keys " + ", ".join(f"{progress.targets[p]:,} {p}" for p in TARGET_PATTERNS),
    ]
    return " | ".join(parts)


def _short(value: str) -> str:
    return value if len(value) <= _WIDTH else value[: _WIDTH - 1] + "…"


def sample_keys(client: redis.Redis) -> list[str]:
    """A few keys the jobs wrote, one line each (``HGETALL``, ``JSON.GET``, ``ZREVRANGE``, ``XREVRANGE``);
    keys not written yet are left out."""
    lines: list[str] = []
    customer = client.hgetall("customer:1")
    if customer:
        fields = {_text(k): _text(v) for k, v in customer.items()}
        lines.append(_short(f"HGETALL customer:1 → {fields}"))
    for key in ("product:1", *_top_order(client)):
        document = client.execute_command("JSON.GET", key)  # type: ignore[no-untyped-call]
        if document is not None:
            lines.append(_short(f"JSON.GET {key} → {orjson.loads(document)}"))
    top: Any = client.zrevrange("orders:by_total", 0, 2, withscores=True)
    if top:
        ranked = ", ".join(f"{_text(m)} ({s:g})" for m, s in top)
        lines.append(_short(f"ZREVRANGE orders:by_total 0 2 → {ranked}"))
    last: Any = client.xrevrange("products:changes", count=1)
    if last:
        entry_id, fields = last[0]
        length = client.xlen("products:changes")
        message = {_text(k): _text(v) for k, v in fields.items()}
        lines.append(_short(f"XREVRANGE products:changes (1 of {length:,}) → {_text(entry_id)} {message}"))
    return lines


def _top_order(client: redis.Redis) -> list[str]:
    top = client.zrevrange("orders:by_total", 0, 0)
    return [f"order:{_text(top[0])}"] if top else []
