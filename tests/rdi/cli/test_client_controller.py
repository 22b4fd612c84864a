"""The whole control plane: `rdi api` + `rdi controller` + PostgreSQL, driven by the CLI as a user would —
set-secret, deploy --wait, describe, stop/start --wait — and the secret nowhere but the vault and the data
plane's environment (not in logs, argv, status, API output or the rest of the RDI DB)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import psycopg
import pytest
import redis

from rdi import keys
from tests.api.api_server import SECRETS_KEY, USER, USER_PASSWORD, ApiServer, free_port, running_api

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]

SECRET = "Pg-pass-e2e-58213"
CONFIG = """\
sources:
  pg:
    type: cdc
    connection:
      type: postgresql
      host: {host}
      port: {port}
      database: {database}
      user: rdi_e2e
      password: ${{SOURCE_DB_PASSWORD}}
    schemas: [public]
    tables:
      e2e_orders: {{}}
targets:
  target:
    connection: {{type: redis, host: {redis_host}, port: {redis_port}}}
"""
JOB = "source:\n  table: e2e_orders\noutput:\n  - uses: redis.write\n    with:\n      data_type: hash\n"


@pytest.fixture
def source(pg_dsn: str) -> Iterator[psycopg.conninfo.ConnDict]:
    info = psycopg.conninfo.conninfo_to_dict(pg_dsn)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        _drop_source(conn)
        conn.execute(f"CREATE ROLE rdi_e2e LOGIN SUPERUSER PASSWORD '{SECRET}'")
        conn.execute("CREATE TABLE e2e_orders (id int PRIMARY KEY, total numeric)")
        conn.execute("INSERT INTO e2e_orders SELECT g, g * 1.5 FROM generate_series(1, 40) g")
    yield info
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        _drop_source(conn)


def _drop_source(conn: psycopg.Connection[Any]) -> None:
    """Drops what a run leaves: the collector's slot and publication (owned by rdi_e2e), the table, the role."""
    for (slot,) in conn.execute("SELECT slot_name FROM pg_replication_slots WHERE NOT active").fetchall():
        conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
    conn.execute("DROP TABLE IF EXISTS e2e_orders")
    if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'rdi_e2e'").fetchone():
        conn.execute("DROP OWNED BY rdi_e2e")
        conn.execute("DROP ROLE rdi_e2e")


@pytest.fixture
def plane(redis_url: str, redis_client: redis.Redis, tmp_path: Path) -> Iterator[tuple[ApiServer, Path]]:
    """`rdi api` and `rdi controller` on a flushed RDI DB; both stopped by PID (the controller stops its data plane)."""
    env = {**os.environ, "RDI_DB_URL": redis_url, "RDI_SECRETS_KEY": SECRETS_KEY}
    log = tmp_path / "controller.log"
    command = [sys.executable, "-m", "rdi", "controller", "--instance-id", "e2e", "--metrics-port", str(free_port())]
    with log.open("wb") as out:
        controller = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        with running_api(redis_url, tmp_path / "api.log") as api:
            yield api, log
    finally:
        os.kill(controller.pid, signal.SIGTERM)
        try:
            controller.wait(30)
        except subprocess.TimeoutExpired:
            os.kill(controller.pid, signal.SIGKILL)
            controller.wait()


def rdi(api: ApiServer, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RDI_API_URL": api.url, "RDI_USER": USER, "RDI_PASSWORD": USER_PASSWORD, "COLUMNS": "200"}
    env["RDI_CONTEXTS_FILE"] = "/nonexistent/contexts.yaml"
    command = [sys.executable, "-m", "rdi", *args]
    return subprocess.run(command, env=env, input=stdin, capture_output=True, text=True, timeout=180, check=False)


def _wait_for(check: Callable[[], bool], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not check() and time.monotonic() < deadline:
        time.sleep(0.2)


def test_deploy_wait_stop_start_through_the_controller(
    source: psycopg.conninfo.ConnDict, plane: tuple[ApiServer, Path], redis_client: redis.Redis, redis_url: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    api, controller_log = plane
    rdi_db = urlsplit(redis_url)
    folder = tmp_path / "pipeline"
    (folder / "jobs").mkdir(parents=True)
    config = CONFIG.format(host=source["host"], port=source["port"], database=source["dbname"],
                           redis_host=rdi_db.hostname, redis_port=rdi_db.port)  # fmt: skip
    (folder / "config.yaml").write_text(config)
    (folder / "jobs" / "orders.yaml").write_text(JOB)
    secret = rdi(api, "set-secret", "SOURCE_DB_PASSWORD", stdin=SECRET + "\n")
    deployed = rdi(api, "deploy", "--dir", str(folder), "--timeout", "90s")
    _wait_for(lambda: len(redis_client.keys("e2e_orders:*")) == 40)
    described = rdi(api, "describe")
    status = orjson.loads(rdi(api, "describe", "-o", "json").stdout)["status"]
    cmdlines = [Path(f"/proc/{c['pid']}/cmdline").read_bytes() for c in status["components"] if c.get("pid")]
    stopped = rdi(api, "stop", "--timeout", "60s")
    started = rdi(api, "start", "--timeout", "60s")
    reset = rdi(api, "reset", "--timeout", "90s")
    observed_reset = orjson.loads(rdi(api, "describe", "-o", "json").stdout)["status"]["observed_reset"]
    outputs = secret.stdout + secret.stderr + deployed.stdout + deployed.stderr + described.stdout + started.stderr
    vault = keys.pipeline_secrets()
    in_db = [k for k in redis_client.scan_iter() if k != vault and SECRET in repr(_content(redis_client, k))]
    assert (
        secret.returncode, deployed.returncode, deployed.stderr, len(redis_client.keys("e2e_orders:*")),
        "40/40 (100%)" in described.stdout, status["status"], status["current"],
        sorted(c["type"] for c in status["components"]), stopped.returncode, started.returncode, reset.returncode,
        observed_reset,
        SECRET in outputs, SECRET in api.log.read_text(), SECRET in controller_log.read_text(),
        [SECRET.encode() in c for c in cmdlines], in_db,
    ) == (
        0, 0, "deployed pipeline `default` version 1\n", 40, True, "running", True,
        ["collector", "controller", "processor"], 0, 0, 0, 1, False, False, False, [False, False, False], [],
    ), (deployed.stderr, stopped.stderr, started.stderr, reset.stderr)  # fmt: skip


def _content(client: redis.Redis, key: str) -> object:
    kind = client.type(key)
    readers = {"hash": client.hgetall, "string": client.get, "set": client.smembers, "stream": client.xrange,
               "list": lambda k: client.lrange(k, 0, -1)}  # fmt: skip
    reader = readers.get(str(kind))
    return reader(key) if reader else kind
