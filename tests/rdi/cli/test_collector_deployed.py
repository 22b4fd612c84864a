"""`rdi collector` without `--dir` reads the pipeline deployed in the RDI DB — resolved for itself, and with its
`${...}` references kept for Debezium Server's properties file (whose values go only to the child's environment)."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from rdi.cli.main import _load_deployed
from rdi.control.store import PipelineStore

pytestmark = pytest.mark.redis

CONFIG = (Path(__file__).parents[2] / "cases" / "config" / "valid" / "collector_debezium.yaml").read_text()


def test_the_deployed_pipeline_keeps_references_only_when_asked(
    redis_client: redis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    PipelineStore(redis_client).deploy({"config.yaml": CONFIG})
    monkeypatch.setenv("SOURCE_DB_PASSWORD", "s3cret-value")
    kept = _load_deployed(redis_url, "default", resolve_secrets=False).config.sources
    resolved = _load_deployed(redis_url, "default", resolve_secrets=True).config.sources
    source = next(iter(kept))
    secrets = [s[source].connection.password for s in (kept, resolved)]  # type: ignore[union-attr]
    assert [s.get_secret_value() for s in secrets if s is not None] == ["${SOURCE_DB_PASSWORD}", "s3cret-value"]
