"""The write-behind capture gets `/healthz` and `/readyz` from `rdi collector`'s one dispatch, like every collector
(the Kubernetes chart probes them): 503 while its application Redis is down, 200 once it captures."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import redis

from ._redis_capture import AppRedis, Capture, capture_source, free_port, wait_for, write_pipeline

pytestmark = pytest.mark.redis


def _status(port: int, path: str) -> int | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2).status_code
    except httpx.HTTPError:
        return None


def test_the_capture_is_ready_while_it_runs_and_not_while_its_redis_is_down(
    tmp_path: Path, rdi_db: redis.Redis, redis_url: str
) -> None:
    port = free_port()
    with capture_source(rdi_db) as source:
        down = write_pipeline(tmp_path / "down", source, free_port(), {"customers": "cust:*"})  # nothing listens
        capture = Capture(down, source, redis_url, env={"RDI_COLLECTOR_HEALTH_PORT": str(port)}).start()
        try:
            wait_for(lambda: "starting over" in capture.log.read_text(), "the capture to back off", capture)
            backing_off = [_status(port, "/healthz"), _status(port, "/readyz")]
        finally:
            capture.stop()
        with AppRedis(tmp_path) as app:
            folder = write_pipeline(tmp_path / "up", source, app.port, {"customers": "cust:*"})
            capture = Capture(folder, source, redis_url, env={"RDI_COLLECTOR_HEALTH_PORT": str(port)}).start()
            try:
                wait_for(lambda: _status(port, "/readyz") == 200, "the capture to be ready", capture)
                running = [_status(port, "/healthz"), _status(port, "/readyz")]
            finally:
                capture.stop()
    assert (backing_off, running) == ([200, 503], [200, 200])
