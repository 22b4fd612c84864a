"""The processor's settings from its environment, and the pipeline it runs (folder or RDI DB)."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from rdi import keys
from rdi.errors import ConfigError
from rdi.runtime import ProcessorSettings, load_runtime_pipeline, process_index

CONFIG = "targets:\n  target: {connection: {type: redis, host: localhost, port: 6379}}\n"
JOB = "source: {table: orders}\noutput:\n  - uses: redis.write\n    with: {data_type: json}\n"


def test_defaults_without_environment() -> None:
    assert ProcessorSettings.from_env({}) == ProcessorSettings(
        rdi_url="redis://localhost:6379/0", pipeline_dir=None, pipeline="default", metrics_port=9121, partitions=8
    )


def test_environment_names_everything_and_process_id_offsets_the_metrics_port() -> None:
    env = {
        "RDI_DB_URL": "redis://h:1/2",
        "RDI_PIPELINE_DIR": "/p",
        "RDI_PIPELINE": "shop",
        "RDI_SECRETS_DIR": "/s",
        "RDI_METRICS_PORT": "9200",
        "RDI_METRICS_ADDR": "127.0.0.1",
        "RDI_PROCESSOR_PARTITIONS": "3",
        "BYTEWAX_PROCESS_ID": "2",
    }
    settings = ProcessorSettings.from_env(env)
    assert (settings, settings.group) == (
        ProcessorSettings("redis://h:1/2", Path("/p"), "shop", Path("/s"), 9202, "127.0.0.1", 3),
        "rdi:processor:shop",
    )


def test_metrics_can_be_switched_off() -> None:
    assert ProcessorSettings.from_env({"RDI_METRICS_PORT": "off"}).metrics_port is None


def test_a_bad_number_names_the_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        ProcessorSettings.from_env({"RDI_PROCESSOR_PARTITIONS": "many"})
    assert str(caught.value.issues[0]) == "RDI_PROCESSOR_PARTITIONS: must be a whole number from 1 to 4096, got 'many'"


def test_pipeline_from_a_folder(tmp_path: Path) -> None:
    (tmp_path / "jobs").mkdir()
    (tmp_path / "config.yaml").write_text(CONFIG)
    (tmp_path / "jobs" / "orders.yaml").write_text(JOB)
    pipeline = load_runtime_pipeline(ProcessorSettings(pipeline_dir=tmp_path))
    assert list(pipeline.jobs) == ["orders"]


@pytest.mark.redis
def test_pipeline_deployed_in_the_rdi_db(redis_url: str, redis_client: redis.Redis) -> None:
    redis_client.hset(keys.pipeline_config("shop"), mapping={"config.yaml": CONFIG, "jobs/orders.yaml": JOB})
    pipeline = load_runtime_pipeline(ProcessorSettings(rdi_url=redis_url, pipeline="shop"))
    assert (list(pipeline.jobs), list(pipeline.config.targets)) == (["orders"], ["target"])


@pytest.mark.redis
def test_no_pipeline_anywhere_says_what_to_do(redis_url: str, redis_client: redis.Redis) -> None:
    with pytest.raises(ConfigError) as caught:
        load_runtime_pipeline(ProcessorSettings(rdi_url=redis_url, pipeline="none"))
    assert str(caught.value.issues[0]) == (
        "RDI_PIPELINE_DIR: no pipeline `none` deployed in the RDI DB; set RDI_PIPELINE_DIR or deploy one"
    )


def test_process_index_follows_bytewax_run() -> None:
    pods = {"BYTEWAX_POD_NAME": "rdi-processor-12", "BYTEWAX_STATEFULSET_NAME": "rdi-processor"}
    assert [
        process_index({}),
        process_index(pods),
        process_index({**pods, "BYTEWAX_PROCESS_ID": "3"}),
    ] == [0, 12, 3]


def test_process_index_names_a_pod_outside_the_statefulset() -> None:
    with pytest.raises(ConfigError, match="BYTEWAX_POD_NAME"):
        process_index({"BYTEWAX_POD_NAME": "other-0", "BYTEWAX_STATEFULSET_NAME": "rdi-processor"})


def test_the_rdi_db_url_comes_from_a_file_when_not_in_the_environment(tmp_path: Path) -> None:
    secret = tmp_path / "url"
    secret.write_text("rediss://rdi:pw@rdi-db:6380/0\n")
    settings = ProcessorSettings.from_env({"RDI_DB_URL_FILE": str(secret)})
    given = ProcessorSettings.from_env({"RDI_DB_URL_FILE": str(secret), "RDI_DB_URL": "redis://other:6379/0"})
    assert (settings.rdi_url, given.rdi_url) == ("rediss://rdi:pw@rdi-db:6380/0", "redis://other:6379/0")


def test_a_missing_rdi_db_url_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="RDI_DB_URL_FILE"):
        ProcessorSettings.from_env({"RDI_DB_URL_FILE": str(tmp_path / "absent")})
