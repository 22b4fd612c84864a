"""The live demo: the real collector stages the shop's snapshot and live changes; `rdi demo` runs end to end and
stops everything it started."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
import redis

from rdi import keys
from rdi.demo.live import SOURCE, DemoOptions, LiveDemo, pipeline_env, start_collector
from rdi.demo.progress import read_progress
from rdi.demo.shop import create_shop
from rdi.errors import FatalError

from .conftest import DemoServices, free_port, processes_in, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def _ops(client: redis.Redis, stream: str, last: int) -> list[tuple[str, int]]:
    out = []
    entries: Any = client.xrevrange(stream, count=last)
    for _id, fields in entries[::-1]:
        value = orjson.loads(fields[b"value"])
        row = value["after"] or value["before"]
        out.append((value["op"], row["id"]))
    return out


def test_the_collector_stages_the_snapshot_then_live_changes(demo_services: DemoServices) -> None:
    postgres, valkey = demo_services.postgres, demo_services.valkey
    create_shop(postgres.dsn, customers=20, products=5, orders=100)
    client = redis.Redis.from_url(valkey.url)
    collector = start_collector(demo_services.directory, valkey.url, pipeline_env(postgres.port, valkey.port))
    try:
        wait_for(lambda: read_progress(client, SOURCE, keys.consumer_group()).phase == "streaming", 30, "the snapshot")
        snapshot = read_progress(client, SOURCE, keys.consumer_group()).snapshot
        with psycopg.connect(postgres.dsn, autocommit=True) as conn:
            conn.execute("INSERT INTO orders (id, customer_id, product_id, quantity, status, total) "
                         "VALUES (1000, 1, 1, 1, 'paid', 9.99)")  # fmt: skip
            conn.execute("UPDATE orders SET status = 'shipped' WHERE id = 1")
            conn.execute("DELETE FROM orders WHERE id = 2")
        orders = keys.staging_stream(SOURCE, "public", "orders")
        wait_for(lambda: client.xlen(orders) >= 103, 30, "three live changes")
        live = _ops(client, orders, 3)
    finally:
        status = collector.stop()
        client.close()
    assert (snapshot, live, status) == (
        {"customers": "20/20", "products": "5/5", "orders": "100/100"},
        [("c", 1000), ("u", 1), ("d", 2)],
        0,
    )


def test_rdi_demo_runs_end_to_end_and_stops_everything(service_dir: Path) -> None:
    state = service_dir / "state"
    argv = [sys.executable, "-m", "rdi", "demo", "--dir", str(state), "--pg-port", str(free_port()),
            "--redis-port", str(free_port()), "--metrics-port", str(free_port()), "--orders", "100",
            "--interval", "0.05", "--duration", "8"]  # fmt: skip
    run = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    lines = run.stdout.splitlines()
    stopped = next((line for line in lines if line.startswith("stopped ")), "")
    pids = [int(p) for p in re.findall(r"pid (\d+)", stopped)]
    alive = [p for p in pids if Path(f"/proc/{p}").exists()]
    summary = {
        "status": run.returncode,
        "snapshot complete": any(line.startswith("snapshot complete") for line in lines),
        "live changes processed": any(re.search(r"streaming .* changes [1-9]", line) for line in lines),
        "keys shown": any("HGETALL customer:1 →" in line for line in lines),
        "stopped": re.sub(r"\d+", "N", stopped),
        "left running": alive + processes_in(service_dir),
        "data left": sorted(p.name for p in state.rglob("*") if p.name != "pgwheel" and p.name != "postgres"),
    }
    assert summary == {
        "status": 0,
        "snapshot complete": True,
        "live changes processed": True,
        "keys shown": True,
        "stopped": "stopped processor (pid N), collector (pid N), valkey (pid N), postgres (pid N)",
        "left running": [],
        "data left": [],
    }, run.stdout + run.stderr


def test_a_busy_demo_port_is_refused_before_anything_starts(service_dir: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        demo = LiveDemo(DemoOptions(service_dir, pg_port=free_port(), redis_port=port, metrics_port=free_port()))
        message = (
            f"--redis-port: 127.0.0.1:{port} is already in use; choose another port with --redis-port or "
            "RDI_DEMO_REDIS_PORT"
        )
        with pytest.raises(FatalError, match=re.escape(message)):
            demo.check_ports()
