"""End to end with the real Debezium Server: PostgreSQL → ``rdi collector`` (`collector: debezium`, which runs
Debezium Server 3.6 from its cache) → staging → the real ``flows.ingest`` dataflow → Redis.

One pipeline runs for the whole module. The source logs in as a role made for it whose password is unique, so
the tests can check that the password appears nowhere but in the child's environment: not in the generated
properties file, not in the log, not in the Java process's arguments. Values in the target are those RDI writes
(dates as epoch ms, numerics as strings, JSON parsed), which needs the column types the collector publishes.
"""

from __future__ import annotations

import os
import re
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import orjson
import psycopg
import pytest
from psycopg import sql

from ._ingest import Ingest, running_ingest, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

JOBS = {
    "json_docs": """
source: {schema: "{schema}", table: json_docs}
output:
  - uses: redis.write
    with: {data_type: json}
""",
}

TABLES = """
CREATE TABLE {s}.users (id int PRIMARY KEY, name text, score numeric(10,2), born date, active boolean, meta jsonb,
    seen timestamp, seen_tz timestamptz);
CREATE TABLE {s}.json_docs (id int PRIMARY KEY, title text, meta jsonb, n int, price numeric(8,2), at date);
"""


@pytest.fixture(scope="module")
def source_dsn(pg_dsn: str) -> Iterator[str]:
    """A superuser role of its own with a password no other text contains."""
    role, password = f"rdi_dbz_{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN SUPERUSER REPLICATION PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(password)
            )
        )
    url = urlparse(pg_dsn)
    yield urlunparse(url._replace(netloc=f"{role}:{password}@{url.hostname}:{url.port}"))
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", [role])
        conn.execute(sql.SQL("DROP OWNED BY {}; DROP ROLE {}").format(sql.Identifier(role), sql.Identifier(role)))


@pytest.fixture(scope="module")
def ingest(source_dsn: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ingest]:
    folder = tmp_path_factory.mktemp("pipeline")
    with running_ingest(source_dsn, redis_url, folder, jobs=JOBS, start=False, collector="debezium") as run:
        for statement in TABLES.strip().split(";"):
            if statement.strip():
                run.sql(statement)
        run.sql(
            "INSERT INTO {s}.users VALUES (1, 'ann', 12.50, '2020-01-02', true, %s, "
            "'2024-01-01 05:00:00.5', '2024-01-01 10:30:00+05:30')",
            ['{"k": [1, 2]}'],
        )
        run.start_collector()
        run.start_processor()
        run.settle(240)
        yield run


def key_fields(run: Ingest, key: str) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in run.db.hgetall(key).items()}


def json_doc(run: Ingest, key: str) -> Any:
    raw = run.db.execute_command("JSON.GET", key)
    return None if raw is None else orjson.loads(raw)


def test_snapshot_rows_reach_the_target_with_rdi_value_types(ingest: Ingest) -> None:
    assert key_fields(ingest, "users:id:1") == {
        "id": "1",
        "name": "ann",
        "score": "12.50",
        "born": "1577923200000",
        "active": "1",
        "meta": '{"k":[1,2]}',
        "seen": "1704085200500",
        "seen_tz": "2024-01-01T05:00:00.000000Z",
    }


def test_streamed_insert_update_delete_reach_a_json_job(ingest: Ingest) -> None:
    ingest.sql("INSERT INTO {s}.json_docs VALUES (1, 'a', %s, 5, 9.99, '1970-01-02')", ['{"x": {"y": 1}}'])
    ingest.sql("INSERT INTO {s}.json_docs VALUES (2, 'gone', NULL, NULL, NULL, NULL)")
    ingest.sql("UPDATE {s}.json_docs SET n = 6, title = NULL WHERE id = 1")
    ingest.sql("DELETE FROM {s}.json_docs WHERE id = 2")
    ingest.settle()
    assert (json_doc(ingest, "json_docs:id:1"), ingest.db.exists("json_docs:id:2")) == (
        {"id": 1, "title": None, "meta": {"x": {"y": 1}}, "n": 6, "price": "9.99", "at": 86400000},
        0,
    )


def test_the_collector_status_names_debezium_server_and_its_pid(ingest: Ingest) -> None:
    status = {k.decode(): v.decode() for k, v in ingest.db.hgetall("rdi:collector:pg:status").items()}
    assert (status["phase"], status["collector"], status["version"], Path(f"/proc/{status['pid']}").exists()) == (
        "running",
        "debezium-server",
        "3.6.1.Final",
        True,
    )


def test_the_password_is_only_in_the_child_environment(ingest: Ingest, source_dsn: str) -> None:
    password = urlparse(source_dsn).password
    assert password
    found = wait_for(
        lambda: re.search(r"Debezium Server configuration: (\S+)", ingest.log.read_text()), 30, "the properties path"
    )
    properties = Path(found.group(1))
    pid = ingest.db.hget("rdi:collector:pg:status", "pid")
    assert pid is not None
    proc = Path(f"/proc/{int(pid)}")
    text = properties.read_text()
    assert (
        "debezium.source.database.password=${DEBEZIUM_SOURCE_DATABASE_PASSWORD}" in text,
        oct(properties.parent.parent.stat().st_mode & 0o777),
        password in text,
        password in ingest.log.read_text(),
        password.encode() in (proc / "cmdline").read_bytes(),
        f"DEBEZIUM_SOURCE_DATABASE_PASSWORD={password}".encode() in (proc / "environ").read_bytes().split(b"\0"),
    ) == (True, "0o700", False, False, False, True)


def test_a_killed_debezium_server_is_restarted_and_changes_keep_flowing(ingest: Ingest) -> None:
    def status() -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in ingest.db.hgetall("rdi:collector:pg:status").items()}

    before = status()
    os.kill(int(before["pid"]), signal.SIGKILL)
    after = wait_for(
        lambda: (s := status()).get("phase") == "running" and s.get("pid") != before["pid"] and s, 60, "the restart"
    )
    ingest.sql("INSERT INTO {s}.json_docs VALUES (7, 'after restart', NULL, 7, NULL, NULL)")
    ingest.settle(120)
    assert (int(after["restarts"]) - int(before["restarts"]), json_doc(ingest, "json_docs:id:7")["title"]) == (
        1,
        "after restart",
    )


def test_debezium_server_stops_when_the_collector_is_killed(ingest: Ingest) -> None:
    pid = int(ingest.db.hget("rdi:collector:pg:status", "pid") or 0)
    ingest.kill("collector")  # SIGKILL: no chance to stop its child; the child's parent-death signal does
    gone = wait_for(lambda: not Path(f"/proc/{pid}").exists() or _zombie(pid), 60, f"Debezium Server ({pid}) to exit")
    assert gone is True


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
