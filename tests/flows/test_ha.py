"""HA: two `rdi controller` processes on one RDI DB under a mixed load. The leader is killed with SIGKILL; its data
plane dies with it, the follower takes the lease (a larger fencing token) and the target converges to the source,
row by row — nothing lost."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ._control import Controlled, MixedLoad, alive, controlled, same_rows, source_rows, target_rows
from ._ingest import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

TABLES = ("accounts", "orders")
TTL_MS = 4000


@pytest.fixture
def run(pg_dsn: str, redis_url: str, tmp_path: Path) -> Iterator[Controlled]:
    ddl = ";".join(
        f"CREATE TABLE {{s}}.{t} (id int PRIMARY KEY, version int NOT NULL, note text);"
        f"INSERT INTO {{s}}.{t} SELECT i, 0, 'seed' || i FROM generate_series(1, 1000) i"
        for t in TABLES
    )
    with controlled(pg_dsn, redis_url, tmp_path, tables=ddl, jobs={}) as run:
        yield run


def test_follower_takes_over_when_the_leader_is_killed(run: Controlled) -> None:
    run.deploy()
    run.start_controller("a", ttl_ms=TTL_MS)
    first = run.wait_status("a to lead", status="running", leader="a")
    run.start_controller("b", ttl_ms=TTL_MS)
    with MixedLoad(run.ingest, TABLES, seed=11) as load:
        wait_for(lambda: load.ops > 200, 60, "some load")
        old_plane = [p for c in first.components if c.type != "controller" and (p := c.pid)]
        killed_at = time.monotonic()
        run.kill_controller("a")
        wait_for(lambda: not any(alive(p) for p in old_plane), 30, "a's data plane to die with it")
        took_over = run.wait_status("b to take over", TTL_MS / 1000 + 60, leader="b")
        failover_s = time.monotonic() - killed_at
        running = run.wait_status("b's data plane to run", status="running", leader="b")
        running_s = time.monotonic() - killed_at
        wait_for(lambda: load.ops > 600, 60, "more load")
    run.ingest.settle(120)
    print(f"failover: new leader {failover_s:.2f} s, data plane running {running_s:.2f} s (TTL {TTL_MS} ms)")
    expected, actual = source_rows(run.ingest, TABLES), target_rows(run.ingest, TABLES)
    assert took_over.fencing_token > first.fencing_token
    assert [c.type for c in running.components].count("collector") == 1
    assert same_rows(expected, actual) == (len(expected), [], [], []), run.ingest.log.read_text()[-3000:]
