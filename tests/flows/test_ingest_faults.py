"""The processor killed with SIGKILL at random points under a mixed insert/update/delete load: after restarts
(alternating 1 and 2 workers) the target equals the source tables, key by key — nothing lost, order per key kept."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ._ingest import Ingest, running_ingest

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

TABLES = ("accounts", "orders")


class Load:
    """Random inserts, updates (a version counter per row) and deletes on both tables until stopped."""

    def __init__(self, run: Ingest, seed: int) -> None:
        self.run = run
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
                next_id = {t: 1000 for t in TABLES}
                while not self.stop.is_set():
                    table = self.rng.choice(TABLES)
                    kind = self.rng.random()
                    with conn.transaction():
                        for _ in range(self.rng.randint(1, 20)):
                            self._one(conn, table, kind, next_id)
                    self.ops += 1
                    time.sleep(0.002)
        except BaseException as exc:  # surfaced by __exit__
            self.error = exc

    def _one(self, conn: psycopg.Connection[Any], table: str, kind: float, next_id: dict[str, int]) -> None:
        s = self.run.schema
        if kind < 0.45:
            next_id[table] += 1
            conn.execute(f'INSERT INTO "{s}".{table} VALUES (%s, 0, %s)', [next_id[table], f"n{next_id[table]}"])
        elif kind < 0.85:
            row = self.rng.randint(1, next_id[table])
            conn.execute(f'UPDATE "{s}".{table} SET version = version + 1, note = %s WHERE id = %s', [
                f"v{self.rng.random():.6f}", row])  # fmt: skip
        else:
            conn.execute(f'DELETE FROM "{s}".{table} WHERE id = %s', [self.rng.randint(1, next_id[table])])


@pytest.fixture
def run(pg_dsn: str, redis_url: str, tmp_path: Path) -> Iterator[Ingest]:
    with running_ingest(pg_dsn, redis_url, tmp_path, jobs={}, start=False) as ingest:
        for table in TABLES:
            ingest.sql(f"CREATE TABLE {{s}}.{table} (id int PRIMARY KEY, version int NOT NULL, note text)")
            ingest.sql(f"INSERT INTO {{s}}.{table} SELECT i, 0, 'seed' || i FROM generate_series(1, 1000) i")
        yield ingest


def source_state(run: Ingest) -> dict[str, dict[str, str]]:
    state = {}
    for table in TABLES:
        for row_id, version, note in run.conn.execute(f'SELECT id, version, note FROM "{run.schema}".{table}'):
            state[f"{table}:id:{row_id}"] = {"id": str(row_id), "version": str(version), "note": note}
    return state


def target_state(run: Ingest) -> dict[str, dict[str, str]]:
    state = {}
    for table in TABLES:
        for key in run.db.scan_iter(match=f"{table}:id:*", count=1000):
            state[key.decode()] = {k.decode(): v.decode() for k, v in run.db.hgetall(key).items()}
    return state


def test_sigkill_at_random_points_loses_nothing_and_keeps_per_key_order(run: Ingest) -> None:
    rng = random.Random(20261128)
    run.start_collector()
    with Load(run, seed=7) as load:
        for kill in range(12):
            run.start_processor("-w", "2" if kill % 2 else "1")
            time.sleep(rng.uniform(0.5, 4.0))  # startup takes ~1 s: kills land while starting and while writing
            run.kill("processor")
    assert load.ops > 0
    run.start_processor("-w", "2")
    run.settle(180)
    expected, actual = source_state(run), target_state(run)
    missing = sorted(set(expected) - set(actual))[:5]
    extra = sorted(set(actual) - set(expected))[:5]
    wrong = [k for k in expected if k in actual and actual[k] != expected[k]][:5]
    assert (len(actual), missing, extra, wrong) == (len(expected), [], [], []), run.log.read_text()[-3000:]
