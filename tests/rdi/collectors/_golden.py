"""Golden-format comparison: the same rows captured by rdi's native collector and by the real Debezium Server.

Both run as ``rdi collector`` processes of one pipeline (sources ``nat`` with `collector: native` and ``dbz`` with
`collector: debezium`, each with its own slot/publication or server id), write to their own streams
``data:nat.<ns>.<table>`` and ``data:dbz.<ns>.<table>`` in the test Redis, and are stopped by PID.
:func:`differences` lists, entry by entry, where the two disagree on the key or on the value's ``before``,
``after`` and ``op`` (``source`` positions and timestamps, and ``ts_ms``/``ts_us``/``ts_ns``, are left out).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import redis

REPO = Path(__file__).resolve().parents[3]


@contextmanager
def collectors(folder: Path, redis_url: str, password: str, *sources: str) -> Iterator[dict[str, Path]]:
    """Runs ``rdi collector --source <s>`` for each source; yields source → log file; stops each by PID."""
    env = {**os.environ, "SOURCE_DB_PASSWORD": password, "RDI_DB_URL": redis_url, "PYTHONUNBUFFERED": "1"}
    processes: list[subprocess.Popen[bytes]] = []
    logs = {s: folder / f"{s}.log" for s in sources}
    try:
        for source in sources:
            command = [sys.executable, "-m", "rdi", "collector", "--dir", str(folder), "--source", source]
            with logs[source].open("ab") as out:
                processes.append(subprocess.Popen(command, env=env, stdout=out, stderr=out, cwd=REPO))
        yield logs
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def entries(db: redis.Redis, stream: str) -> list[dict[str, Any]]:
    """The stream's entries as ``{"key": <JSON or None>, "value": <JSON>}``."""
    out = []
    for _id, fields in db.xrange(stream):
        key = fields[b"key"]
        out.append({"key": None if key == b"default" else orjson.loads(key), "value": orjson.loads(fields[b"value"])})
    return out


def differences(native: list[dict[str, Any]], debezium: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """``(entry index, op, part, column, native value, Debezium value)`` for every disagreement, in order;
    ``part`` is ``key``, ``before``, ``after``, ``op`` or ``count``."""
    out: list[tuple[Any, ...]] = []
    if len(native) != len(debezium):
        out.append((None, None, "count", None, len(native), len(debezium)))
    for i, (n, d) in enumerate(zip(native, debezium, strict=False)):
        nv, dv = n["value"], d["value"]
        op = nv.get("op")
        if nv.get("op") != dv.get("op"):
            out.append((i, op, "op", None, nv.get("op"), dv.get("op")))
        if n["key"] != d["key"]:
            out.append((i, op, "key", None, n["key"], d["key"]))
        for part in ("before", "after"):
            a, b = nv.get(part), dv.get(part)
            if a is None or b is None:
                if a != b:
                    out.append((i, op, part, None, a, b))
                continue
            for column in sorted(a.keys() | b.keys()):
                if a.get(column, "<absent>") != b.get(column, "<absent>"):
                    out.append((i, op, part, column, a.get(column, "<absent>"), b.get(column, "<absent>")))
    return out
