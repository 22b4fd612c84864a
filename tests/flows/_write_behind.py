"""Shared pieces of the end-to-end write-behind tests: an application Redis (its own ``redis-server`` process with
RedisJSON) captured by the real ``rdi collector``, processed by the real ``flows.write_behind`` dataflow into real
PostgreSQL, MariaDB and SQLite tables — every process started and stopped by PID."""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psycopg
import pymysql
import redis

from tests.flows._ingest import Roles, group_drained, wait_for
from tests.rdi.collectors._redis_capture import AppRedis

KEY_PATTERNS = {"customers": "cust:*", "docs": "doc:*", "tags": "tag:*", "ranks": "rank:*"}
"""Table → the key pattern whose keys its rows come from."""

TABLES_SQL = {
    "customers": "rkey VARCHAR(100) PRIMARY KEY, name VARCHAR(100), city VARCHAR(100), visits INTEGER",
    "docs": "rkey VARCHAR(100) PRIMARY KEY, title VARCHAR(100), qty INTEGER",
    "tags": "rkey VARCHAR(100) NOT NULL, member VARCHAR(100) NOT NULL, PRIMARY KEY (rkey, member)",
    "ranks": "rkey VARCHAR(100) NOT NULL, member VARCHAR(100) NOT NULL, score DOUBLE PRECISION, "
    "PRIMARY KEY (rkey, member)",
}


@dataclass
class SqlTargets:
    """The three SQL targets of a test: a scratch PostgreSQL schema, a scratch MariaDB database, a SQLite file."""

    pg_dsn: str
    mysql_url: str
    sqlite_path: Path
    schema: str

    def config(self) -> str:
        pg, my = urlparse(self.pg_dsn), urlparse(self.mysql_url)
        return f"""
  pg:
    connection: {{type: postgresql, host: {pg.hostname}, port: {pg.port}, database: {pg.path.lstrip("/")},
                 user: {pg.username}, password: "${{PG_PASSWORD}}"}}
  maria:
    connection: {{type: mariadb, host: {my.hostname}, port: {my.port}, database: {self.schema},
                 user: {my.username}, password: "${{MARIA_PASSWORD}}"}}
  lite:
    connection: {{type: sqlite, database: {self.sqlite_path}}}
"""

    def env(self) -> dict[str, str]:
        return {
            "PG_PASSWORD": urlparse(self.pg_dsn).password or "",
            "MARIA_PASSWORD": urlparse(self.mysql_url).password or "",
        }

    def outputs(self, table: str, settings: str) -> str:
        """The three `relational.write` outputs of ``table`` (same table in every target), each with the extra
        `with` ``settings`` (YAML lines)."""
        schemas = {"pg": self.schema, "maria": self.schema, "lite": '""'}
        extra = "".join(f"      {line}\n" for line in settings.splitlines())
        return "".join(
            f"  - uses: relational.write\n    with:\n      connection: {target}\n      schema: {schema}\n"
            f"      table: {table}\n{extra}"
            for target, schema in schemas.items()
        )

    def create(self, tables: dict[str, str]) -> None:
        with psycopg.connect(self.pg_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{self.schema}"')
            for table, columns in tables.items():
                conn.execute(f'CREATE TABLE "{self.schema}"."{table}" ({columns})')
        with self._maria() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{self.schema}`")
            for table, columns in tables.items():
                cur.execute(f"CREATE TABLE `{self.schema}`.`{table}` ({columns.replace('DOUBLE PRECISION', 'DOUBLE')})")
        with sqlite3.connect(self.sqlite_path) as lite:
            lite.execute("PRAGMA journal_mode=WAL")
            for table, columns in tables.items():
                lite.execute(f'CREATE TABLE "{table}" ({columns})')

    def drop(self) -> None:
        with psycopg.connect(self.pg_dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
        with self._maria() as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{self.schema}`")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.sqlite_path}{suffix}").unlink(missing_ok=True)

    def _maria(self) -> pymysql.Connection[Any]:
        my = urlparse(self.mysql_url)
        return pymysql.connect(host=my.hostname, port=my.port or 3306, user=my.username, password=my.password or "",
                               autocommit=True)  # fmt: skip

    def rows(self, target: str, table: str, columns: tuple[str, ...]) -> set[tuple[Any, ...]]:
        """Every row of ``table`` in ``target`` (``pg``, ``maria``, ``lite``), values as text."""
        listed = ", ".join(columns)
        if target == "pg":
            with psycopg.connect(self.pg_dsn) as conn:
                fetched = conn.execute(f'SELECT {listed} FROM "{self.schema}"."{table}"').fetchall()
        elif target == "maria":
            with self._maria() as conn, conn.cursor() as cur:
                cur.execute(f"SELECT {listed} FROM `{self.schema}`.`{table}`")
                fetched = list(cur.fetchall())
        else:
            with sqlite3.connect(self.sqlite_path) as lite:
                fetched = lite.execute(f'SELECT {listed} FROM "{table}"').fetchall()
        return {tuple(_text(v) for v in row) for row in fetched}


