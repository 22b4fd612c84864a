"""Shared pieces of the PostgreSQL collector's integration tests: a pipeline folder, the staged events, a running
collector."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import orjson
import psycopg
import redis

from rdi import keys
from rdi.collectors.postgres import PostgresCollector
from rdi.collectors.settings import PgCollectorSettings
from rdi.config import load_pipeline


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


class Running:
    """A collector running in a thread over a fresh schema; SQL runs through ``sql``."""

    def __init__(
        self, tmp: Path, pg_dsn: str, redis_url: str, name: str, setup: str, tables: str = "", **options: object
    ) -> None:
        self.pg_dsn, self.name, self.schema = pg_dsn, name, name
        drop_slot_and_publication(pg_dsn, name, name)
        self.sql(f"CREATE SCHEMA {name}; " + setup.format(s=name))
        write_pipeline(tmp, pg_dsn, name=name, schema=name, options=options, tables=tables)
        pipeline = load_pipeline(tmp, env={"SOURCE_DB_PASSWORD": "postgres"})
        self.settings = PgCollectorSettings.from_source("pg", pipeline.config.sources["pg"])
        self.rdi = redis.Redis.from_url(redis_url)
        self.rdi.flushdb()
        self.stop = threading.Event()
        collector = PostgresCollector(self.settings, self.rdi, stop=self.stop)
        self.thread = threading.Thread(target=collector.run, daemon=True)

    def sql(self, text: str) -> None:
        with psycopg.connect(self.pg_dsn, autocommit=True) as conn:
            conn.execute(text.format(s=self.schema))  # type: ignore[arg-type]

    def events(self, table: str, partition: int | None = None) -> list[dict[str, Any]]:
        return staged(self.rdi, keys.staging_stream("pg", self.schema, table, partition))

    def wait_events(self, table: str, count: int) -> list[dict[str, Any]]:
        return wait_for(lambda: len(e := self.events(table)) >= count and e, 30, f"{count} events of {table}")

    def streaming(self) -> None:
        def complete() -> bool:
            return b"complete" in (self.rdi.hget(keys.collector_snapshot("pg"), "__state__") or b"")

        wait_for(complete, 30, "the snapshot")

    def __enter__(self) -> Running:
        self.thread.start()
        self.streaming()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        self.rdi.close()
        drop_slot_and_publication(self.pg_dsn, self.name, self.schema)
