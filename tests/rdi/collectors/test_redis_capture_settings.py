"""Which key patterns the write-behind capture tracks, and its `advanced.source` settings (pure)."""

from __future__ import annotations

import re

import pytest

from rdi.collectors.settings import CapturePattern, RedisCaptureSettings, capture_patterns
from rdi.config import Job, Source
from rdi.errors import ConfigError


def _job(pattern: str, exclude: list[str] | None = None, server: str | None = None) -> Job:
    source: dict[str, object] = {"redis": {"key_pattern": pattern, "exclude_commands": exclude or []}}
    if server:
        source["server_name"] = server
    write = {"connection": "out", "schema": "", "table": "t", "keys": ["id"]}
    return Job.model_validate({"source": source, "output": [{"uses": "relational.write", "with": write}]})


def test_a_pattern_excludes_only_what_all_of_its_jobs_exclude() -> None:
    jobs = {"a": _job("cust:*", ["hdel", "DEL"]), "b": _job("cust:*", ["hdel"]), "c": _job("doc:*")}
    assert capture_patterns(jobs, None) == (CapturePattern("cust:*", frozenset({"hdel"})), CapturePattern("doc:*"))


def test_with_several_redis_sources_a_job_belongs_to_the_source_it_names() -> None:
    jobs = {"a": _job("cust:*", server="app1"), "b": _job("doc:*", server="app2"), "c": _job("x:*")}
    assert capture_patterns(jobs, "app2") == (CapturePattern("doc:*"),)


def test_settings_come_from_the_source_and_its_advanced_block() -> None:
    source = Source.model_validate({
        "connection": {"type": "redis", "host": "app", "port": 6380, "user": "u", "password": "p"},
        "advanced": {"source": {"rdi.capture": "keyspace", "rdi.capture.db": 2, "rdi.capture.chunk.keys": 50}},
    })  # fmt: skip
    s = RedisCaptureSettings.from_source("app", source, {"a": _job("cust:*")})
    assert (s.host, s.port, s.user, s.password, s.mode, s.db, s.chunk_keys, s.patterns) == (
        "app", 6380, "u", "p", "keyspace", 2, 50, (CapturePattern("cust:*"),)
    )  # fmt: skip


def test_an_unknown_capture_mode_is_a_config_error() -> None:
    source = Source.model_validate(
        {"connection": {"type": "redis", "host": "app", "port": 6379}, "advanced": {"source": {"rdi.capture": "aof"}}}
    )
    message = "config.yaml: sources.app.advanced.source.rdi.capture: 'aof' is not one of auto, psync, keyspace"
    with pytest.raises(ConfigError, match=re.escape(message)):
        RedisCaptureSettings.from_source("app", source, {})


def test_the_legacy_form_captures_the_rdi_db_without_its_own_keys() -> None:
    s = RedisCaptureSettings.for_rdi_db("legacy", "rediss://user:p%40ss@rdi.internal:6390/3", {"a": _job("*")})
    assert (s.host, s.port, s.user, s.password, s.db, s.tls, s.own_keys_excluded) == (
        "rdi.internal", 6390, "user", "p@ss", 3, True, True
    )  # fmt: skip