def _text(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float):
        return repr(float(value))
    return str(value)


@dataclass
class WriteBehind(Roles):
    """A running write-behind pipeline: the capture (`rdi collector`) and the processor (`flows.write_behind`)."""

    folder: Path
    rdi_url: str
    app: AppRedis
    targets: SqlTargets
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            **self.targets.env(),
            "RDI_DB_URL": self.rdi_url,
            "RDI_PIPELINE_DIR": str(self.folder),
            "RDI_METRICS_PORT": "off",
            "PYTHONUNBUFFERED": "1",
        }

    def start_capture(self) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "rdi", "collector", "--dir", str(self.folder), "--source", "app"]
        return self._start("capture", command)

    def start_processor(self, *args: str) -> subprocess.Popen[bytes]:
        return self._start("processor", [sys.executable, "-m", "bytewax.run", "flows.write_behind", *args])

    def drained(self) -> bool:
        rdi = redis.Redis.from_url(self.rdi_url)
        try:
            streams = [s.decode() for s in rdi.scan_iter(match="wb:*", _type="stream")]
            return bool(streams) and group_drained(rdi, streams)
        finally:
            rdi.close()

    def settle(self, timeout: float = 90) -> None:
        """Waits until a marker key written now is a row in every target and every stream is acknowledged."""
        marker = f"cust:marker-{uuid.uuid4().hex[:8]}"
        self.app.decoded().hset(marker, mapping={"name": "marker"})

        def arrived() -> bool:
            return (
                all((marker,) in self.targets.rows(t, "customers", ("rkey",)) for t in ("pg", "maria", "lite"))
                and self.drained()
            )

        wait_for(arrived, timeout, "the write-behind pipeline to settle", log=self.log)
        self.app.decoded().delete(marker)
        wait_for(
            lambda: (
                all((marker,) not in self.targets.rows(t, "customers", ("rkey",)) for t in ("pg", "maria", "lite"))
                and self.drained()
            ),
            timeout,
            "the marker's delete to reach the targets",
            log=self.log,
        )


def persist_all(app: redis.Redis) -> int:
    """Removes every tracked key's TTL (how many had one): a key expiring while the targets are compared with
    Redis would delete its rows from the targets checked last but not from those checked first."""
    return sum(bool(app.persist(key)) for pattern in KEY_PATTERNS.values() for key in app.scan_iter(match=pattern))


def expected_rows(app: redis.Redis) -> dict[str, set[tuple[Any, ...]]]:
    """The rows every target table must hold, read from the application Redis's keys."""
    rows: dict[str, set[tuple[Any, ...]]] = {t: set() for t in KEY_PATTERNS}
    for key in app.scan_iter(match="cust:*", _type="hash"):
        h = app.hgetall(key)
        rows["customers"].add((key, h.get("name"), h.get("city"), h.get("visits")))
    for key in app.scan_iter(match="doc:*", _type="ReJSON-RL"):
        doc = app.json().get(key)
        title, qty = doc.get("title"), doc.get("qty")
        rows["docs"].add((key, title, None if qty is None else str(qty)))
    for key in app.scan_iter(match="tag:*", _type="set"):
        rows["tags"].update((key, m) for m in app.smembers(key))
    for key in app.scan_iter(match="rank:*", _type="zset"):
        rows["ranks"].update((key, m, repr(float(s))) for m, s in app.zrange(key, 0, -1, withscores=True))
    return rows


