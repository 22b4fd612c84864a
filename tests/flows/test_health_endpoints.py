"""`/healthz` and `/readyz` of every long-running component, as the Kubernetes chart's probes use them: each test
starts the real command as a subprocess against real services and stops it by its PID.

`/readyz` is 503 where "not ready" means something (a collector whose source is down, an API or processor whose RDI
DB is gone — a private redis-server the test starts and kills) and 200 once the component works.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import httpx
import psycopg
import pytest
import redis

from rdi import keys
from tests.api.api_server import running_api
from tests.fix_services import parse_mysql_url
from tests.rdi.collectors._mysql_pipeline import execute, write_pipeline
from tests.rdi.collectors._pg_pipeline import drop_slot_and_publication

from ._ingest import REPO, free_port, group_drained, stage_rows, target_only_pipeline, wait_for

pytestmark = [pytest.mark.redis, pytest.mark.postgres]


def status(port: int, path: str) -> int | None:
    """The HTTP status of GET ``path`` on the loopback port, or None when nothing answers."""
    try:
        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2).status_code
    except httpx.HTTPError:
        return None


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()


@contextmanager
def started(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        process = subprocess.Popen(command, env={**os.environ, **env}, cwd=REPO, stdout=out, stderr=out)
    try:
        yield process
    finally:
        stop(process)


@contextmanager
def private_redis(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A redis-server of this test only (loopback, no persistence), so the test can take it away."""
    server = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = free_port()
    command = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
               "--dir", str(tmp_path)]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:

        def answers() -> bool:
            try:
                return bool(redis.Redis.from_url(url).ping())
            except redis.RedisError:
                return False

        wait_for(answers, 30, "the private redis-server")
        yield url, process
    finally:
        stop(process)


def pg_pipeline(folder: Path, pg_dsn: str, redis_url: str, *, pg_port: int, name: str) -> None:
    url, target = urlparse(pg_dsn), urlparse(redis_url)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(f"""
sources:
  pg:
    type: cdc
    connection:
      type: postgresql
      host: 127.0.0.1
      port: {pg_port}
      database: {url.path.lstrip("/")}
      user: {url.username}
      password: ${{SOURCE_DB_PASSWORD}}
    schemas: [{name}]
    advanced:
      source:
        slot.name: {name}
        publication.name: {name}
        publication.autocreate.mode: filtered
targets:
  target:
    connection: {{type: redis, host: {target.hostname}, port: {target.port}}}
""")


def test_collector_is_ready_while_it_streams_and_not_while_its_source_is_down(
    redis_url: str, pg_dsn: str, tmp_path: Path
) -> None:
    name = "k8s_health"
    drop_slot_and_publication(pg_dsn, name, name)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}; CREATE TABLE {name}.t (id int PRIMARY KEY, note text)")
    down, up = tmp_path / "down", tmp_path / "up"
    pg_pipeline(down, pg_dsn, redis_url, pg_port=free_port(), name=name)  # nothing listens there
    pg_pipeline(up, pg_dsn, redis_url, pg_port=int(urlparse(pg_dsn).port or 5432), name=name)
    env = {"RDI_DB_URL": redis_url, "SOURCE_DB_PASSWORD": urlparse(pg_dsn).password or ""}
    log = tmp_path / "collector.log"
    down_port, up_port = free_port(), free_port()
    url_file = tmp_path / "rdi-db-url"  # as the chart mounts it from a Secret
    url_file.write_text(redis_url + "\n")
    up_env = {**env, "RDI_DB_URL": "", "RDI_DB_URL_FILE": str(url_file), "RDI_COLLECTOR_HEALTH_PORT": str(up_port)}
    try:
        command = [sys.executable, "-m", "rdi", "collector", "--source", "pg"]
        with (
            started([*command, "--dir", str(down), "--health-port", str(down_port)], env, log),
            started([*command, "--dir", str(up)], up_env, log),
        ):
            wait_for(lambda: status(up_port, "/readyz") == 200, 60, "the collector to be ready", log=log)
            wait_for(lambda: "starting over" in log.read_text(), 60, "the failing collector to back off", log=log)
            assert [status(down_port, "/healthz"), status(down_port, "/readyz"), status(up_port, "/healthz")] == [
                200,
                503,
                200,
            ]
    finally:
        drop_slot_and_publication(pg_dsn, name, name)


def test_a_taken_health_port_is_one_line_and_status_2(redis_url: str, pg_dsn: str, tmp_path: Path) -> None:
    pg_pipeline(tmp_path, pg_dsn, redis_url, pg_port=free_port(), name="k8s_taken")
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "rdi", "collector", "--dir", str(tmp_path), "--source", "pg"],
            env={**os.environ, "RDI_DB_URL": redis_url, "SOURCE_DB_PASSWORD": "x",
                 "RDI_COLLECTOR_HEALTH_PORT": str(port)},
            capture_output=True, text=True, timeout=60, cwd=REPO,
        )  # fmt: skip
    assert (done.returncode, done.stderr.strip()) == (
        2,
        f"rdi collector: health port {port}: Address already in use; use --health-port",
    )


def test_api_readyz_follows_its_rdi_db(tmp_path: Path) -> None:
    with private_redis(tmp_path) as (url, server), running_api(url, tmp_path / "api.log") as api:
        port = int(urlparse(api.url).port or 0)
        ready = [status(port, "/healthz"), status(port, "/readyz")]
        stop(server)
        assert [*ready, status(port, "/readyz"), status(port, "/healthz")] == [200, 200, 503, 200]


