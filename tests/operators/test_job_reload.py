"""JobReload against a real Redis: a redeploy swaps the jobs at the next due check; an invalid one, or one that
changes targets, keeps the running jobs. Checks (``poll``, which the processor runs in a thread) are driven by a
fake monotonic clock."""

from __future__ import annotations

import os

import pytest
import redis

from operators.processing import JobReload
from rdi import keys
from rdi.control.store import PipelineStore
from rdi.processor import Processor
from rdi.runtime import pipeline_from_files

pytestmark = pytest.mark.redis

CONFIG = "targets:\n  target: {connection: {type: redis, host: localhost, port: %d}}\n"
JOB = """source: {table: items}
transform:
  - uses: add_field
    with: {field: version, expression: "'%s'", language: sql}
output:
  - uses: redis.write
    with: {data_type: hash}
"""


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _files(version: str, port: int = 6379, job: str | None = None) -> dict[str, str]:
    return {"config.yaml": CONFIG % port, "jobs/items.yaml": job if job is not None else JOB % version}


def _reload(client: redis.Redis, clock: Clock) -> JobReload:
    deployed = PipelineStore(client).deployed()
    assert deployed is not None
    pipeline = pipeline_from_files(deployed.files)
    return JobReload(client, "default", pipeline, Processor(pipeline), deployed.meta.version, clock=clock)


def _applied(client: redis.Redis) -> str:
    return str(client.hget(keys.processor_applied(), "0"))


def test_a_redeploy_is_applied_at_the_next_due_check(redis_client: redis.Redis) -> None:
    store, clock = PipelineStore(redis_client), Clock()
    store.deploy(_files("v1"))
    reload = _reload(redis_client, clock)
    reload.poll()
    first = reload.current()
    store.deploy(_files("v2"))
    clock.now = 0.2
    reload.poll()
    not_due = reload.current()
    clock.now = 0.6
    reload.poll()
    due = reload.current()
    assert (not_due is first, due is first, reload.applied, _applied(redis_client)) == (
        True, False, 2, f"2 {os.getpid()}",
    )  # fmt: skip


def test_an_invalid_redeploy_keeps_the_running_jobs(redis_client: redis.Redis) -> None:
    store, clock = PipelineStore(redis_client), Clock()
    store.deploy(_files("v1"))
    reload = _reload(redis_client, clock)
    reload.publish()
    first = reload.current()
    store.deploy(_files("v2", job="source: {table: items}\noutput: [{uses: nope}]\n"))
    clock.now = 1.0
    reload.poll()
    kept = reload.current()
    assert (kept is first, reload.version, reload.applied, _applied(redis_client)) == (
        True, 2, 1, f"1 {os.getpid()}",
    )  # fmt: skip


def test_a_redeploy_that_changes_targets_is_left_to_a_restart(redis_client: redis.Redis) -> None:
    store, clock = PipelineStore(redis_client), Clock()
    store.deploy(_files("v1"))
    reload = _reload(redis_client, clock)
    first = reload.current()
    store.deploy(_files("v2", port=6380))
    clock.now = 1.0
    reload.poll()
    assert (reload.current() is first, reload.version, reload.applied) == (True, 2, 1)
