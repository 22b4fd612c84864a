"""``rdi api``: serve the REST API over the RDI DB (uvicorn; TLS when a certificate and key are given)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["api"]


def api(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", envvar="RDI_API_HOST", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", envvar="RDI_API_PORT", min=0, max=65535)] = 8080,
    tls_cert: Annotated[Path | None, typer.Option("--tls-cert", help="PEM certificate (chain): serve HTTPS.")] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="PEM private key of --tls-cert.")] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="debug | info | warning | error")] = "info",
) -> None:
    """Serve the rdi API (RDI v2 shapes; docs at /docs). Needs RDI_API_JWT_KEY and RDI_SECRETS_KEY to be useful."""
    from rdi.api import serve, settings_from_env  # keeps fastapi/uvicorn out of the other commands
    from rdi.api.auth import load_jwt_key
    from rdi.errors import RdiError

    if (tls_cert is None) != (tls_key is None):
        typer.echo("--tls-cert and --tls-key go together (HTTPS needs both)", err=True)
        raise typer.Exit(2)
    for option, path in (("--tls-cert", tls_cert), ("--tls-key", tls_key)):
        if path is not None and not path.is_file():
            typer.echo(f"{option}: {path} does not exist", err=True)
            raise typer.Exit(2)
    if log_level not in ("debug", "info", "warning", "error"):
        typer.echo(f"--log-level: `{log_level}` is not one of debug, info, warning, error", err=True)
        raise typer.Exit(2)
    try:
        settings = settings_from_env(ctx.obj["rdi_url"])
        _, configured = load_jwt_key()
    except RdiError as exc:
        typer.echo(str(exc).lstrip(": "), err=True)
        raise typer.Exit(2) from None
    if not configured:
        typer.echo("warning: RDI_API_JWT_KEY is not set: tokens are signed with a random key and die with this server",
                   err=True)  # fmt: skip
    if settings.secrets_key is None:
        typer.echo("warning: RDI_SECRETS_KEY is not set: secrets cannot be stored", err=True)
    serve(settings, host=host, port=port, tls_cert=tls_cert, tls_key=tls_key, log_level=log_level)
