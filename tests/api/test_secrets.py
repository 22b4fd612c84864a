"""Secrets over real HTTP: names in and out, values encrypted in the RDI DB and never shown anywhere."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import redis
from cryptography.fernet import Fernet

from rdi import keys
from rdi.control.secrets import SecretVault
from tests.api.api_server import SECRETS_KEY, ApiServer
from tests.api.test_pipelines import FILES

pytestmark = pytest.mark.redis

SECRETS = "/api/v2/pipelines/default/secrets"
VALUE = "Zq8-very-secret-value-31337"


def test_secrets_are_listed_by_name_only(http: httpx.Client) -> None:
    created = http.post(SECRETS, json={"key": "SOURCE_DB_PASSWORD", "value": VALUE, "type": "simple"})
    put = http.put(f"{SECRETS}/TARGET_DB_PASSWORD", json={"value": VALUE})
    replies = [created, put, http.get(SECRETS), http.get(f"{SECRETS}/SOURCE_DB_PASSWORD")]
    assert [r.json() for r in replies] == [
        {"key": "SOURCE_DB_PASSWORD"},
        {"key": "TARGET_DB_PASSWORD"},
        [{"key": "SOURCE_DB_PASSWORD"}, {"key": "TARGET_DB_PASSWORD"}],
        {"key": "SOURCE_DB_PASSWORD"},
    ]


def test_stored_values_decrypt_with_the_servers_key(http: httpx.Client, redis_client: redis.Redis) -> None:
    http.put(f"{SECRETS}/PW", json={"value": VALUE})
    token = redis_client.hget(keys.pipeline_secrets(), "PW")
    assert (Fernet(SECRETS_KEY.encode()).decrypt(token.encode()).decode(),
            SecretVault(redis_client, key=SECRETS_KEY.encode()).resolve()) == (VALUE, {"PW": VALUE})  # fmt: skip


def test_delete_then_get_is_not_found(http: httpx.Client) -> None:
    http.put(f"{SECRETS}/PW", json={"value": VALUE})
    replies = [http.delete(f"{SECRETS}/PW"), http.get(f"{SECRETS}/PW"), http.delete(f"{SECRETS}/PW")]
    assert [r.status_code for r in replies] == [200, 404, 404]


def test_a_bad_secret_name_is_a_request_error(http: httpx.Client) -> None:
    reply = http.post(SECRETS, json={"key": "1 bad", "value": "v"})
    assert (reply.status_code, reply.json()["detail"]["code"]) == (400, "operation_error")


def _dump(client: redis.Redis) -> list[tuple[str, Any]]:
    """Every key of the RDI DB with its content, except the vault's encrypted values."""
    out: list[tuple[str, Any]] = []
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        if key == keys.pipeline_secrets():
            content: Any = client.hkeys(key)
        elif kind == "hash":
            content = client.hgetall(key)
        elif kind == "string":
            content = client.get(key)
        elif kind == "set":
            content = client.smembers(key)
        elif kind == "stream":
            content = client.xrange(key)
        else:
            content = kind
        out.append((key, content))
    return out


def test_a_secret_value_never_appears_in_responses_logs_or_the_rdi_db(
    api: ApiServer, http: httpx.Client, redis_client: redis.Redis
) -> None:
    http.put(f"{SECRETS}/SOURCE_DB_PASSWORD", json={"value": VALUE})
    http.put("/api/v2/pipelines/default", json={"files": FILES}, params={"validate_tables": "false"})
    paths = ["/api/v2/pipelines", "/api/v2/pipelines/default", "/api/v2/pipelines/default/status", SECRETS,
             f"{SECRETS}/SOURCE_DB_PASSWORD", "/api/v2/pipelines/default/metric-collections",
             "/api/v2/pipelines/default/dlqs", "/api/v2/info", "/openapi.json"]  # fmt: skip
    bodies = [http.get(p).text for p in paths]
    bodies.append(http.post("/api/v2/pipelines/default/start").text)
    bodies.append(http.put("/api/v2/pipelines/default", json={"files": FILES}, params={"dry_run": "true"}).text)
    found = {
        "responses": [p for p, b in zip([*paths, "start", "dry-run"], bodies, strict=True) if VALUE in b],
        "log": VALUE in api.log.read_text(),
        "rdi db": [k for k, content in _dump(redis_client) if VALUE in repr(content)],
    }
    assert (found, len(bodies)) == ({"responses": [], "log": False, "rdi db": []}, 11)
