"""serve_metrics (rdi/metrics/server.py): `/metrics` and `/healthz` over HTTP on 127.0.0.1."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from rdi.metrics import MetricsServer, ProcessorMetrics, serve_metrics


@pytest.fixture
def server() -> Iterator[MetricsServer]:
    metrics = ProcessorMetrics()
    metrics.set_engine_state("RUNNING", "STREAMING")
    running = serve_metrics(metrics, 0, "127.0.0.1")
    try:
        yield running
    finally:
        running.close()


def get(port: int, path: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers["Content-Type"], exc.read()


def test_metrics_endpoint_serves_the_prometheus_text(server: MetricsServer) -> None:
    status, content_type, body = get(server.port, "/metrics")
    lines = body.decode().splitlines()
    names = ["incoming_records_total 0.0", 'rdi_engine_state{state="RUNNING",sync_mode="STREAMING"} 1.0',
             "rdi_processed_batches_total 0.0", "rdi_processor_rec_per_sec_last 0.0"]  # fmt: skip
    assert (status, content_type, [name for name in names if name in lines]) == (
        200,
        "text/plain; version=0.0.4; charset=utf-8",
        names,
    )


def test_healthz_answers_ok(server: MetricsServer) -> None:
    assert get(server.port, "/healthz") == (200, "text/plain; charset=utf-8", b"ok")


def test_unknown_path_is_not_found(server: MetricsServer) -> None:
    assert get(server.port, "/") == (404, "text/plain; charset=utf-8", b"not found: try /metrics, /healthz or /readyz")


def test_close_frees_the_port() -> None:
    first = serve_metrics(ProcessorMetrics(), 0, "127.0.0.1")
    port = first.port
    get(port, "/healthz")
    first.close()
    second = serve_metrics(ProcessorMetrics(), port, "127.0.0.1")
    try:
        assert (second.port, get(port, "/healthz")[0]) == (port, 200)
    finally:
        second.close()


def test_closed_server_refuses_connections() -> None:
    server = serve_metrics(ProcessorMetrics(), 0, "127.0.0.1")
    server.close()
    with pytest.raises(urllib.error.URLError, match="Connection refused"):
        get(server.port, "/healthz")
