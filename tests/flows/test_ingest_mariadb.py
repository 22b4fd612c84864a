"""End to end from MariaDB: the real MySQL/MariaDB collector → staging → the real ``flows.ingest`` → Redis, with
the RDI type table applied from the column types the collector publishes."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import redis

from tests.fix_services import parse_mysql_url
from tests.rdi.collectors._mysql_pipeline import execute, write_pipeline

from ._ingest import REPO, stop_process, wait_for

pytestmark = [pytest.mark.mysql, pytest.mark.redis]


@pytest.fixture
def mariadb_ingest(mysql_url: str, redis_url: str, tmp_path: Path) -> Iterator[tuple[str, redis.Redis, Path]]:
    database = f"e2e_{uuid.uuid4().hex[:10]}"
    db = redis.Redis.from_url(redis_url)
    db.flushdb()
    execute(
        mysql_url,
        f"CREATE DATABASE `{database}`",
        f"CREATE TABLE `{database}`.people (id INT PRIMARY KEY, name VARCHAR(20), born DATE, active TINYINT(1),"
        " price DECIMAL(8,2), meta JSON, seen DATETIME(3))",
        f"INSERT INTO `{database}`.people VALUES (1, 'ann', '2020-01-02', 1, 12.50, '{{\"k\": [1, 2]}}',"
        " '2024-01-02 03:04:05.678')",
    )
    write_pipeline(tmp_path, mysql_url, database=database)
    port = urlparse(redis_url).port
    config = tmp_path / "config.yaml"
    config.write_text(config.read_text().replace("port: 6379}", f"port: {port}}}"))
    env = {**os.environ, "SOURCE_DB_PASSWORD": str(parse_mysql_url(mysql_url)["password"]), "RDI_DB_URL": redis_url,
           "RDI_PIPELINE_DIR": str(tmp_path), "RDI_METRICS_PORT": "off"}  # fmt: skip
    log = tmp_path / "run.log"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with log.open("wb") as out:
            for command in (
                [sys.executable, "-m", "rdi", "collector", "--dir", str(tmp_path), "--source", "my"],
                [sys.executable, "-m", "bytewax.run", "flows.ingest"],
            ):
                processes.append(subprocess.Popen(command, env=env, cwd=REPO, stdout=out, stderr=out))
        yield database, db, log
    finally:
        for process in processes:
            stop_process(process)
        execute(mysql_url, f"DROP DATABASE IF EXISTS `{database}`")
        db.flushdb()


def fields(db: redis.Redis, key: str) -> dict[str, Any]:
    return {k.decode(): v.decode() for k, v in db.hgetall(key).items()}


def test_snapshot_and_binlog_changes_reach_redis_with_rdi_values(
    mariadb_ingest: tuple[str, redis.Redis, Path], mysql_url: str
) -> None:
    database, db, log = mariadb_ingest
    wait_for(lambda: db.exists("people:id:1"), 60, "the snapshot row in Redis", log=log)
    execute(
        mysql_url,
        f"INSERT INTO `{database}`.people VALUES (2, 'bob', NULL, 0, 3.00, NULL, NULL)",
        f"UPDATE `{database}`.people SET name = 'anna' WHERE id = 1",
        f"INSERT INTO `{database}`.people VALUES (3, 'cy', NULL, NULL, NULL, NULL, NULL)",
        f"DELETE FROM `{database}`.people WHERE id = 3",
    )
    wait_for(
        lambda: (
            fields(db, "people:id:1").get("name") == "anna"
            and db.exists("people:id:2")
            and not db.exists("people:id:3")
            and db.xinfo_groups(f"data:my.{database}.people")[0]["lag"] == 0
        ),
        60,
        "the binlog changes in Redis",
        log=log,
    )
    assert (fields(db, "people:id:1"), fields(db, "people:id:2")) == (
        {
            "id": "1",
            "name": "anna",
            "born": "1577923200000",
            "active": "1",
            "price": "12.50",
            "meta": '{"k":[1,2]}',
            "seen": "1704164645678",
        },
        {"id": "2", "name": "bob", "active": "0", "price": "3.00"},
    )
