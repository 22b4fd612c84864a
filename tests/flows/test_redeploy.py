"""Zero-downtime redeploy: under a continuous insert load, changed jobs are deployed while the controller runs the
pipeline. The processor switches jobs at a batch boundary: every row reaches the output log exactly once, with one
version, no v1 entry after a v2 one, and neither the collector nor the processor is restarted."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ._control import Controlled, controlled
from ._ingest import Load, free_port, inserts, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

JOB = """
source: {schema: "{schema}", table: items}
transform:
  - uses: add_field
    with: {field: version, expression: "'%s'", language: sql}
output:
  - uses: redis.write
    with: {data_type: stream, key: {expression: "'items:log'", language: sql}}
"""


@pytest.fixture
def run(pg_dsn: str, redis_url: str, tmp_path: Path) -> Iterator[Controlled]:
    tables = "CREATE TABLE {s}.items (id int PRIMARY KEY, note text)"
    with controlled(pg_dsn, redis_url, tmp_path, tables=tables, jobs={"items": JOB % "v1"}) as run:
        yield run


def _log(run: Controlled) -> list[tuple[str, str]]:
    return [(f[b"id"].decode(), f[b"version"].decode()) for _, f in run.ingest.db.xrange("items:log")]


def _versions_after(run: Controlled, count: int, version: str) -> bool:
    return sum(1 for _, v in _log(run) if v == version) >= count


@pytest.mark.parametrize("scale", [["-w", "2"], ["--processes", "2"]], ids=["2-workers", "2-processes"])
def test_redeploying_jobs_under_load_switches_versions_without_loss_or_restart(
    run: Controlled, scale: list[str]
) -> None:
    run.deploy()
    run.start_controller("a", *scale, "--cluster-port", str(free_port()))
    before = run.wait_status("v1 to run", status="running", observed_version=1)
    with Load(run.ingest, inserts(run.ingest.schema, "items")) as load:
        wait_for(lambda: _versions_after(run, 200, "v1"), 60, "v1 entries", log=run.ingest.log)
        deployed_at = time.monotonic()
        run.deploy({"items": JOB % "v2"})
        after = run.wait_status("v2 to be applied", observed_version=2, current=True)
        switched_s = time.monotonic() - deployed_at
        wait_for(lambda: _versions_after(run, 200, "v2"), 60, "v2 entries", log=run.ingest.log)
    run.ingest.settle()
    print(f"redeploy: deploy → processor applies v2 in {switched_s:.2f} s, {load.ops} rows inserted")
    log = _log(run)
    ids = [i for i, _ in log]
    versions = [v for _, v in log]
    first_v2 = versions.index("v2")
    assert (sorted(map(int, ids)), "v1" in versions[first_v2:], set(versions)) == (
        list(range(1, load.ops + 1)), False, {"v1", "v2"},
    )  # fmt: skip
    assert (run.pids(after, "collector"), run.pids(after, "processor")) == (
        run.pids(before, "collector"), run.pids(before, "processor"),
    )  # fmt: skip
