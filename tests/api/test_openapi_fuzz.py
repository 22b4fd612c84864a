"""schemathesis against our own OpenAPI document, authenticated: no generated request gets a 5xx."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.api.api_server import ApiServer

pytestmark = pytest.mark.redis

CONFIG = '[parameters]\n"path.name" = "default"\n"path.full_table_name" = "pg.public.orders"\n'
PIPELINE = {"files": {"config.yaml": "sources: {}\ntargets: {target: {connection: {type: redis, host: h, port: 1}}}\n"}}


def test_generated_requests_get_no_server_error(api: ApiServer, http: httpx.Client, tmp_path: Path) -> None:
    http.put("/api/v2/pipelines/default", json=PIPELINE, params={"validate_tables": "false"})
    http.post("/api/v2/pipelines/default/secrets", json={"key": "PW", "value": "x"})
    (tmp_path / "schemathesis.toml").write_text(CONFIG)
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(tmp_path / "schemathesis.toml"), "run",
        f"{api.url}/openapi.json", "--header", f"Authorization: Bearer {api.login()}", "--checks",
        "not_a_server_error", "--max-examples", "10", "--workers", "1", "--seed", "1", "--no-color",
    ]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False, cwd=tmp_path)
    assert (run.returncode, " 500 " in api.log.read_text()) == (0, False), run.stdout[-4000:]
