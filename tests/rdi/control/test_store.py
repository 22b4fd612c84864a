"""PipelineStore against a real Redis: deploy/meta/active/reset/delete, and the fenced status write."""

from __future__ import annotations

import pytest
import redis

from rdi import keys
from rdi.control.store import (
    VERSION,
    Component,
    Deployed,
    PipelineMeta,
    PipelineNotFoundError,
    PipelineStatus,
    PipelineStore,
    write_status,
)
from rdi.runtime import deployed_files

pytestmark = pytest.mark.redis

FILES = {"config.yaml": "sources: {}\n", "jobs/orders.yaml": "source: {table: orders}\n"}


def _store(client: redis.Redis, name: str = "default", now: int = 1000) -> PipelineStore:
    return PipelineStore(client, name, clock=lambda: now)


def _status(**changes: object) -> PipelineStatus:
    values: dict[str, object] = {
        "status": "running",
        "status_changed_at": 5,
        "errors": ["boom"],
        "components": [Component("collector-pg", "collector", "running", pid=42, restarts=1)],
        "current": True,
        "observed_version": 2,
        "observed_reset": 0,
        "leader": "node-a",
        "fencing_token": 7,
        "updated_at_ms": 6,
    }
    return PipelineStatus(**{**values, **changes})  # type: ignore[arg-type]


def test_nothing_deployed_reads_as_none(redis_client: redis.Redis) -> None:
    store = _store(redis_client)
    assert (store.deployed(), store.meta(), store.status(), PipelineStore.names(redis_client)) == (
        None,
        None,
        None,
        [],
    )


def test_each_deploy_replaces_the_files_and_bumps_the_version(redis_client: redis.Redis) -> None:
    first = _store(redis_client, now=1000).deploy(FILES)
    second = _store(redis_client, now=2000).deploy({"config.yaml": "x: 1\n"}, active=False)
    assert (first, second, _store(redis_client).deployed(), deployed_files(redis_client)) == (
        1,
        2,
        Deployed(PipelineMeta(2, False, 0, 2000, 2000), {"config.yaml": "x: 1\n"}),
        {"config.yaml": "x: 1\n"},
    )


def test_deploy_without_files_is_refused(redis_client: redis.Redis) -> None:
    with pytest.raises(ValueError, match="cannot deploy pipeline `default` without files"):
        _store(redis_client).deploy({})


def test_start_stop_and_reset_update_the_meta_and_keep_the_version(redis_client: redis.Redis) -> None:
    _store(redis_client, now=1000).deploy(FILES)
    stopped = _store(redis_client, now=2000).set_active(False)
    reset = _store(redis_client, now=3000).request_reset()
    started = _store(redis_client, now=4000).set_active(True)
    assert (stopped, reset, started) == (
        PipelineMeta(1, False, 0, 1000, 2000),
        PipelineMeta(1, False, 1, 1000, 3000),
        PipelineMeta(1, True, 1, 1000, 4000),
    )


def test_meta_of_a_pipeline_that_is_not_deployed_raises(redis_client: redis.Redis) -> None:
    with pytest.raises(PipelineNotFoundError, match="no pipeline `shop` is deployed"):
        _store(redis_client, "shop").set_active(True)


def test_names_lists_every_deployed_pipeline_and_delete_keeps_secrets(redis_client: redis.Redis) -> None:
    for name in ("shop", "default", "crm"):
        _store(redis_client, name).deploy(FILES)
    redis_client.hset(keys.pipeline_secrets("crm"), "PW", "token")
    redis_client.hset(keys.pipeline_status("crm"), "status", "running")
    _store(redis_client, "crm").delete()
    assert (PipelineStore.names(redis_client), sorted(redis_client.keys("rdi:pipeline:crm:*"))) == (
        ["default", "shop"],
        ["rdi:pipeline:crm:secrets"],
    )


def test_files_deployed_without_meta_read_as_version_zero(redis_client: redis.Redis) -> None:
    redis_client.hset(keys.pipeline_config(), mapping=FILES)
    assert _store(redis_client).deployed() == Deployed(PipelineMeta(0, True, 0, 0, 0), FILES)


def test_the_lock_holder_writes_the_status_and_reads_it_back(redis_client: redis.Redis) -> None:
    redis_client.set(keys.HA_LOCK, "node-a")
    written = write_status(redis_client, "default", _status(), holder="node-a")
    assert (written, _store(redis_client).status()) == (True, _status())


def test_a_deposed_leader_cannot_overwrite_the_status(redis_client: redis.Redis) -> None:
    redis_client.set(keys.HA_LOCK, "node-b")
    write_status(redis_client, "default", _status(leader="node-b"), holder="node-b")
    written = write_status(redis_client, "default", _status(status="error"), holder="node-a")
    assert (written, _store(redis_client).status()) == (False, _status(leader="node-b"))


def test_status_works_with_a_client_that_does_not_decode(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        client.flushdb()
        client.set(keys.HA_LOCK, "node-a")
        write_status(client, "default", _status(), holder="node-a")
        PipelineStore(client).deploy(FILES)
        store = PipelineStore(client)
        assert (store.status(), store.set_active(False).active, store.deployed() is not None) == (
            _status(),
            False,
            True,
        )
    finally:
        client.close()


def test_components_default_to_the_package_version() -> None:
    assert Component("processor", "processor", "running").version == VERSION