def test_processor_readyz_is_200_while_it_reads_and_503_when_the_rdi_db_is_gone(tmp_path: Path) -> None:
    with private_redis(tmp_path) as (url, server):
        target_only_pipeline(tmp_path, url)
        db = redis.Redis.from_url(url)
        stream = stage_rows(db, "t", range(50))
        port = free_port()
        env = {"RDI_DB_URL": url, "RDI_PIPELINE_DIR": str(tmp_path), "RDI_METRICS_PORT": str(port)}
        log = tmp_path / "processor.log"
        with started([sys.executable, "-m", "bytewax.run", "flows.ingest"], env, log):
            wait_for(lambda: group_drained(db, [stream]), 60, "the rows", log=log)
            wait_for(lambda: status(port, "/readyz") == 200, 30, "the processor to be ready", log=log)
            stop(server)
            wait_for(lambda: status(port, "/readyz") == 503, 30, "/readyz to notice the lost RDI DB", log=log)
            assert status(port, "/healthz") == 200


def test_the_statefulset_contract_runs_a_two_process_cluster(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    """What the chart's processor StatefulSet sets: the pod name + StatefulSet name (process id = ordinal), a
    hostfile of every pod's address, the workers per process; no -i/-a on the command line."""
    target_only_pipeline(tmp_path, redis_url)
    db = redis.Redis.from_url(redis_url)
    streams = [stage_rows(db, f"k{n}", range(100)) for n in range(4)]
    hostfile = tmp_path / "hostfile.txt"
    hostfile.write_text(f"127.0.0.1:{free_port()}\n127.0.0.1:{free_port()}\n")
    ports = [free_port(), free_port()]
    log = tmp_path / "cluster.log"
    common = {
        "RDI_DB_URL": redis_url,
        "RDI_PIPELINE_DIR": str(tmp_path),
        "BYTEWAX_STATEFULSET_NAME": "rdi-processor",
        "BYTEWAX_HOSTFILE_PATH": str(hostfile),
        "BYTEWAX_WORKERS_PER_PROCESS": "1",
    }
    command = [sys.executable, "-m", "bytewax.run", "flows.ingest"]
    with (
        started(command, {**common, "BYTEWAX_POD_NAME": "rdi-processor-0", "RDI_METRICS_PORT": str(ports[0])}, log),
        started(command, {**common, "BYTEWAX_POD_NAME": "rdi-processor-1", "RDI_METRICS_PORT": str(ports[1])}, log),
    ):
        wait_for(lambda: group_drained(db, streams), 90, "the cluster to drain the streams", log=log)
        wait_for(lambda: [status(p, "/readyz") for p in ports] == [200, 200], 30, "both processes ready", log=log)
        written = sum(1 for _ in db.scan_iter(match="k*:id:*", count=1000))
        assert written == 400


def test_rdi_processor_needs_addresses_for_a_process_id(redis_url: str, tmp_path: Path) -> None:
    target_only_pipeline(tmp_path, redis_url)
    env = {**os.environ, "RDI_DB_URL": redis_url, "BYTEWAX_POD_NAME": "p-1", "BYTEWAX_STATEFULSET_NAME": "p"}
    env.pop("BYTEWAX_HOSTFILE_PATH", None)
    done = subprocess.run(
        [sys.executable, "-m", "rdi", "processor", "--dir", str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert (done.returncode, done.stderr.strip()) == (
        2,
        "--process-id needs --addresses (BYTEWAX_ADDRESSES, or BYTEWAX_HOSTFILE_PATH: one per line)",
    )


def test_controller_readyz_follows_the_lease_thread_reaching_the_rdi_db(tmp_path: Path) -> None:
    """The chart's controller (`--data-plane external`): ready while its lease thread reaches the RDI DB."""
    with private_redis(tmp_path) as (url, server):
        port = free_port()
        command = [sys.executable, "-m", "rdi", "controller", "--data-plane", "external", "--lease-ttl-ms", "1000"]
        env = {"RDI_DB_URL": url, "RDI_CONTROLLER_METRICS_PORT": str(port), "RDI_INSTANCE_ID": "k8s-0"}
        log = tmp_path / "controller.log"
        with started(command, env, log):
            wait_for(lambda: status(port, "/readyz") == 200, 30, "the controller to be ready", log=log)
            leader = redis.Redis.from_url(url).get(keys.HA_LOCK)
            stop(server)
            wait_for(lambda: status(port, "/readyz") == 503, 30, "/readyz to notice the lost RDI DB", log=log)
            assert (leader, status(port, "/healthz")) == (b"k8s-0", 200)


@pytest.mark.mysql
def test_mariadb_collector_is_ready_once_it_runs(redis_url: str, mysql_url: str, tmp_path: Path) -> None:
    database = "k8s_health"
    execute(mysql_url, f"DROP DATABASE IF EXISTS `{database}`", f"CREATE DATABASE `{database}`",
            f"CREATE TABLE `{database}`.t (id INT PRIMARY KEY, note VARCHAR(20))")  # fmt: skip
    write_pipeline(tmp_path, mysql_url, database=database)
    port = free_port()
    env = {"RDI_DB_URL": redis_url, "SOURCE_DB_PASSWORD": str(parse_mysql_url(mysql_url)["password"]),
           "RDI_COLLECTOR_HEALTH_PORT": str(port)}  # fmt: skip
    log = tmp_path / "collector.log"
    try:
        with started([sys.executable, "-m", "rdi", "collector", "--dir", str(tmp_path), "--source", "my"], env, log):
            wait_for(lambda: status(port, "/readyz") == 200, 60, "the MariaDB collector to be ready", log=log)
            assert status(port, "/healthz") == 200
    finally:
        execute(mysql_url, f"DROP DATABASE IF EXISTS `{database}`")
