"""Login against the RDI DB's users, and bearer tokens on every route but info and health."""

from __future__ import annotations

import httpx
import jwt
import pytest

from tests.api.api_server import JWT_KEY, USER, USER_PASSWORD, ApiServer

pytestmark = pytest.mark.redis


def test_login_returns_a_bearer_token_for_an_rdi_db_user(api: ApiServer) -> None:
    reply = httpx.post(f"{api.url}/api/v1/login", json={"username": USER, "password": USER_PASSWORD})
    body = reply.json()
    claims = jwt.decode(body["access_token"], JWT_KEY, algorithms=["HS256"])
    assert (reply.status_code, body["token_type"], claims["sub"]) == (200, "bearer", USER)


def test_a_wrong_password_is_rejected(api: ApiServer) -> None:
    reply = httpx.post(f"{api.url}/api/v1/login", json={"username": USER, "password": "nope"})
    assert (reply.status_code, reply.json()) == (
        401,
        {"detail": {"code": "unauthorized", "message": "the RDI database rejected these credentials", "errors": []}},
    )


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-token"}])
def test_routes_need_a_valid_token(api: ApiServer, headers: dict[str, str]) -> None:
    reply = httpx.get(f"{api.url}/api/v2/pipelines", headers=headers)
    assert (reply.status_code, reply.json()["detail"]["code"], reply.headers["www-authenticate"]) == (
        401,
        "unauthorized",
        "Bearer",
    )


def test_an_expired_token_is_rejected(api: ApiServer) -> None:
    token = jwt.encode({"sub": USER, "iat": 1, "exp": 2}, JWT_KEY, algorithm="HS256")
    reply = httpx.get(f"{api.url}/api/v2/pipelines", headers={"Authorization": f"Bearer {token}"})
    assert reply.status_code == 401


def test_info_health_and_docs_need_no_token(api: ApiServer, redis_client: object) -> None:
    replies = [httpx.get(f"{api.url}{path}") for path in ("/api/v2/info", "/healthz", "/docs", "/openapi.json")]
    info = replies[0].json()
    assert ([r.status_code for r in replies], info["api_version"], info["leader_election"]) == (
        [200, 200, 200, 200],
        "v2",
        "disabled",
    )
