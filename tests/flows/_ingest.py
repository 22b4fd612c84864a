"""Shared pieces of the end-to-end ingest tests: a PostgreSQL schema captured by the real collector, processed by
the real ``flows.ingest`` dataflow into the real Redis — processes started and stopped by PID."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias
from urllib.parse import urlparse

import orjson
import psycopg
import redis
from psycopg import sql

from rdi.collectors.pg_replication import drop_slot

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], Any], timeout: float, what: str, *, log: Path | None = None) -> Any:
    """Polls ``condition`` until it gives something truthy, which is returned; fails after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-4000:] if log is not None and log.exists() else ""
            raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{tail}")
        time.sleep(0.05)
    return result


def config_yaml(
    pg_dsn: str, redis_url: str, *, schema: str, name: str, processors: str = "", collector: str = "auto"
) -> str:
    """A pipeline capturing ``schema`` with the collector (slot/publication ``name``) into the test Redis,
    which is also the target. ``collector: debezium`` runs Debezium Server (its HTTP port: any free one)."""
    pg, rd = urlparse(pg_dsn), urlparse(redis_url)
    quarkus = "\n      quarkus: {http.port: 0}" if collector == "debezium" else ""
    return f"""
sources:
  pg:
    type: cdc
    collector: {collector}
    connection:
      type: postgresql
      host: {pg.hostname}
      port: {pg.port}
      database: {pg.path.lstrip("/")}
      user: {pg.username}
      password: ${{SOURCE_DB_PASSWORD}}
    schemas: [{schema}]
    advanced:
      source:
        slot.name: {name}
        publication.name: {name}
        publication.autocreate.mode: filtered{quarkus}
targets:
  target:
    connection: {{type: redis, host: {rd.hostname}, port: {rd.port}}}
processors:
  read_batch_timeout_ms: 20
{processors}"""


