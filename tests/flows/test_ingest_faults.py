"""The processor killed with SIGKILL at random points under a mixed insert/update/delete load: after restarts
(alternating 1 and 2 workers) the target equals the source tables, key by key — nothing lost, order per key kept."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ._ingest import Ingest, Load, mixed_changes, running_ingest, same_rows, source_rows, target_rows

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

TABLES = ("accounts", "orders")


@pytest.fixture
def run(pg_dsn: str, redis_url: str, tmp_path: Path) -> Iterator[Ingest]:
    with running_ingest(pg_dsn, redis_url, tmp_path, jobs={}, start=False) as ingest:
        for table in TABLES:
            ingest.sql(f"CREATE TABLE {{s}}.{table} (id int PRIMARY KEY, version int NOT NULL, note text)")
            ingest.sql(f"INSERT INTO {{s}}.{table} SELECT i, 0, 'seed' || i FROM generate_series(1, 1000) i")
        yield ingest


def test_sigkill_at_random_points_loses_nothing_and_keeps_per_key_order(run: Ingest) -> None:
    rng = random.Random(20261128)
    run.start_collector()
    with Load(run, mixed_changes(run.schema, TABLES, max_rows=20), seed=7, pause_s=0.002) as load:
        for kill in range(12):
            run.start_processor("-w", "2" if kill % 2 else "1")
            time.sleep(rng.uniform(0.5, 4.0))  # startup takes ~1 s: kills land while starting and while writing
            run.kill("processor")
    assert load.ops > 0
    run.start_processor("-w", "2")
    run.settle(180)
    expected, actual = source_rows(run, TABLES), target_rows(run, TABLES)
    assert same_rows(expected, actual) == (len(expected), [], [], []), run.log.read_text()[-3000:]
