"""Shared pieces of the PostgreSQL collector's integration tests: a pipeline folder, the staged events."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import orjson
import psycopg
import redis


def write_pipeline(
    folder: Path,
    pg_dsn: str,
    *,
    name: str,
    schema: str,
    chunk: int = 10_000,
    options: Mapping[str, object] = {},
    tables: str = "",
) -> None:
    """A pipeline whose source `pg` captures ``schema`` with slot and publication named ``name``; ``options`` are
    more `advanced.source` properties."""
    url = urlparse(pg_dsn)
    extra = "".join(f"        {k}: {v}\n" for k, v in options.items())
    (folder / "jobs").mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(f"""
sources:
  pg:
    type: cdc
    connection:
      type: postgresql
      host: {url.hostname}
      port: {url.port}
      database: {url.path.lstrip("/")}
      user: {url.username}
      password: ${{SOURCE_DB_PASSWORD}}
    schemas: [{schema}]
{tables}    advanced:
      source:
        slot.name: {name}
        publication.name: {name}
        publication.autocreate.mode: filtered
        rdi.snapshot.chunk.size: {chunk}
{extra}targets:
  target:
    connection: {{type: redis, host: 127.0.0.1, port: 6379}}
""")


def drop_slot_and_publication(pg_dsn: str, name: str, schema: str) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        for _ in range(50):
            row = conn.execute("SELECT active_pid FROM pg_replication_slots WHERE slot_name = %s", [name]).fetchone()
            if row is None:
                break
            if row[0] is not None:
                conn.execute("SELECT pg_terminate_backend(%s)", [row[0]])
                continue
            conn.execute("SELECT pg_drop_replication_slot(%s)", [name])
        conn.execute(f'DROP PUBLICATION IF EXISTS "{name}"')
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def staged(client: redis.Redis, stream: str) -> list[dict[str, Any]]:
    """Every event of ``stream`` in stream order, as ``{"key": ..., "value": ...}`` parsed from JSON."""
    out = []
    for _id, fields in client.xrange(stream, "-", "+"):
        key = fields[b"key"]
        out.append({"key": None if key == b"default" else orjson.loads(key), "value": orjson.loads(fields[b"value"])})
    return out


def replay(events: list[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    """The table state the events describe: r/c/u set the row, d removes it (keyed by the `id` column)."""
    state: dict[Any, dict[str, Any]] = {}
    for e in events:
        v = e["value"]
        if v["op"] == "d":
            state.pop(v["before"]["id"], None)
        elif v["op"] in ("r", "c", "u"):
            state[v["after"]["id"]] = v["after"]
    return state


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Polls ``condition`` until it gives something truthy, which is returned; fails after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
    return result
