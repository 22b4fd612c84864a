"""Golden format, MariaDB: rdi's collector and the real Debezium Server 3.6 (MariaDB connector) stage equal keys
and values for the type corpus of ``test_mysql_type_corpus``: a row of every type and a row of defaults are
snapshotted (``r``), then, while both stream the binlog, the typical row is inserted again (``c``), one row is
updated (``u``) and one deleted (``d``). Only the differences listed in ``INTENTIONAL`` are allowed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.fix_services import parse_mysql_url

from ._golden import collectors, differences, entries
from ._mysql_pipeline import execute
from ._pg_pipeline import wait_for
from .test_mysql_type_corpus import COLUMNS, VALUES

pytestmark = [pytest.mark.mysql, pytest.mark.redis, pytest.mark.slow]

# (phase, column) → why rdi's value differs from Debezium Server's on purpose (README "Debezium Server").
INTENTIONAL: dict[tuple[str, str], str] = {
    ("snapshot", "ts3"): "Debezium's JDBC snapshot trims a TIMESTAMP(3)'s fraction (`.5Z`), its binlog reader keeps "
    "the column's precision (`.500Z`); rdi writes the binlog form in both phases",
    ("snapshot", "ubi"): "rdi's bigint.unsigned.handling.mode default is `precise`; Debezium's `long` wraps to -1",
    ("stream", "ubi"): "rdi's bigint.unsigned.handling.mode default is `precise`; Debezium's `long` wraps to -1",
}


def _config(mysql_url: str, redis_url: str, database: str) -> str:
    params = parse_mysql_url(mysql_url)
    rd = redis.connection.parse_url(redis_url)
    sources = ""
    for name, collector, server_id in (("nat", "native", 6101), ("dbz", "debezium", 6102)):
        quarkus = "\n      quarkus: {http.port: 0}" if collector == "debezium" else ""
        sources += f"""
  {name}:
    type: cdc
    collector: {collector}
    connection:
      type: mariadb
      host: {params["host"]}
      port: {params["port"]}
      user: {params["user"]}
      password: ${{SOURCE_DB_PASSWORD}}
    databases: [{database}]
    advanced:
      source: {{database.server.id: {server_id}}}{quarkus}"""
    target = f"{{type: redis, host: {rd['host']}, port: {rd['port']}}}"
    return f"sources:{sources}\ntargets:\n  target:\n    connection: {target}\n"


@pytest.fixture(scope="module")
def captured(mysql_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    database = f"golden_{tmp_path_factory.getbasetemp().name[-6:].replace('-', '_')}"
    folder: Path = tmp_path_factory.mktemp("golden-mariadb")
    (folder / "config.yaml").write_text(_config(mysql_url, redis_url, database))
    db = redis.Redis.from_url(redis_url)
    streams = (f"data:nat.{database}.types", f"data:dbz.{database}.types")
    state = ("metadata:debezium:offsets", '["redis",{"server":"nat"}]', '["redis",{"server":"dbz"}]')
    scratch = (*streams, "rdi:collector:nat:snapshot", "metadata:debezium:schema_history:dbz")
    db.delete(*scratch)
    db.hdel(*state)  # positions left by an earlier run would skip the snapshot
    lax = "SET SESSION sql_mode = ''"
    insert = f"INSERT INTO `{database}`.types VALUES (<id>, {VALUES})"
    try:
        execute(mysql_url, f"DROP DATABASE IF EXISTS `{database}`", f"CREATE DATABASE `{database}`")
        execute(mysql_url, lax, f"CREATE TABLE `{database}`.types ({COLUMNS})", insert.replace("<id>", "1"))
        execute(mysql_url, lax, f"INSERT INTO `{database}`.types (id) VALUES (3)")
        password = parse_mysql_url(mysql_url)["password"]
        with collectors(folder, redis_url, password, "nat", "dbz") as logs:
            wait_for(lambda: all(db.xlen(s) >= 2 for s in streams), 180, f"both snapshots; logs in {logs}")
            execute(mysql_url, lax, insert.replace("<id>", "2"))
            execute(mysql_url, lax, f"UPDATE `{database}`.types SET vc = 'changed', de = 1.5 WHERE id = 1")
            execute(mysql_url, lax, f"DELETE FROM `{database}`.types WHERE id = 3")
            wait_for(lambda: all(db.xlen(s) >= 5 for s in streams), 120, f"both streams; logs in {logs}")
        yield entries(db, streams[0]), entries(db, streams[1])
    finally:
        execute(mysql_url, f"DROP DATABASE IF EXISTS `{database}`")
        db.delete(*scratch)
        db.hdel(*state)
        db.close()


def test_both_collectors_stage_the_same_operations_in_the_same_order(captured: tuple[Any, Any]) -> None:
    native, debezium = captured
    assert ([e["value"]["op"] for e in native], [e["value"]["op"] for e in debezium]) == (
        ["r", "r", "c", "u", "d"],
        ["r", "r", "c", "u", "d"],
    )


def test_keys_and_row_images_equal_debeziums(captured: tuple[Any, Any]) -> None:
    native, debezium = captured
    found = [d for d in differences(native, debezium) if (_phase(d[1]), d[3]) not in INTENTIONAL]
    assert found == [], "\n".join(repr(d)[:300] for d in found)


def _phase(op: str | None) -> str:
    return "snapshot" if op == "r" else "stream"
