"""`rdi controller` against real Postgres and Redis: it runs the deployed pipeline, keeps it stopped across its own
restarts while `active` is off, re-snapshots on reset, and reports its phase and leadership as metrics."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from rdi.control.secrets import SecretVault
from rdi.control.store import PipelineStatus
from tests.flows._control import SECRETS_KEY, Controlled, alive, controlled
from tests.flows._ingest import free_port, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

TABLES = """CREATE TABLE {s}.items (id int PRIMARY KEY, note text);
INSERT INTO {s}.items SELECT i, 'seed' FROM generate_series(1, 50) i"""


@pytest.fixture
def run(pg_dsn: str, redis_url: str, tmp_path: Path) -> Iterator[Controlled]:
    with controlled(pg_dsn, redis_url, tmp_path, tables=TABLES, jobs={}) as run:
        yield run


def _items(run: Controlled) -> int:
    return sum(1 for _ in run.ingest.db.scan_iter(match="items:id:*", count=1000))


def test_stopped_pipeline_stays_stopped_across_controller_restarts(run: Controlled) -> None:
    run.deploy()
    run.start_controller("a")
    running = run.wait_status("the pipeline to run", status="running", current=True)
    children = [p for p in {**run.pids(running, "collector"), **run.pids(running, "processor")}.values() if p]
    run.store.set_active(False)
    run.wait_status("the pipeline to stop", status="stopped")
    stopped_children = [p for p in children if alive(p)]
    run.stop_controller("a")
    run.start_controller("b")
    after_restart = run.wait_status("the new controller's status", status="stopped", leader="b")
    run.store.set_active(True)
    restarted = run.wait_status("the pipeline to run again", status="running", leader="b", current=True)
    kinds = sorted(c.type for c in restarted.components)
    assert (len(children), stopped_children, [c.type for c in after_restart.components], kinds) == (
        2, [], ["controller"], ["collector", "controller", "processor"],
    )  # fmt: skip


def test_reset_takes_a_new_snapshot(run: Controlled) -> None:
    run.deploy()
    run.start_controller("a")
    run.wait_status("the pipeline to run", status="running", current=True)
    wait_for(lambda: _items(run) == 50, 60, "the snapshot in the target", log=run.ingest.log)
    run.ingest.db.delete(*run.ingest.db.scan_iter(match="items:id:*", count=1000))  # only a snapshot brings them back
    run.store.request_reset()
    reset = run.wait_status("the reset", observed_reset=1, status="running")
    wait_for(lambda: _items(run) == 50, 60, "the new snapshot in the target", log=run.ingest.log)
    run.ingest.sql("INSERT INTO {s}.items VALUES (51, 'after reset')")
    run.ingest.settle()
    assert (_items(run), reset.errors) == (51, [])


def test_metrics_report_phase_and_leadership(run: Controlled) -> None:
    port = free_port()
    run.deploy()
    run.start_controller("a", "--metrics-port", str(port))
    run.wait_status("the pipeline to run", status="running")

    def scrape(path: str) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as reply:
            return str(reply.read().decode())

    text = scrape("/metrics")
    lines = sorted(line for line in text.splitlines() if line.startswith("rdi_operator_") and line.endswith(" 1.0"))
    assert (lines, scrape("/readyz"), scrape("/healthz")) == (
        [
            'rdi_operator_is_leader{instance_id="a"} 1.0',
            'rdi_operator_pipeline_phase{name="default",namespace="rdi",phase="Active"} 1.0',
        ],
        "ready",
        "ok",
    )


def test_changing_a_source_restarts_only_its_collector(run: Controlled) -> None:
    run.deploy()
    run.start_controller("a")
    before = run.wait_status("v1 to run", status="running", observed_version=1)
    files = run.files()
    option = "publication.autocreate.mode: filtered"
    changed = files["config.yaml"].replace(option, option + "\n        rdi.snapshot.chunk.size: 500")
    run.store.deploy({**files, "config.yaml": changed})

    def restarted() -> PipelineStatus | None:
        status = run.status()
        moved = status is not None and run.pids(status, "collector") != run.pids(before, "collector")
        return status if moved and status is not None and status.status == "running" else None

    after = wait_for(restarted, 60, "the collector to restart", log=run.ingest.log)
    assert (after.observed_version, run.pids(after, "processor")) == (2, run.pids(before, "processor"))


def test_a_rotated_secret_restarts_the_children_that_get_it(run: Controlled) -> None:
    run.deploy()
    run.start_controller("a")
    before = run.wait_status("the pipeline to run", status="running", current=True)
    old = {**run.pids(before, "collector"), **run.pids(before, "processor")}
    SecretVault(run.ingest.db, key=SECRETS_KEY).set("TARGET_TOKEN", "rotated")

    def restarted() -> PipelineStatus | None:
        status = run.status()
        if status is None or status.status != "running":
            return None
        new = {**run.pids(status, "collector"), **run.pids(status, "processor")}
        return status if all(new[name] != pid for name, pid in old.items()) else None

    after = wait_for(restarted, 60, "the children to restart", log=run.ingest.log)
    assert sorted(c.restarts for c in after.components) == [0, 0, 0]  # restarted for a new spec, not after a crash
