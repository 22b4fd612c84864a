"""`rdi controller --data-plane external` (the Kubernetes chart's mode): the leader holds the lease and publishes
status, but starts no collector or processor — the chart's Deployments and StatefulSet run those."""

from __future__ import annotations

import pytest
import redis

from rdi import keys
from rdi.control.controller import Controller, ControllerOptions
from rdi.control.store import PipelineStore

pytestmark = pytest.mark.redis

CONFIG = "targets:\n  target: {connection: {type: redis, host: 127.0.0.1, port: 6379}}\n"


def test_the_leader_runs_nothing_and_reports_the_version_the_processors_applied(
    redis_client: redis.Redis, redis_url: str
) -> None:
    redis_client.flushdb()
    version = PipelineStore(redis_client).deploy({"config.yaml": CONFIG})
    controller = Controller(
        redis.Redis.from_url(redis_url), ControllerOptions(redis_url, "k8s-0", external_data_plane=True)
    )
    assert controller.lease.acquire()  # what the lease thread of `run` does
    controller.step()
    before = PipelineStore(redis_client).status()
    # what each StatefulSet pod's JobReload publishes: "<version> <pid>" under its process index
    redis_client.hset(keys.processor_applied("default"), mapping={"0": f"{version} 11", "1": f"{version} 12"})
    controller.step()
    after = PipelineStore(redis_client).status()
    assert before is not None and after is not None
    assert (
        [c.type for c in after.components],
        controller.supervisor.children,
        before.status,
        after.status,
        after.current,
    ) == (["controller"], {}, "starting", "running", True)


def test_a_reset_is_refused_with_what_to_do(redis_client: redis.Redis, redis_url: str) -> None:
    redis_client.flushdb()
    store = PipelineStore(redis_client)
    store.deploy({"config.yaml": CONFIG})
    controller = Controller(
        redis.Redis.from_url(redis_url), ControllerOptions(redis_url, "k8s-0", external_data_plane=True)
    )
    assert controller.lease.acquire()
    controller.step()
    store.request_reset()
    controller.step()
    status = store.status()
    assert status is not None
    assert (status.status, "scale the collectors to 0" in status.errors[0]) == ("error", True)
