"""HA: two `rdi controller` processes on one RDI DB under a mixed load. The leader is killed with SIGKILL; its data
plane dies with it, the follower takes the lease (a larger fencing token) and the target converges to the source,
row by row — nothing lost. And a leader that loses the RDI DB kills its own data plane (self-fencing)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from rdi.control.lease import Lease
from rdi.control.store import PipelineStore

from ._control import Controlled, alive, controlled
from ._ingest import (
    REPO,
    Load,
    free_port,
    mixed_changes,
    same_rows,
    source_rows,
    target_only_pipeline,
    target_rows,
    wait_for,
)

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
    with Load(run.ingest, mixed_changes(run.ingest.schema, TABLES), seed=11, pause_s=0.005) as load:
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


def test_a_stopped_leader_stops_its_data_plane_and_hands_the_lease_over(run: Controlled) -> None:
    run.deploy()
    run.start_controller("a", ttl_ms=60_000)  # a handover that waited for the TTL would time the test out
    first = run.wait_status("a to lead", status="running", leader="a")
    run.start_controller("b", ttl_ms=60_000)
    with Load(run.ingest, mixed_changes(run.ingest.schema, TABLES), seed=5, pause_s=0.005) as load:
        wait_for(lambda: load.ops > 100, 60, "some load")
        run.stop_controller("a")  # SIGINT, as systemd's SIGTERM: stop the data plane, release the lease
        holder = Lease(run.ingest.db, "probe").holder()
        old_plane = [p for c in first.components if c.type != "controller" and (p := c.pid) and alive(p)]
        run.wait_status("b to take over", 30, leader="b", status="running")
        wait_for(lambda: load.ops > 300, 60, "more load")
    run.ingest.settle(120)
    expected, actual = source_rows(run.ingest, TABLES), target_rows(run.ingest, TABLES)
    assert (holder in (None, "b"), old_plane) == (True, [])
    assert same_rows(expected, actual) == (len(expected), [], [], []), run.ingest.log.read_text()[-3000:]


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return [p for p in found if alive(p)]


def test_a_leader_cut_off_from_the_rdi_db_kills_its_data_plane(redis_url: str, tmp_path: Path) -> None:
    port, metrics_port = free_port(), free_port()
    rdi_db = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    log = tmp_path / "controller.log"
    controller = None
    try:
        client = redis.Redis.from_url(f"redis://127.0.0.1:{port}/0")
        wait_for(lambda: _pings(client), 30, "the RDI DB to start")
        target_only_pipeline(tmp_path, redis_url)
        PipelineStore(client).deploy({"config.yaml": (tmp_path / "config.yaml").read_text()})
        command = [
            sys.executable, "-m", "rdi", "--rdi-url", f"redis://127.0.0.1:{port}/0", "controller", "--instance-id",
            "a", "--lease-ttl-ms", "3000", "--metrics-port", str(metrics_port), "--processor-metrics-port", "off",
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if k != "RDI_PIPELINE_DIR"}
        with log.open("ab") as out:
            controller = subprocess.Popen(command, env=env, stdout=out, stderr=out, cwd=REPO)
        wait_for(lambda: _running(client), 60, "the pipeline to run", log=log)
        plane = _children(controller.pid)
        rdi_db.kill()
        rdi_db.wait()
        wait_for(lambda: _leader_metric(metrics_port) == "0.0", 30, "the leader to fence itself", log=log)
        left = _children(controller.pid)
        still_running = controller.poll() is None
    finally:
        if controller is not None:
            controller.send_signal(signal.SIGINT)
            controller.wait(timeout=30)
        rdi_db.kill()
        rdi_db.wait()
    assert (len(plane), left, still_running) == (1, [], True)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def _running(client: redis.Redis) -> bool:
    status = PipelineStore(client).status()
    return status is not None and status.status == "running"


def _leader_metric(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    return next(line.rsplit(" ", 1)[1] for line in text.splitlines() if line.startswith("rdi_operator_is_leader{"))
