"""The embedded services: PostgreSQL (as the caller, or as `rdi-postgres` when root) and Valkey with RedisJSON
start, answer and stop by PID, leaving no process behind."""

from __future__ import annotations

import os
import pwd
import re
import signal
import socket
from pathlib import Path

import psycopg
import pytest
import redis

from rdi.demo.services import PG_OS_USER, rejson_module, spawn, start_postgres, start_valkey
from rdi.errors import FatalError

from .conftest import free_port, processes_in, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def _uid(pid: int) -> int:
    return Path(f"/proc/{pid}").stat().st_uid


def test_postgres_runs_with_logical_decoding_as_the_right_user_and_stops(service_dir: Path) -> None:
    server = start_postgres(service_dir / "pg", free_port(), database="shop")
    with psycopg.connect(server.dsn) as conn:
        row = conn.execute("SELECT current_database(), current_setting('wal_level')").fetchone()
    owner = _uid(server.pid)
    inside = processes_in(service_dir) != []
    server.stop()
    expected_owner = pwd.getpwnam(PG_OS_USER).pw_uid if os.geteuid() == 0 else os.geteuid()
    assert (row, owner, inside, processes_in(service_dir), (service_dir / "pg" / "postgres.pid").exists()) == (
        ("shop", "logical"),
        expected_owner,
        True,
        [],
        False,
    )


def test_postgres_restarts_on_its_existing_data(service_dir: Path) -> None:
    first = start_postgres(service_dir / "pg", free_port(), database="shop")
    with psycopg.connect(first.dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (id int); INSERT INTO kept VALUES (7)")
    first.stop()
    second = start_postgres(service_dir / "pg", free_port(), database="shop")
    try:
        with psycopg.connect(second.dsn) as conn:
            rows = conn.execute("SELECT id FROM kept").fetchall()
    finally:
        second.stop()
    assert rows == [(7,)]


def test_valkey_loads_redisjson_and_stops(service_dir: Path) -> None:
    server = start_valkey(service_dir / "valkey", free_port(), [rejson_module()])
    client = redis.Redis.from_url(server.url, decode_responses=True)
    try:
        client.execute_command("JSON.SET", "doc", "$", '{"a": {"b": [1, 2]}}')  # type: ignore[no-untyped-call]
        value = client.execute_command("JSON.GET", "doc", "$.a.b[1]")  # type: ignore[no-untyped-call]
    finally:
        client.close()
    server.stop()
    assert (value, processes_in(service_dir)) == ("[2]", [])


def test_a_service_left_by_a_killed_run_is_stopped_by_the_next_start(service_dir: Path) -> None:
    port = free_port()
    leftover = start_valkey(service_dir / "valkey", port)  # its caller "dies": nobody stops it
    server = start_valkey(service_dir / "valkey", port)
    leftover_status = leftover.process.popen.wait(timeout=10)
    running = processes_in(service_dir)
    server.stop()
    assert (leftover_status, running, processes_in(service_dir)) == (0, [server.pid], [])


def test_a_busy_port_is_one_line_with_the_fix(service_dir: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        message = f"valkey: port 127.0.0.1:{port} is already in use by another process; choose another port"
        with pytest.raises(FatalError, match=re.escape(message)):
            start_valkey(service_dir / "valkey", port)


def test_a_process_that_ignores_the_stop_signal_is_killed(service_dir: Path) -> None:
    process = spawn(
        "stubborn",
        ["sh", "-c", "trap '' TERM; echo ready; sleep 60"],
        log=service_dir / "stubborn.log",
        owner=service_dir,
    )
    wait_for(lambda: process.log.read_text() == "ready\n", 10, "the trap to be set")
    status = process.stop(timeout=0.5)
    assert (status, processes_in(service_dir)) == (-signal.SIGKILL, [])
