"""Smoke tests: the services started by `tests/services.sh` have what CDC and the Redis writer need."""

from __future__ import annotations

from typing import Any

import psycopg
import pymysql  # type: ignore[import-untyped]
import pytest
import redis


@pytest.mark.redis
def test_redisjson_set_and_get(redis_client: redis.Redis) -> None:
    redis_client.json().set("smoke:doc", "$", {"id": 1, "tags": ["a"]})
    assert redis_client.json().get("smoke:doc", "$") == [{"id": 1, "tags": ["a"]}]


@pytest.mark.redis
def test_redisjson_merge(redis_client: redis.Redis) -> None:
    redis_client.json().set("smoke:doc", "$", {"id": 1, "name": "x", "gone": True})
    redis_client.json().merge("smoke:doc", "$", {"name": "y", "gone": None, "new": 2})
    assert redis_client.json().get("smoke:doc") == {"id": 1, "name": "y", "new": 2}


@pytest.mark.redis
def test_redis_client_starts_on_an_empty_database(redis_client: redis.Redis) -> None:
    assert redis_client.dbsize() == 0


@pytest.mark.postgres
def test_postgres_settings_for_logical_decoding(pg_dsn: str) -> None:
    names = ("wal_level", "max_replication_slots", "max_wal_senders")
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        settings = {name: conn.execute(f"SHOW {name}").fetchone() for name in names}
    assert settings == {
        "wal_level": ("logical",),
        "max_replication_slots": ("20",),
        "max_wal_senders": ("20",),
    }


@pytest.mark.postgres
def test_postgres_pgoutput_slot_is_created_and_dropped(pg_dsn: str) -> None:
    columns = "slot_name, plugin, slot_type, database"
    slots = f"SELECT {columns} FROM pg_replication_slots WHERE slot_name = 'rdi_smoke'"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_create_logical_replication_slot('rdi_smoke', 'pgoutput')")
        created = conn.execute(slots).fetchall()
        conn.execute("SELECT pg_drop_replication_slot('rdi_smoke')")
        dropped = conn.execute(slots).fetchall()
    assert (created, dropped) == ([("rdi_smoke", "pgoutput", "logical", "rdi_test")], [])


@pytest.mark.mysql
def test_mysql_binlog_settings(mysql_params: dict[str, Any]) -> None:
    names = (
        "log_bin",
        "binlog_format",
        "binlog_row_image",
        "binlog_row_metadata",
        "log_bin_compress",
        "gtid_strict_mode",
        "server_id",
    )
    with pymysql.connect(**mysql_params) as conn, conn.cursor() as cur:
        cur.execute("SELECT " + ", ".join(f"@@{name}" for name in names))
        values = cur.fetchone()
    assert values == (1, "ROW", "FULL", "FULL", 0, 1, 1)


def _gtid(position: str) -> tuple[int, ...]:
    return tuple(int(part) for part in position.split("-"))


@pytest.mark.mysql
def test_mysql_gtid_advances_on_insert(mysql_params: dict[str, Any]) -> None:
    with pymysql.connect(**mysql_params, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("CREATE OR REPLACE TABLE rdi_smoke_gtid (id INT PRIMARY KEY, name VARCHAR(20))")
        cur.execute("SELECT @@gtid_current_pos")
        (before,) = cur.fetchone() or ("",)
        cur.execute("INSERT INTO rdi_smoke_gtid VALUES (1, 'a')")
        cur.execute("SELECT @@gtid_current_pos")
        (after,) = cur.fetchone() or ("",)
        cur.execute("DROP TABLE rdi_smoke_gtid")
    domain, server, sequence = _gtid(before)
    assert _gtid(after) == (domain, server, sequence + 1)
