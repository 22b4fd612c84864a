"""Fixtures of the collector tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from psycopg import sql

from rdi.collectors.pg_replication import drop_slot

from ._mysql_pipeline import execute
from ._pg_pipeline import Running
from ._scratch import Scratch


@pytest.fixture
def scratch(pg_dsn: str) -> Iterator[Scratch]:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        box = Scratch(pg_dsn, conn, uuid.uuid4().hex[:10])
        box.run("CREATE SCHEMA {s}")
        try:
            yield box
        finally:
            for (name,) in conn.execute("SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE %s",
                                        (f"%{box.id}%",)).fetchall():  # fmt: skip
                drop_slot(conn, str(name), terminate_active=True)
            for (name,) in conn.execute("SELECT pubname FROM pg_publication WHERE pubname LIKE %s",
                                        (f"%{box.id}%",)).fetchall():  # fmt: skip
                conn.execute(sql.SQL("DROP PUBLICATION {}").format(sql.Identifier(str(name))))
            box.run("DROP SCHEMA {s} CASCADE")


@pytest.fixture
def running(tmp_path: Path, pg_dsn: str, redis_url: str) -> Iterator[Callable[..., Running]]:
    made: list[Running] = []

    def make(name: str, setup: str, tables: str = "", **options: object) -> Running:
        made.append(Running(tmp_path, pg_dsn, redis_url, name, setup, tables, **options))
        return made[-1].__enter__()

    yield make
    for r in made:
        r.__exit__()


@pytest.fixture
def mysql_db(mysql_url: str) -> Iterator[str]:
    """A fresh MariaDB database for one test (dropped after it): its name."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    execute(mysql_url, f"CREATE DATABASE `{name}`")
    try:
        yield name
    finally:
        execute(mysql_url, f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture
def rdi_db(redis_url: str) -> Iterator[redis.Redis]:
    """The RDI DB (the test Redis service), replies as bytes, not flushed: write-behind capture tests keep to
    their own source's keys."""
    client = redis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        client.close()
