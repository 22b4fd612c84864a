"""The PostgreSQL collector end to end: real PostgreSQL, real Redis, the real collector."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from rdi.collectors.postgres import PostgresCollector
from rdi.collectors.settings import PgCollectorSettings
from rdi.config import load_pipeline

from ._pg_pipeline import drop_slot_and_publication, replay, staged, wait_for, write_pipeline

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

SCHEMA_SQL = """
CREATE SCHEMA {s};
CREATE TABLE {s}.orders (id int PRIMARY KEY, v bigint NOT NULL, note text);
INSERT INTO {s}.orders SELECT i, 0, repeat('x', 50) FROM generate_series(1, {n}) AS i;
ANALYZE {s}.orders;
"""


@pytest.fixture
def rdi_db(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


def table_state(pg_dsn: str, schema: str) -> dict[int, dict[str, object]]:
    with psycopg.connect(pg_dsn) as conn:
        rows = conn.execute(f"SELECT id, v, note FROM {schema}.orders").fetchall()
    return {r[0]: {"id": r[0], "v": r[1], "note": r[2]} for r in rows}


class Load:
    """One writer: transactions that update a row to a fresh counter value, insert rows and delete rows."""

    def __init__(self, pg_dsn: str, schema: str, first_new_id: int, rows: int) -> None:
        self.dsn, self.schema, self.next_id, self.rows = pg_dsn, schema, first_new_id, rows
        self.counters: list[int] = []  # committed counter values, in commit order
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.rng = random.Random(7)

    def _run(self) -> None:
        counter = 0
        with psycopg.connect(self.dsn, autocommit=False) as conn:
            while not self.stop.is_set():
                written = []
                for _ in range(self.rng.randint(1, 5)):
                    counter += 1
                    action = self.rng.random()
                    if action < 0.7:
                        cur = conn.execute(f"UPDATE {self.schema}.orders SET v = %s WHERE id = %s",
                                           [counter, self.rng.randint(1, self.rows)])  # fmt: skip
                        if cur.rowcount == 1:
                            written.append(counter)
                    elif action < 0.9:
                        self.next_id += 1
                        conn.execute(
                            f"INSERT INTO {self.schema}.orders VALUES (%s, %s, 'new')", [self.next_id, counter]
                        )
                        written.append(counter)
                    else:
                        conn.execute(
                            f"DELETE FROM {self.schema}.orders WHERE id = %s", [self.rng.randint(1, self.rows)]
                        )
                conn.commit()
                # An UPDATE of a deleted row changes nothing: only counters PostgreSQL actually wrote count.
                self.counters.extend(written)
                time.sleep(0.002)

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join()


def slot_exists(pg_dsn: str, name: str) -> bool:
    with psycopg.connect(pg_dsn) as conn:
        return conn.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", [name]).fetchone() is not None


def streamed_counters(events: list[dict[str, object]]) -> list[int]:
    return [e["value"]["after"]["v"] for e in events if e["value"]["op"] in ("c", "u")]  # type: ignore[index]


def test_snapshot_then_stream_stages_every_change_once_in_commit_order(
    tmp_path: Path, pg_dsn: str, rdi_db: redis.Redis, redis_url: str
) -> None:
    schema = name = "rdi_c1"
    drop_slot_and_publication(pg_dsn, name, schema)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(SCHEMA_SQL.format(s=schema, n=20_000))
    write_pipeline(tmp_path, pg_dsn, name=name, schema=schema, chunk=500)
    pipeline = load_pipeline(tmp_path, env={"SOURCE_DB_PASSWORD": "postgres"})
    settings = PgCollectorSettings.from_source("pg", pipeline.config.sources["pg"])
    stop = threading.Event()
    collector = PostgresCollector(settings, redis.Redis.from_url(redis_url), stop=stop)
    runner = threading.Thread(target=collector.run, daemon=True)
    stream = f"data:pg.{schema}.orders"
    try:
        runner.start()
        wait_for(lambda: rdi_db.exists(stream) == 1, 30, "the snapshot to start")
        with Load(pg_dsn, schema, first_new_id=100_000, rows=20_000) as load:  # writes during the snapshot
            time.sleep(2)
        final = table_state(pg_dsn, schema)
        wait_for(lambda: replay(staged(rdi_db, stream)) == final, 60, "staging to reach the table's state")
        events = staged(rdi_db, stream)
        snapshot_keys = [e["key"]["id"] for e in events if e["value"]["op"] == "r"]
        assert (
            len(snapshot_keys) == len(set(snapshot_keys)) == 20_000,
            streamed_counters(events) == load.counters,
            len(load.counters) > 50,
        ) == (True, True, True)
    finally:
        stop.set()
        runner.join(timeout=30)
        drop_slot_and_publication(pg_dsn, name, schema)


@pytest.mark.slow
def test_sigkill_at_random_points_loses_and_duplicates_nothing(
    tmp_path: Path, pg_dsn: str, rdi_db: redis.Redis, redis_url: str
) -> None:
    schema = name = "rdi_c2"
    drop_slot_and_publication(pg_dsn, name, schema)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(SCHEMA_SQL.format(s=schema, n=100_000))
    write_pipeline(tmp_path, pg_dsn, name=name, schema=schema, chunk=200)
    command = [
        sys.executable,
        "-m",
        "rdi",
        "--rdi-url",
        redis_url,
        "collector",
        "--dir",
        str(tmp_path),
        "--source",
        "pg",
    ]
    env = {**os.environ, "SOURCE_DB_PASSWORD": "postgres"}
    rng = random.Random(20261128)
    stream = f"data:pg.{schema}.orders"
    kills = 0
    process: subprocess.Popen[bytes] | None = None
    log = tmp_path / "collector.log"
    load = Load(pg_dsn, schema, first_new_id=1_000_000, rows=100_000)
    try:
        with log.open("ab") as out:
            while kills < 22:
                process = subprocess.Popen(command, env=env, stdout=out, stderr=out)
                if kills == 0:  # the load starts once the slot exists: every counter it commits must be streamed
                    wait_for(lambda: slot_exists(pg_dsn, name), 30, "the replication slot")
                    load.__enter__()
                time.sleep(rng.uniform(0.3, 3.0))  # startup takes ~1 s: kills land in snapshot and in streaming
                process.send_signal(signal.SIGKILL)
                process.wait()
                kills += 1
        load.__exit__()
        final = table_state(pg_dsn, schema)
        with log.open("ab") as out:
            process = subprocess.Popen(command, env=env, stdout=out, stderr=out)
            wait_for(lambda: replay(staged(rdi_db, stream)) == final, 120, "staging to reach the table's state")
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
        events = staged(rdi_db, stream)
        snapshot_keys = [e["key"]["id"] for e in events if e["value"]["op"] == "r"]
        assert (
            len(snapshot_keys) == len(set(snapshot_keys)),
            set(range(1, 100_001)) <= set(snapshot_keys) | {e["key"]["id"] for e in events},
            streamed_counters(events) == load.counters,
            "resuming the interrupted snapshot" in log.read_text(),  # some kills did land inside the snapshot
        ) == (True, True, True, True), log.read_text()[-3000:]
    finally:
        load.__exit__()
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        drop_slot_and_publication(pg_dsn, name, schema)
