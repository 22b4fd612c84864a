"""Pipelines over real HTTP: deploy (files or RDI's JSON form), invalid pipelines refused with every issue,
PATCH, delete, start/stop/reset, status with per-table snapshot progress, validate_tables against PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest
import redis

from rdi import keys
from rdi.control.store import Component, PipelineStatus, PipelineStore, write_status

pytestmark = pytest.mark.redis

CONFIG = """\
sources:
  pg:
    type: cdc
    connection:
      type: postgresql
      host: {host}
      port: {port}
      database: rdi_test
      user: postgres
      password: ${{SOURCE_DB_PASSWORD}}
targets:
  target:
    connection: {{type: redis, host: 127.0.0.1, port: 6379}}
"""
JOB = "name: orders\nsource:\n  table: orders\noutput:\n  - uses: redis.write\n    with:\n      data_type: hash\n"
FILES = {"config.yaml": CONFIG.format(host="127.0.0.1", port=5432), "jobs/orders.yaml": JOB}
NO_TABLES = {"validate_tables": "false"}


def _put(http: httpx.Client, body: dict[str, Any], **params: str) -> httpx.Response:
    return http.put("/api/v2/pipelines/default", json=body, params={**NO_TABLES, **params})


def test_deploy_from_files_then_get_returns_rdi_json_form(http: httpx.Client, redis_client: redis.Redis) -> None:
    deployed = _put(http, {"files": FILES})
    got = http.get("/api/v2/pipelines/default").json()
    assert (deployed.status_code, got["version"], got["active"], got["status"], got["jobs"],
            got["config"]["sources"]["pg"]["connection"]["password"], PipelineStore(redis_client).deployed().files) == (
        200, 1, True, "pending",
        [{"name": "orders", "source": {"table": "orders"},
          "output": [{"uses": "redis.write", "with": {"data_type": "hash"}}]}],
        "${SOURCE_DB_PASSWORD}", FILES,
    )  # fmt: skip


def test_deploy_from_rdi_json_form_writes_files(http: httpx.Client, redis_client: redis.Redis) -> None:
    config = {"sources": {}, "targets": {"target": {"connection": {"type": "redis", "host": "h", "port": 6379}}}}
    job = {"name": "orders", "source": {"table": "orders"}}
    reply = http.post("/api/v2/pipelines", json={"name": "shop", "config": config, "jobs": [job]}, params=NO_TABLES)
    files = PipelineStore(redis_client, "shop").deployed().files
    listed = http.get("/api/v2/pipelines").json()
    assert (reply.status_code, sorted(files), reply.json()["jobs"], listed[0]["name"]) == (
        200,
        ["config.yaml", "jobs/orders.yaml"],
        [job],
        "shop",
    )


def test_create_refuses_an_existing_name(http: httpx.Client) -> None:
    _put(http, {"files": FILES})
    reply = http.post("/api/v2/pipelines", json={"files": FILES}, params=NO_TABLES)
    assert (reply.status_code, reply.json()["detail"]["code"]) == (409, "conflict")


def test_an_invalid_pipeline_is_refused_with_every_issue_and_the_old_one_kept(
    http: httpx.Client, redis_client: redis.Redis
) -> None:
    _put(http, {"files": FILES})
    bad_job = "source:\n  table: orders\noutput:\n  - uses: redis.write\n    with:\n      data_type: tree\n"
    bad = {"config.yaml": FILES["config.yaml"] + "processors:\n  read_batch_size: -3\n", "jobs/orders.yaml": bad_job}
    reply = _put(http, {"files": bad})
    detail = reply.json()["detail"]
    assert (reply.status_code, detail["code"], [(e["file"], e["line"], e["field"]) for e in detail["errors"]],
            PipelineStore(redis_client).deployed().files) == (
        400, "validation_error",
        [("config.yaml", 15, "processors.read_batch_size"), ("jobs/orders.yaml", 6, "output[0].with.data_type")],
        FILES,
    )  # fmt: skip


def test_dry_run_validates_and_changes_nothing(http: httpx.Client, redis_client: redis.Redis) -> None:
    reply = _put(http, {"files": FILES}, dry_run="true")
    assert (reply.status_code, reply.json()["jobs"][0]["name"], PipelineStore(redis_client).deployed()) == (
        200,
        "orders",
        None,
    )


def test_patch_merges_config_and_replaces_jobs_by_name(http: httpx.Client) -> None:
    _put(http, {"files": FILES})
    patch = {"config": {"processors": {"read_batch_size": 50}}, "jobs": [{"name": "orders", "source": {"table": "o2"}}]}
    reply = http.patch("/api/v2/pipelines/default", json=patch, params=NO_TABLES)
    body = reply.json()
    assert (reply.status_code, body["version"], body["config"]["processors"], body["jobs"]) == (
        200,
        2,
        {"read_batch_size": 50},
        [{"name": "orders", "source": {"table": "o2"}}],
    )


def test_start_stop_reset_record_what_is_asked(http: httpx.Client, redis_client: redis.Redis) -> None:
    _put(http, {"files": FILES, "active": False})
    started = http.post("/api/v2/pipelines/default/start").json()
    stopped = http.post("/api/v2/pipelines/default/stop").json()
    reset = http.post("/api/v2/pipelines/default/reset").json()
    meta = PipelineStore(redis_client).meta()
    assert ((started["active"], stopped["active"], reset["reset"]), (meta.active, meta.reset, meta.version)) == (
        (True, False, 1),
        (False, 1, 1),
    )


def test_redeploy_keeps_a_stopped_pipeline_stopped(http: httpx.Client) -> None:
    _put(http, {"files": FILES})
    http.post("/api/v2/pipelines/default/stop")
    assert _put(http, {"files": FILES}).json()["active"] is False


def test_status_shows_the_controller_view_and_snapshot_progress(http: httpx.Client, redis_client: redis.Redis) -> None:
    _put(http, {"files": FILES})
    redis_client.set(keys.HA_LOCK, "node-a")
    observed = PipelineStatus("running", 5, [], [Component("collector-pg", "collector", "running", pid=7)], True,
                              1, 0, "node-a", 3, 9)  # fmt: skip
    write_status(redis_client, "default", observed, holder="node-a")
    redis_client.hset(keys.collector_status("pg"), mapping={"snapshot:public.orders": "25/100", "updated_at": 11})
    redis_client.xadd("data:pg.public.orders", {"key": "{}", "value": "{}"})
    status = http.get("/api/v2/pipelines/default/status").json()
    assert (status["status"], status["current"], status["components"][0]["pid"], status["sources"]["pg"],
            status["streams"]["data:pg.public.orders"]["pending"]) == (
        "running", True, 7,
        {"phase": "snapshot", "heartbeat_ms": 0, "updated_at_ms": 11,
         "tables": {"public.orders": {"rows": 25, "estimate": 100, "percent": 25.0}}},
        1,
    )  # fmt: skip


def test_delete_removes_the_pipeline(http: httpx.Client) -> None:
    _put(http, {"files": FILES})
    deleted = http.delete("/api/v2/pipelines/default")
    assert (deleted.status_code, http.get("/api/v2/pipelines/default").status_code) == (200, 404)


def test_a_bad_pipeline_name_is_a_request_error(http: httpx.Client) -> None:
    reply = http.get("/api/v2/pipelines/bad name!")
    assert (reply.status_code, reply.json()["detail"]["code"]) == (400, "request_validation_error")


@pytest.mark.postgres
def test_validate_tables_connects_to_postgres_and_names_missing_tables(http: httpx.Client, pg_dsn: str) -> None:
    info = psycopg.conninfo.conninfo_to_dict(pg_dsn)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS orders, ghosts")
        conn.execute("CREATE TABLE orders (id int primary key)")
    http.put("/api/v2/pipelines/default/secrets/SOURCE_DB_PASSWORD", json={"value": str(info.get("password", ""))})
    config = CONFIG.format(host=info["host"], port=info["port"])
    ghost = JOB.replace("orders", "ghosts")
    good = http.put("/api/v2/pipelines/default", json={"files": {"config.yaml": config, "jobs/orders.yaml": JOB}})
    bad = http.put("/api/v2/pipelines/default", json={"files": {"config.yaml": config, "jobs/ghosts.yaml": ghost}})
    assert (good.status_code, bad.status_code, bad.json()["detail"]["errors"]) == (
        200,
        400,
        [{"file": "jobs/ghosts.yaml", "line": 0, "field": "source.table",
          "message": "table `ghosts` does not exist in `pg`"}],
    )  # fmt: skip


@pytest.mark.mysql
def test_validate_tables_checks_mariadb_databases(http: httpx.Client, mysql_params: dict[str, Any]) -> None:
    import pymysql

    conn = pymysql.connect(**mysql_params)
    try:
        with conn.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS orders")
            cursor.execute("CREATE TABLE orders (id int primary key)")
        conn.commit()
    finally:
        conn.close()
    http.put("/api/v2/pipelines/default/secrets/SOURCE_DB_PASSWORD", json={"value": mysql_params["password"]})
    config = (CONFIG.format(host=mysql_params["host"], port=mysql_params["port"])
              .replace("type: postgresql", "type: mariadb").replace("user: postgres", f"user: {mysql_params['user']}")
              .replace("database: rdi_test", f"database: {mysql_params['database']}"))  # fmt: skip
    ghost = JOB.replace("orders", "ghosts")
    files = {"config.yaml": config, "jobs/orders.yaml": JOB, "jobs/ghosts.yaml": ghost}
    reply = http.put("/api/v2/pipelines/default", json={"files": files})
    assert (reply.status_code, [e["message"] for e in reply.json()["detail"]["errors"]]) == (
        400,
        ["table `ghosts` does not exist in `pg`"],
    )


def test_validate_tables_reports_an_unreachable_source(http: httpx.Client) -> None:
    http.put("/api/v2/pipelines/default/secrets/SOURCE_DB_PASSWORD", json={"value": "pw"})
    config = CONFIG.format(host="127.0.0.1", port=1)
    reply = http.put("/api/v2/pipelines/default", json={"files": {"config.yaml": config}})
    (error,) = reply.json()["detail"]["errors"]
    assert (reply.status_code, error["field"], error["message"].startswith("validate_tables: cannot connect")) == (
        400,
        "sources.pg.connection",
        True,
    )
