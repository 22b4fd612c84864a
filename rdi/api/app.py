"""The FastAPI application: settings, shared state, authentication and the translation of errors to replies."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Annotated, Any

import redis
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from rdi.api.auth import TokenSigner
from rdi.api.errors import ApiError
from rdi.control.secrets import SecretVaultError
from rdi.control.store import VERSION, PipelineNotFoundError
from rdi.errors import ConfigError, ConfigIssue

__all__ = ["ApiSettings", "ApiState", "create_app", "current_user", "state"]

DEFAULT_PROCESSOR_METRICS_URL = "http://127.0.0.1:9121/metrics"


@dataclass(frozen=True)
class ApiSettings:
    rdi_url: str
    jwt_key: bytes
    token_ttl_s: int = 3600
    secrets_key: bytes | None = None
    processor_metrics_url: str = DEFAULT_PROCESSOR_METRICS_URL


@dataclass
class ApiState:
    settings: ApiSettings
    client: redis.Redis
    signer: TokenSigner


def state(request: Request) -> ApiState:
    found: ApiState = request.app.state.rdi
    return found


_bearer = HTTPBearer(auto_error=False, description="`POST /api/v1/login` returns the token.")


def current_user(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> str:
    """The user of a valid bearer token; 401 otherwise."""
    if credentials is None:
        raise ApiError(401, "unauthorized", "missing bearer token; log in with POST /api/v1/login")
    user = state(request).signer.verify(credentials.credentials)
    if user is None:
        raise ApiError(401, "unauthorized", "invalid or expired token; log in again with POST /api/v1/login")
    return user


def _reply(error: ApiError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    return JSONResponse(error.body(), status_code=error.status, headers=headers)


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return _reply(exc)


async def _request_invalid(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    issues = []
    for error in exc.errors():
        loc = [str(p) for p in error.get("loc", ())]
        where, path = (loc[0], loc[1:]) if loc else ("request", [])
        issues.append(ConfigIssue(where, 0, ".".join(path), str(error.get("msg", "invalid"))))
    return _reply(ApiError(400, "request_validation_error", "the request is invalid", issues))


async def _config_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ConfigError)
    return _reply(ApiError(400, "validation_error", "the pipeline is invalid; nothing was changed", exc.issues))


async def _not_found(_: Request, exc: Exception) -> JSONResponse:
    return _reply(ApiError(404, "not_found", str(exc)))


async def _vault_error(_: Request, exc: Exception) -> JSONResponse:
    return _reply(ApiError(400, "operation_error", str(exc)))


async def _rdi_db_down(_: Request, exc: Exception) -> JSONResponse:
    return _reply(ApiError(503, "unavailable", f"the RDI database cannot be reached: {type(exc).__name__}"))


def create_app(settings: ApiSettings) -> FastAPI:
    """The API over the RDI DB at ``settings.rdi_url``; docs at ``/docs``, schema at ``/openapi.json``."""
    from rdi.api.routes import dlqs, jobs, login, metrics, pipelines, secrets

    app = FastAPI(
        title="rdi API",
        version=VERSION,
        description="Redis Data Integration (open source) control plane, RDI API v2 shapes. "
        "Log in with `POST /api/v1/login`, then send `Authorization: Bearer <token>`.",
    )
    client = redis.Redis.from_url(settings.rdi_url, socket_connect_timeout=5, socket_timeout=30)
    app.state.rdi = ApiState(settings, client, TokenSigner(settings.jwt_key, settings.token_ttl_s))
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _request_invalid)
    app.add_exception_handler(ConfigError, _config_error)
    app.add_exception_handler(PipelineNotFoundError, _not_found)
    app.add_exception_handler(SecretVaultError, _vault_error)
    app.add_exception_handler(redis.ConnectionError, _rdi_db_down)
    app.add_exception_handler(redis.TimeoutError, _rdi_db_down)

    @app.get("/", include_in_schema=False)
    def _root() -> RedirectResponse:
        return RedirectResponse("/docs")

    @app.get("/healthz", tags=["info"], summary="Liveness (no authentication)")
    def _health() -> dict[str, Any]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["info"],
        summary="Readiness: the RDI database answers (no authentication)",
        responses={503: {"description": "The RDI database cannot be reached"}},
    )
    def _ready() -> JSONResponse:
        try:
            client.ping()
        except redis.RedisError as exc:
            reason = f"the RDI database cannot be reached: {type(exc).__name__}"
            return JSONResponse({"status": "not ready", "reason": reason}, status_code=503)
        return JSONResponse({"status": "ready"})

    app.include_router(login.router)
    app.include_router(pipelines.info_router)
    authenticated = [Depends(current_user)]
    for module in (pipelines, dlqs, secrets, metrics, jobs):
        app.include_router(module.router, dependencies=authenticated)
    return app


def settings_from_env(rdi_url: str, env: dict[str, str] | None = None) -> ApiSettings:
    """Settings for ``rdi_url`` from ``RDI_API_JWT_KEY[_FILE]``, ``RDI_API_TOKEN_TTL_S``, ``RDI_SECRETS_KEY[_FILE]``
    and ``RDI_PROCESSOR_METRICS_URL``. Raises ConfigError / SecretVaultError for bad values."""
    from rdi.api.auth import load_jwt_key
    from rdi.control.secrets import load_key

    env = dict(os.environ) if env is None else env
    key, _ = load_jwt_key(env)
    ttl_text = env.get("RDI_API_TOKEN_TTL_S", "3600")
    if not ttl_text.isdigit() or int(ttl_text) < 1:
        raise ConfigError([ConfigIssue("RDI_API_TOKEN_TTL_S", 0, "", f"must be a positive integer, got {ttl_text!r}")])
    return ApiSettings(
        rdi_url=rdi_url,
        jwt_key=key,
        token_ttl_s=int(ttl_text),
        secrets_key=load_key(env),
        processor_metrics_url=env.get("RDI_PROCESSOR_METRICS_URL") or DEFAULT_PROCESSOR_METRICS_URL,
    )
