"""``rdi processor`` (restarts a dead dataflow) and a two-process Bytewax cluster of ``flows.ingest``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from ._ingest import REPO, free_port, group_drained, stage_rows, target_only_pipeline, wait_for

pytestmark = [pytest.mark.redis]


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(child) for child in text]
    return found


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
    if process.poll() is None:
        process.send_signal(sig)
    try:
        return process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def test_rdi_processor_restarts_a_killed_dataflow_and_stops_cleanly(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    target_only_pipeline(tmp_path, redis_url)
    db = redis.Redis.from_url(redis_url)
    stream = stage_rows(db, "first", range(100))
    log = tmp_path / "processor.log"
    env = {**os.environ, "RDI_DB_URL": redis_url}
    command = [sys.executable, "-m", "rdi", "processor", "--dir", str(tmp_path), "--metrics-port", "off"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, cwd=REPO, stdout=out, stderr=out)
    try:
        wait_for(lambda: group_drained(db, [stream]) and db.exists("first:id:99"), 60, "the first rows", log=log)
        (first_child,) = children(process.pid)
        os.kill(first_child, signal.SIGKILL)
        second = stage_rows(db, "second", range(100))
        wait_for(lambda: group_drained(db, [second]) and db.exists("second:id:99"), 60, "rows after the kill", log=log)
        (second_child,) = children(process.pid)
        code = stop(process)
        assert (
            second_child != first_child,
            code,
            children_alive(second_child),
            "restarting in" in log.read_text(),
        ) == (
            True,
            0,
            False,
            True,
        )
    finally:
        stop(process, signal.SIGKILL)


def children_alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def test_two_processes_share_the_streams_and_write_everything(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    target_only_pipeline(tmp_path, redis_url)
    db = redis.Redis.from_url(redis_url)
    streams = [stage_rows(db, f"t{n}", range(200)) for n in range(6)]
    addresses = f"127.0.0.1:{free_port()};127.0.0.1:{free_port()}"
    env = {**os.environ, "RDI_DB_URL": redis_url, "RDI_PIPELINE_DIR": str(tmp_path), "RDI_METRICS_PORT": "off"}
    log = tmp_path / "cluster.log"
    processes = []
    with log.open("wb") as out:
        for process_id in (0, 1):
            command = [sys.executable, "-m", "bytewax.run", "flows.ingest", "-i", str(process_id), "-a", addresses]
            processes.append(subprocess.Popen(command, env=env, cwd=REPO, stdout=out, stderr=out))
    try:
        wait_for(lambda: group_drained(db, streams), 90, "both processes to drain the streams", log=log)
        written = sorted(k.decode() for k in db.scan_iter(match="t*:id:*", count=1000))
        alive = [p.poll() is None for p in processes]
        assert (len(written), alive) == (1200, [True, True])
    finally:
        for process in processes:
            stop(process, signal.SIGKILL)
