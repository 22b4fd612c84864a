"""Serving the API: uvicorn, plain HTTP or TLS when a certificate and key are given."""

from __future__ import annotations

import logging
from pathlib import Path

import uvicorn

from rdi.api.app import ApiSettings, create_app

__all__ = ["serve"]


def serve(
    settings: ApiSettings,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    log_level: str = "info",
) -> None:
    """Runs until SIGINT/SIGTERM. Access logs name method, path and status only (never bodies)."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
        log_level=log_level,
        server_header=False,
    )
