"""Fixtures for the real services the tests use: Redis + RedisJSON, PostgreSQL, MariaDB.

`redis_url`, `pg_dsn` and `mysql_url` are session-scoped strings (`mysql_params` is `mysql_url` as
`pymysql.connect` keyword arguments). Each first asks the service whether it answers; if it does not, the
fixture starts it with `bash tests/services.sh start <name>` and, having started it, stops it again at the
end of the session (the script stops it by its PID file). A service that was already running is left alone.
Nothing is ever skipped: a service that cannot be reached or started fails the test with the reason.

The addresses come from `RDI_TEST_REDIS_URL`, `RDI_TEST_PG_DSN` and `RDI_TEST_MYSQL_URL` when set (then
nothing is started: the service is the caller's), otherwise from `bash tests/services.sh env`.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TypedDict
from urllib.parse import unquote, urlsplit

import psycopg
import pymysql  # type: ignore[import-untyped]
import pytest
import redis

__all__ = [
    "MySQLParams",
    "mysql_params",
    "mysql_url",
    "parse_mysql_url",
    "pg_dsn",
    "redis_client",
    "redis_url",
]

SCRIPT = Path(__file__).with_name("services.sh")
_START_TIMEOUT_S = 300


class MySQLParams(TypedDict):
    """`pymysql.connect` keyword arguments, taken from a `mysql://user:password@host:port/database` URL."""

    host: str
    port: int
    user: str
    password: str
    database: str


def parse_mysql_url(url: str) -> MySQLParams:
    """Split a `mysql://` URL into `pymysql.connect` keyword arguments."""
    parts = urlsplit(url)
    if parts.scheme != "mysql":
        msg = f"expected a `mysql://` URL, got {url!r} instead"
        raise ValueError(msg)
    return MySQLParams(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306,
        user=unquote(parts.username or "root"),
        password=unquote(parts.password or ""),
        database=parts.path.lstrip("/"),
    )


def _probe_redis(url: str) -> None:
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    try:
        client.ping()
    finally:
        client.close()


def _probe_postgres(dsn: str) -> None:
    with psycopg.connect(dsn, connect_timeout=2, autocommit=True) as conn:
        conn.execute("SELECT 1")


def _probe_mysql(url: str) -> None:
    conn = pymysql.connect(**parse_mysql_url(url), connect_timeout=2)
    conn.close()


@dataclass(frozen=True)
class _Service:
    name: str
    env_var: str
    probe: Callable[[str], None]


def _run_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=_START_TIMEOUT_S,
        check=False,
    )


@cache
def _script_env() -> dict[str, str]:
    """The default addresses, as printed by `services.sh env` (`export NAME=value` lines)."""
    result = _run_script("env")
    if result.returncode != 0:
        msg = f"`bash {SCRIPT} env` exited {result.returncode}:\n{result.stderr}"
        raise RuntimeError(msg)
    pairs = (line.removeprefix("export ").split("=", 1) for line in result.stdout.splitlines())
    return {name: value for name, value in pairs}


def _answers(service: _Service, address: str) -> str | None:
    """None when the service answers, else why not."""
    try:
        service.probe(address)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _ensure(service: _Service) -> Iterator[str]:
    given = os.environ.get(service.env_var)
    address = given or _script_env()[service.env_var]
    problem = _answers(service, address)
    if problem is None:
        yield address
        return
    if given:
        pytest.fail(f"{service.env_var}={address} does not answer ({problem})", pytrace=False)
    if _run_script("status", service.name).returncode == 0:
        pytest.fail(
            f"the {service.name} test service runs (it has a live PID file) but {address} does not answer "
            f"({problem}); try `bash tests/services.sh restart {service.name}`",
            pytrace=False,
        )
    started = _run_script("start", service.name)
    if started.returncode != 0:
        pytest.fail(
            f"could not start the {service.name} test service: `bash tests/services.sh start {service.name}` "
            f"exited {started.returncode}:\n{started.stderr}",
            pytrace=False,
        )
    try:
        problem = _answers(service, address)
        if problem is not None:
            pytest.fail(
                f"the {service.name} test service started but {address} does not answer ({problem})",
                pytrace=False,
            )
        yield address
    finally:
        _run_script("stop", service.name)


_REDIS = _Service("redis", "RDI_TEST_REDIS_URL", _probe_redis)
_POSTGRES = _Service("postgres", "RDI_TEST_PG_DSN", _probe_postgres)
_MYSQL = _Service("mysql", "RDI_TEST_MYSQL_URL", _probe_mysql)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """`redis://127.0.0.1:16379/0`: Redis 7 with the RedisJSON module loaded, no persistence."""
    yield from _ensure(_REDIS)


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """`postgresql://postgres:postgres@127.0.0.1:15432/rdi_test`: PostgreSQL 18, `wal_level=logical`."""
    yield from _ensure(_POSTGRES)


@pytest.fixture(scope="session")
def mysql_url() -> Iterator[str]:
    """`mysql://root:root@127.0.0.1:13306/rdi_test`: MariaDB, ROW binlog (FULL image and metadata), GTID."""
    yield from _ensure(_MYSQL)


@pytest.fixture(scope="session")
def mysql_params(mysql_url: str) -> MySQLParams:
    """`mysql_url` as `pymysql.connect(**mysql_params)` keyword arguments."""
    return parse_mysql_url(mysql_url)


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A client (`decode_responses=True`) on a database flushed before the test; closed after it."""
    client: redis.Redis = redis.Redis.from_url(redis_url, decode_responses=True)
    client.flushdb()
    try:
        yield client
    finally:
        client.close()
