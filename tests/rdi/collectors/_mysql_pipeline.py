"""Shared pieces of the MySQL/MariaDB collector's integration tests: a pipeline folder, a scratch database."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pymysql

from tests.fix_services import parse_mysql_url


def write_pipeline(
    folder: Path,
    mysql_url: str,
    *,
    database: str,
    chunk: int = 10_000,
    options: Mapping[str, object] = {},
    tables: str = "",
    source: str = "my",
) -> None:
    """A pipeline whose source ``source`` (`mariadb`) captures ``database``; ``options`` are more `advanced.source`
    properties, ``tables`` a `tables:` block (indented under the source)."""
    params = parse_mysql_url(mysql_url)
    extra = "".join(f"        {k}: {v}\n" for k, v in options.items())
    (folder / "jobs").mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(f"""
sources:
  {source}:
    type: cdc
    connection:
      type: mariadb
      host: {params["host"]}
      port: {params["port"]}
      user: {params["user"]}
      password: ${{SOURCE_DB_PASSWORD}}
    databases: [{database}]
{tables}    advanced:
      source:
        rdi.snapshot.chunk.size: {chunk}
{extra}targets:
  target:
    connection: {{type: redis, host: 127.0.0.1, port: 6379}}
""")


def connect(mysql_url: str, database: str | None = None, autocommit: bool = True) -> pymysql.Connection[Any]:
    params: dict[str, Any] = dict(parse_mysql_url(mysql_url))
    params["database"] = database
    return pymysql.connect(**params, autocommit=autocommit, init_command="SET time_zone = '+00:00'")


def execute(mysql_url: str, *statements: str, database: str | None = None) -> None:
    conn = connect(mysql_url, database)
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    finally:
        conn.close()
