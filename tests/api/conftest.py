"""`api` (a running `rdi api` over the test Redis, for the whole session) and `http` (a logged-in client)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.api.api_server import ApiServer, running_api


@pytest.fixture(scope="session")
def api(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    with running_api(redis_url, tmp_path_factory.mktemp("api") / "api.log") as server:
        yield server


@pytest.fixture
def http(api: ApiServer, redis_client: object) -> Iterator[httpx.Client]:
    """A client with a bearer token, on a flushed RDI DB."""
    with api.client() as client:
        yield client
