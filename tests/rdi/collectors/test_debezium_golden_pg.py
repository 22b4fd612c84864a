"""Golden format, PostgreSQL: rdi's collector and the real Debezium Server 3.6 stage equal keys and values.

The type corpus of ``test_pg_type_corpus`` (typical, extreme, all-NULL and TOASTed rows) is snapshotted by both
(``r``), then changed while both stream: the rows inserted again under new ids (``c``), an update of another
column of the TOASTed row (``u``, unchanged TOAST → placeholder), an update under REPLICA IDENTITY FULL, a delete
(``d``). Every entry's key, ``before``, ``after`` and ``op`` must agree (README "Debezium Server"); only the
differences listed in ``INTENTIONAL`` are allowed, each with the reason rdi keeps it.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psycopg
import pytest
import redis
from psycopg import sql

from ._golden import collectors, differences, entries
from ._pg_pipeline import wait_for
from .test_pg_type_corpus import BIG_BLOB, BIG_TEXT, CREATE, EXTREME, TYPICAL

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

# (phase, column) → why rdi's value differs from Debezium Server's on purpose (README "Debezium Server");
# phase is `snapshot` (op r) or `stream` (c/u/d).
INTENTIONAL: dict[tuple[str, str], str] = {
    ("snapshot", "c_date"): "Debezium's JDBC snapshot turns date ±infinity into other days than its streaming does",
    ("snapshot", "c_date_bc"): "Debezium's JDBC snapshot reads dates before 1582 in the Julian calendar",
    ("snapshot", "c_int_2d"): "Debezium writes a multi-dimensional array as nulls; rdi keeps the nested arrays",
    ("stream", "c_int_2d"): "Debezium writes a multi-dimensional array as nulls; rdi keeps the nested arrays",
    ("stream", "c_name"): "Debezium streams a `name` column as null; rdi writes its text (as Debezium's snapshot)",
}


def _config(pg_dsn: str, redis_url: str, schema: str) -> str:
    pg, rd = urlparse(pg_dsn), urlparse(redis_url)
    sources = ""
    for name, collector in (("nat", "native"), ("dbz", "debezium")):
        quarkus = "\n      quarkus: {http.port: 0}" if collector == "debezium" else ""
        sources += f"""
  {name}:
    type: cdc
    collector: {collector}
    connection:
      type: postgresql
      host: {pg.hostname}
      port: {pg.port}
      database: {pg.path.lstrip("/")}
      user: {pg.username}
      password: ${{SOURCE_DB_PASSWORD}}
    schemas: [{schema}]
    advanced:
      source:
        slot.name: {schema}_{name}
        publication.name: {schema}_{name}
        publication.autocreate.mode: filtered{quarkus}"""
    target = f"{{type: redis, host: {rd.hostname}, port: {rd.port}}}"
    return f"sources:{sources}\ntargets:\n  target:\n    connection: {target}\n"


@pytest.fixture(scope="module")
def captured(pg_dsn: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    schema = f"golden_{uuid.uuid4().hex[:10]}"
    folder: Path = tmp_path_factory.mktemp("golden-pg")
    (folder / "config.yaml").write_text(_config(pg_dsn, redis_url, schema))
    db = redis.Redis.from_url(redis_url)
    streams = (f"data:nat.{schema}.corpus", f"data:dbz.{schema}.corpus")
    state = ("metadata:debezium:offsets", '["redis",{"server":"nat"}]', '["redis",{"server":"dbz"}]')
    db.delete(*streams, "rdi:collector:nat:snapshot")
    db.hdel(*state)  # positions left by an earlier run would skip the snapshot
    conn = psycopg.connect(pg_dsn, autocommit=True)
    ident = sql.Identifier(schema).as_string(conn)

    def run(statement: str, params: Any = None) -> None:
        conn.execute(statement.replace("{s}", ident), params)

    def staged(count: int) -> bool:
        return all(db.xlen(s) >= count for s in streams)

    try:
        for extension in ("hstore", "citext", "ltree"):
            with contextlib.suppress(psycopg.errors.UniqueViolation):
                conn.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(extension)))
        run("CREATE SCHEMA {s}")
        run(CREATE)
        run(TYPICAL)
        run(EXTREME)
        run("INSERT INTO {s}.corpus (id) VALUES (3)")
        run("INSERT INTO {s}.corpus (id, c_big, c_blob) VALUES (4, %s, %s)", [BIG_TEXT, BIG_BLOB])
        password = urlparse(pg_dsn).password or ""
        with collectors(folder, redis_url, password, "nat", "dbz") as logs:
            wait_for(lambda: staged(4), 180, f"both snapshots; logs in {logs}")
            run(TYPICAL.replace("VALUES (1,", "VALUES (11,"))
            run(EXTREME.replace("VALUES (2,", "VALUES (12,"))
            run("UPDATE {s}.corpus SET c_int = 5 WHERE id = 4")
            run("UPDATE {s}.corpus SET c_text = 'changed', c_numeric_p = 1.5 WHERE id = 1")
            run("DELETE FROM {s}.corpus WHERE id = 2")
            run("ALTER TABLE {s}.corpus REPLICA IDENTITY FULL")
            run("UPDATE {s}.corpus SET c_int = 6 WHERE id = 4")
            run("DELETE FROM {s}.corpus WHERE id = 3")
            wait_for(lambda: staged(11), 120, f"both streams; logs in {logs}")
        yield entries(db, streams[0]), entries(db, streams[1])
    finally:
        for name in ("nat", "dbz"):
            slot = f"{schema}_{name}"
            conn.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s", [slot]
            )
            conn.execute(sql.SQL("DROP PUBLICATION IF EXISTS {}").format(sql.Identifier(slot)))
        run("DROP SCHEMA IF EXISTS {s} CASCADE")
        conn.close()
        db.delete(*streams, "rdi:collector:nat:snapshot")
        db.hdel(*state)
        db.close()


def test_both_collectors_stage_the_same_operations_in_the_same_order(captured: tuple[Any, Any]) -> None:
    native, debezium = captured
    assert ([e["value"]["op"] for e in native], [e["value"]["op"] for e in debezium]) == (
        ["r", "r", "r", "r", "c", "c", "u", "u", "d", "u", "d"],
        ["r", "r", "r", "r", "c", "c", "u", "u", "d", "u", "d"],
    )


def test_keys_and_row_images_equal_debeziums(captured: tuple[Any, Any]) -> None:
    native, debezium = captured
    found = [d for d in differences(native, debezium) if (_phase(d[1]), d[3]) not in INTENTIONAL]
    assert found == [], "\n".join(repr(d)[:300] for d in found)


def _phase(op: str | None) -> str:
    return "snapshot" if op == "r" else "stream"
