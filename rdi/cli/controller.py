"""`rdi controller`: run the control plane of one pipeline in the foreground until SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

import redis

from rdi.control.controller import Controller, ControllerOptions
from rdi.control.secrets import SecretVault
from rdi.metrics import serve_metrics

__all__ = ["run_controller"]

log = logging.getLogger("rdi.controller")


def run_controller(options: ControllerOptions, *, metrics_port: int | None, metrics_addr: str = "0.0.0.0") -> int:
    """Runs the controller; returns the exit code (0 after a signal, 2 when the metrics port is taken).

    On SIGTERM/SIGINT the data plane is stopped (SIGTERM by PID, then SIGKILL) and the lease released, so a
    standby controller takes over at once: restarting controllers one after the other is a rolling upgrade.
    """
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    client = redis.Redis.from_url(options.rdi_url, socket_timeout=max(options.lease_ttl_ms / 4000.0, 0.5))
    vault = SecretVault.from_env(client, options.pipeline)
    controller = Controller(client, options, secrets=vault.resolve)
    server = None
    if metrics_port is not None:
        try:
            server = serve_metrics(controller.metrics, metrics_port, metrics_addr, ready=controller.ready)
        except OSError as exc:
            print(f"rdi controller: metrics port {metrics_port}: {exc.strerror}; use --metrics-port", file=sys.stderr)
            return 2
        log.info("metrics on http://%s:%d/metrics (/healthz, /readyz)", metrics_addr, server.port)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("stopping (signal %d): stopping the data plane, releasing the lease", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("controller `%s` for pipeline `%s` (lease TTL %d ms)", options.instance_id, options.pipeline,
             options.lease_ttl_ms)  # fmt: skip
    try:
        controller.run(stop)
    finally:
        if server is not None:
            server.close()
        client.close()
    return 0