COLUMNS = {
    "customers": ("rkey", "name", "city", "visits"),
    "docs": ("rkey", "title", "qty"),
    "tags": ("rkey", "member"),
    "ranks": ("rkey", "member", "score"),
}


def random_change(app: redis.Redis, rng: random.Random, ids: int = 12) -> None:
    """One random write on tracked and untracked keys: every command family the capture must follow."""
    n = rng.randrange(ids)
    choice = rng.randrange(16)
    if choice == 0:
        app.hset(f"cust:{n}", mapping={"name": f"n{rng.randrange(100)}", "city": rng.choice(["Oslo", "Rome"]),
                                       "visits": str(rng.randrange(1000))})  # fmt: skip
    elif choice == 1:
        app.hset(f"cust:{n}", "city", rng.choice(["Lima", "Pune", "Kyiv"]))
    elif choice == 2:
        app.hdel(f"cust:{n}", rng.choice(["city", "visits"]))
    elif choice == 3:
        app.json().set(f"doc:{n}", "$", {"title": f"t{rng.randrange(100)}", "qty": rng.randrange(50)})
    elif choice == 4:
        if app.exists(f"doc:{n}"):
            app.json().delete(f"doc:{n}", "$.qty")
    elif choice == 5:
        app.sadd(f"tag:{n}", *(f"m{rng.randrange(8)}" for _ in range(rng.randrange(1, 4))))
    elif choice == 6:
        app.srem(f"tag:{n}", f"m{rng.randrange(8)}")
    elif choice == 7:
        app.zadd(f"rank:{n}", {f"p{rng.randrange(6)}": rng.randrange(1000) / 4})
    elif choice == 8:
        app.zrem(f"rank:{n}", f"p{rng.randrange(6)}")
    elif choice == 9:
        app.delete(f"{rng.choice(['cust', 'doc', 'tag', 'rank'])}:{n}")
    elif choice == 10:
        kind = rng.choice(["cust", "tag", "rank"])
        if app.exists(f"{kind}:{n}"):
            app.rename(f"{kind}:{n}", f"{kind}:{rng.randrange(ids)}")
    elif choice == 11:
        if app.exists(f"cust:{n}"):
            app.rename(f"cust:{n}", f"other:{n}")  # leaves the pattern: a delete
    elif choice == 12:
        app.hset(f"other:{n}", "name", "untracked")
        if rng.random() < 0.3 and app.exists(f"other:{n}"):
            app.rename(f"other:{n}", f"cust:{n}")  # enters the pattern: an upsert
    elif choice == 13:
        app.expire(f"{rng.choice(['cust', 'doc', 'tag', 'rank'])}:{n}", rng.choice([1, 2, 30]))
    elif choice == 14:
        with app.pipeline(transaction=True) as pipe:
            pipe.hset(f"cust:{n}", "name", "tx")
            pipe.sadd(f"tag:{n}", "tx")
            pipe.zadd(f"rank:{n}", {"tx": 1.5})
            pipe.execute()
    else:
        app.eval("redis.call('HSET', KEYS[1], 'visits', ARGV[1]); return 1", 1, f"cust:{n}", str(rng.randrange(9)))


class AppLoad:
    """Random writes to the application Redis on a background thread until the block ends."""

    def __init__(self, app: AppRedis, change: Callable[[redis.Redis, random.Random], None], *, seed: int = 0,
                 pause_s: float = 0.002) -> None:  # fmt: skip
        self._client = app.decoded()
        self._change = change
        self._rng = random.Random(seed)
        self._pause_s = pause_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.count = 0

    def __enter__(self) -> AppLoad:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._client.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._change(self._client, self._rng)
            self.count += 1
            time.sleep(self._pause_s)
