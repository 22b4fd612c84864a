"""A small HTTP server for the processor's metrics: ``GET /metrics`` (Prometheus text) and ``GET /healthz``
(and ``GET /readyz`` when given a readiness check; the controller serves its metrics with it too).

Runs in a daemon thread of the processor's process, next to Bytewax's own API server (which, when
``BYTEWAX_DATAFLOW_API_ENABLED`` is set, serves only prometheus_client's default registry on its port).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4
from typing_extensions import override

__all__ = ["MetricsServer", "Renders", "serve_health", "serve_metrics"]


class Renders(Protocol):
    """Anything that renders a Prometheus text exposition (e.g. :class:`rdi.metrics.ProcessorMetrics`)."""

    def render(self) -> bytes: ...


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        path = self.path.partition("?")[0]
        if path == "/metrics" and self.server.metrics is not None:
            self._reply(200, self.server.metrics.render(), CONTENT_TYPE_PLAIN_0_0_4)
        elif path == "/healthz":
            self._reply(200, b"ok", "text/plain; charset=utf-8")
        elif path == "/readyz" and self.server.ready is not None:
            ready = self.server.ready()
            self._reply(200 if ready else 503, b"ready" if ready else b"not ready", "text/plain; charset=utf-8")
        else:
            self._reply(404, b"not found: try /metrics, /healthz or /readyz", "text/plain; charset=utf-8")

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    @override
    def log_message(self, format: str, *args: Any) -> None:
        pass  # scraped every few seconds: no access log


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], metrics: Renders | None, ready: Callable[[], bool] | None) -> None:
        self.metrics = metrics
        self.ready = ready
        super().__init__(address, _Handler)


class MetricsServer:
    """A running metrics endpoint; :meth:`close` stops it and frees the port."""

    def __init__(self, server: _Server) -> None:
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="rdi-metrics-http", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        """The port it listens on (the ephemeral one chosen when started with port 0)."""
        return int(self._server.server_address[1])

    def close(self) -> None:
        """Stop serving, close the socket and wait for the server thread. Idempotent."""
        if not self._thread.is_alive():
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def serve_metrics(
    metrics: Renders, port: int, addr: str = "0.0.0.0", *, ready: Callable[[], bool] | None = None
) -> MetricsServer:
    """Serve ``metrics`` on ``addr:port`` (``port=0``: any free port, see :attr:`MetricsServer.port`);
    with ``ready``, ``GET /readyz`` answers 200 when it returns true, else 503.

    Raises ``OSError`` if the address cannot be bound (e.g. the port is in use).
    """
    return MetricsServer(_Server((addr, port), metrics, ready))


def serve_health(ready: Callable[[], bool], port: int, addr: str = "0.0.0.0") -> MetricsServer:
    """Serve only ``GET /healthz`` (200 while the process runs) and ``GET /readyz`` (200 when ``ready()``, else
    503) on ``addr:port``, for a component without metrics of its own (a collector).

    Raises ``OSError`` if the address cannot be bound.
    """
    return MetricsServer(_Server((addr, port), None, ready))
