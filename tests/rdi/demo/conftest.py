"""Fixtures of the demo tests: a directory PostgreSQL's own user can enter, free ports, the demo's services."""

from __future__ import annotations

import os
import random
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rdi.demo.services import PostgresServer, ValkeyServer, rejson_module, start_postgres, start_valkey


def free_port() -> int:
    """A port nothing listens on now, below the kernel's ephemeral range: a port from that range may be taken
    as the local port of some client connection before the server binds it."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    while True:
        port = random.randrange(20000, max(low, 20001))
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def processes_in(directory: Path) -> list[int]:
    """PIDs of the processes working inside ``directory`` (their current directory is in it)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cwd = Path(os.readlink(proc / "cwd"))
        except OSError:
            continue
        if cwd.is_relative_to(directory):
            found.append(int(proc.name))
    return sorted(found)


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Polls ``condition`` until it gives something truthy, which is returned; fails after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
    return result


@pytest.fixture
def service_dir() -> Iterator[Path]:
    """A fresh directory below /tmp that anyone may enter (pytest's own tmp_path is private to root, and as
    root PostgreSQL runs as another user); deleted afterwards."""
    path = Path(tempfile.mkdtemp(prefix="rdi-demo-test-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@dataclass
class DemoServices:
    """The demo's PostgreSQL (database `shop`) and Valkey with RedisJSON, and the directory they run in."""

    directory: Path
    postgres: PostgresServer
    valkey: ValkeyServer


@pytest.fixture(scope="module")
def demo_services() -> Iterator[DemoServices]:
    path = Path(tempfile.mkdtemp(prefix="rdi-demo-test-"))
    path.chmod(0o755)
    postgres = start_postgres(path / "postgres", free_port(), database="shop")
    try:
        valkey = start_valkey(path / "valkey", free_port(), [rejson_module()])
        try:
            yield DemoServices(path, postgres, valkey)
        finally:
            valkey.stop()
    finally:
        postgres.stop()
        shutil.rmtree(path, ignore_errors=True)