def stop_process(process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """SIGINT (a clean stop), then SIGKILL after ``timeout`` s; waits for the process either way."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class Roles:
    """The processes of a running pipeline by role (``collector``, ``processor``…), logging to ``folder/run.log``,
    stopped by PID. Users define ``folder``, ``processes`` and ``env()``."""

    folder: Path
    processes: dict[str, subprocess.Popen[bytes]]

    def env(self) -> dict[str, str]:
        raise NotImplementedError

    @property
    def log(self) -> Path:
        return self.folder / "run.log"

    def _start(self, role: str, command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as out:
            out.write(f"--- start {role}: {' '.join(command)}\n".encode())
            process = subprocess.Popen(command, env={**self.env(), **(env or {})}, stdout=out, stderr=out, cwd=REPO)
        self.processes[role] = process
        return process

    def kill(self, role: str) -> None:
        process = self.processes.pop(role)
        process.send_signal(signal.SIGKILL)
        process.wait()

    def stop(self, role: str) -> None:
        process = self.processes.pop(role, None)
        if process is not None:
            stop_process(process)

    def stop_all(self) -> None:
        for role in list(self.processes):
            self.stop(role)


@dataclass
class Ingest(Roles):
    """A running pipeline: collector + processor over one scratch schema."""

    pg_dsn: str
    redis_url: str
    folder: Path
    schema: str
    name: str
    db: redis.Redis
    conn: psycopg.Connection[tuple[Any, ...]]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    metrics_port: int = 0

    def sql(self, statement: str, params: Any = None) -> None:
        """Runs ``statement`` (``{s}`` = the schema) in its own transaction."""
        self.conn.execute(sql.SQL(statement).format(s=sql.Identifier(self.schema)), params)  # type: ignore[arg-type]

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "SOURCE_DB_PASSWORD": urlparse(self.pg_dsn).password or "",
            "RDI_DB_URL": self.redis_url,
            "RDI_PIPELINE_DIR": str(self.folder),
            "RDI_METRICS_PORT": "off",
            "PYTHONUNBUFFERED": "1",
        }

    def start_collector(self) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "rdi", "collector", "--dir", str(self.folder), "--source", "pg"]
        return self._start("collector", command)

    def start_processor(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "bytewax.run", "flows.ingest", *args]
        return self._start("processor", command, env)

    def drained(self) -> bool:
        """Every staging stream of the schema is fully read and acknowledged by the processor's group."""
        streams = [s.decode() for s in self.db.scan_iter(match=f"data:pg.{self.schema}.*", _type="stream")]
        return bool(streams) and group_drained(self.db, streams)

    def settle(self, timeout: float = 60) -> None:
        """Waits until the collector has staged every committed change and the processor has acknowledged it."""
        marker = uuid.uuid4().hex
        self.sql("INSERT INTO {s}.rdi_marker (token) VALUES (%s)", [marker])
        key = f"rdi_marker:token:{marker}"
        wait_for(lambda: self.db.exists(key) and self.drained(), timeout, "the pipeline to settle", log=self.log)


@contextmanager
def running_ingest(
    pg_dsn: str,
    redis_url: str,
    folder: Path,
    *,
    jobs: dict[str, str],
    processors: str = "",
    start: bool = True,
    collector: str = "auto",
) -> Iterator[Ingest]:
    """Creates a scratch schema (``rdi_marker`` table included), writes the pipeline, runs collector and processor;
    stops both and drops everything on exit. The Redis database is flushed first: the processor reads every
    ``data:*`` stream there. ``collector``: the source's `collector` setting (``debezium``: Debezium Server)."""
    ident = uuid.uuid4().hex[:10]
    schema, name = f"e2e_{ident}", f"e2e_{ident}"
    db = redis.Redis.from_url(redis_url)
    db.flushdb()
    (folder / "jobs").mkdir(parents=True, exist_ok=True)
    text = config_yaml(pg_dsn, redis_url, schema=schema, name=name, processors=processors, collector=collector)
    (folder / "config.yaml").write_text(text)
    for job, text in jobs.items():
        (folder / "jobs" / f"{job}.yaml").write_text(text.replace("{schema}", schema))
    conn = psycopg.connect(pg_dsn, autocommit=True)
    ingest = Ingest(pg_dsn, redis_url, folder, schema, name, db, conn)
    try:
        ingest.sql("CREATE SCHEMA {s}")
        ingest.sql("CREATE TABLE {s}.rdi_marker (token text PRIMARY KEY)")
        if start:
            ingest.start_collector()
            ingest.start_processor()
        yield ingest
    finally:
        ingest.stop_all()
        for (slot,) in conn.execute(
            "SELECT slot_name FROM pg_replication_slots WHERE slot_name = %s", [name]
        ).fetchall():
            drop_slot(conn, str(slot), terminate_active=True)
        conn.execute(sql.SQL("DROP PUBLICATION IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        conn.close()
        db.flushdb()
        db.close()


def stage_rows(db: redis.Redis, table: str, ids: range, *, server: str = "syn", note: str = "x") -> str:
    """XADDs Debezium ``c`` events of rows ``{"id": i, "note": note}`` to ``data:<server>.s.<table>``; returns it."""
    stream = f"data:{server}.s.{table}"
    pipe = db.pipeline(transaction=False)
    for i in ids:
        value = {
            "before": None, "after": {"id": i, "note": note}, "op": "c", "ts_ms": 1,
            "source": {"connector": "postgresql", "name": server, "db": "d", "schema": "s", "table": table},
        }  # fmt: skip
        pipe.xadd(stream, {"key": orjson.dumps({"id": i}), "value": orjson.dumps(value)})
    pipe.execute()
    return stream


def target_only_pipeline(folder: Path, redis_url: str, processors: str = "") -> None:
    """A pipeline folder with no source and no job: staging streams written by the test, default mapping."""
    url = urlparse(redis_url)
    (folder / "config.yaml").write_text(
        f"targets:\n  target: {{connection: {{type: redis, host: {url.hostname}, port: {url.port}}}}}\n{processors}"
    )


def group_drained(db: redis.Redis, streams: list[str], group: str = "rdi:processor:default") -> bool:
    for stream in streams:
        groups = {g["name"].decode(): g for g in db.xinfo_groups(stream)}
        info = groups.get(group)
        if info is None or info["pending"] or info["lag"]:
            return False
    return True


Change: TypeAlias = Callable[[psycopg.Connection[Any], random.Random], None]
"""One source change (or a few), run by :class:`Load` inside its own transaction."""


class Load:
    """Runs ``change`` against the source in a thread, one transaction at a time, until the ``with`` block ends;
    ``ops`` counts the committed transactions; an error in the thread is raised when the block ends."""

    def __init__(self, run: Ingest, change: Change, *, seed: int = 0, pause_s: float = 0.003) -> None:
        self.run, self.change, self.pause_s = run, change, pause_s
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.error: BaseException | None = None
        self.ops = 0

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        if self.error is not None:
            raise self.error

    def _loop(self) -> None:
        try:
            with psycopg.connect(self.run.pg_dsn, autocommit=True) as conn:
                while not self.stop.is_set():
                    with conn.transaction():
                        self.change(conn, self.rng)
                    self.ops += 1
                    time.sleep(self.pause_s)
        except BaseException as exc:  # surfaced by __exit__
            self.error = exc


def inserts(schema: str, table: str) -> Change:
    """Rows ``(id, 'n<id>')`` with ids 1, 2, 3… into ``<schema>.<table>``, one per call."""
    next_id = iter(range(1, 1 << 62))

    def change(conn: psycopg.Connection[Any], rng: random.Random) -> None:
        row = next(next_id)
        conn.execute(f'INSERT INTO "{schema}".{table} VALUES (%s, %s)', [row, f"n{row}"])

    return change


def mixed_changes(schema: str, tables: tuple[str, ...], max_rows: int = 10) -> Change:
    """1..``max_rows`` random inserts, updates (``version + 1``) and deletes on one of ``tables``
    (``id int primary key, version int, note text``, seeded with ids up to 1000)."""
    next_id = dict.fromkeys(tables, 1000)

    def change(conn: psycopg.Connection[Any], rng: random.Random) -> None:
        table = rng.choice(tables)
        name = f'"{schema}".{table}'
        kind = rng.random()
        for _ in range(rng.randint(1, max_rows)):
            if kind < 0.45:
                next_id[table] += 1
                conn.execute(
                    f'INSERT INTO "{schema}".{table} VALUES (%s, 0, %s)', [next_id[table], f"n{next_id[table]}"]
                )
            elif kind < 0.85:
                note, row = f"v{rng.random():.6f}", rng.randint(1, next_id[table])
                conn.execute(
                    f'UPDATE "{schema}".{table} SET version = version + 1, note = %s WHERE id = %s', [note, row]
                )
            else:
                conn.execute(f"DELETE FROM {name} WHERE id = %s", [rng.randint(1, next_id[table])])

    return change


def source_rows(run: Ingest, tables: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """The rows of ``tables`` (``id, version, note``) as the default mapping's hashes would hold them."""
    state = {}
    for table in tables:
        for row_id, version, note in run.conn.execute(f'SELECT id, version, note FROM "{run.schema}".{table}'):
            state[f"{table}:id:{row_id}"] = {"id": str(row_id), "version": str(version), "note": note}
    return state


def target_rows(run: Ingest, tables: tuple[str, ...]) -> dict[str, dict[str, str]]:
    state = {}
    for table in tables:
        for key in run.db.scan_iter(match=f"{table}:id:*", count=1000):
            state[key.decode()] = {k.decode(): v.decode() for k, v in run.db.hgetall(key).items()}
    return state


def same_rows(expected: dict[str, Any], actual: dict[str, Any]) -> tuple[Any, ...]:
    """(count, missing, extra, wrong) — equal to ``(len(expected), [], [], [])`` when the target matches."""
    missing = sorted(set(expected) - set(actual))[:5]
    extra = sorted(set(actual) - set(expected))[:5]
    wrong = [(k, expected[k], actual[k]) for k in expected if k in actual and actual[k] != expected[k]][:2]
    return len(actual), missing, extra, wrong
