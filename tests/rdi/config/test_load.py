"""Loading files into models: names, legacy forms, defaults, folder handling and the JSON schema."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rdi.config import (
    Pipeline,
    SqlConnection,
    json_schema,
    load_config_text,
    load_job_text,
    load_pipeline,
    parse_config,
    parse_job,
)
from rdi.config.job import AddFieldBlock
from rdi.errors import ConfigError

CONFIG = """\
sources:
  pg:
    connection: {type: postgresql, host: db, port: 5432}
targets:
  target:
    connection: {type: redis, host: cache, port: 6379}
"""
JOB = "source:\n  table: {table}\noutput:\n  - uses: redis.write\n"


def _folder(tmp_path: Path, jobs: dict[str, str]) -> Path:
    (tmp_path / "config.yaml").write_text(CONFIG)
    (tmp_path / "jobs").mkdir()
    for name, text in jobs.items():
        (tmp_path / "jobs" / name).write_text(text)
    return tmp_path


def test_job_name_defaults_to_the_file_stem() -> None:
    assert load_job_text(JOB.format(table="orders"), "jobs/orders-job.yaml").name == "orders-job"


def test_job_name_in_the_file_wins_over_the_stem() -> None:
    assert load_job_text("name: mine\n" + JOB.format(table="t"), "jobs/other.yaml").name == "mine"


def test_pipeline_jobs_are_keyed_by_name_in_order_including_yml(tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"b.yaml": JOB.format(table="b"), "a.yml": JOB.format(table="a"), "x.txt": "junk"})
    assert list(load_pipeline(folder, env={}).jobs) == ["a", "b"]


def test_a_missing_folder_is_one_issue(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"{tmp_path / 'nope'}: pipeline folder not found")):
        load_pipeline(tmp_path / "nope")


def test_legacy_connections_and_applier_become_targets_and_processors() -> None:
    text = "connections:\n  pg_out: {type: postgresql, host: pg, port: 5432}\napplier:\n  write_batch_size: 50\n"
    config = load_config_text(text, env={})
    assert (type(config.targets["pg_out"].connection), config.processors.write_batch_size) == (
        SqlConnection,
        50,
    )


def test_null_processors_take_every_default() -> None:
    config = load_config_text(CONFIG + "processors:\n", env={})
    assert config.processors.model_dump(include={"read_batch_size", "write_batch_size", "dlq_max_messages"}) == {
        "read_batch_size": 2000,
        "write_batch_size": 200,
        "dlq_max_messages": 1000,
    }


def test_advanced_aliases_win_over_processor_settings() -> None:
    text = CONFIG + (
        "processors:\n  read_batch_size: 10\n  target_data_type: hash\n  error_handling: dlq\n"
        "  advanced:\n    source: {batch.size: 99}\n"
        "    processor: {default.data.type: json, dlq.enabled: false}\n"
    )
    p = load_config_text(text, env={}).processors
    assert (p.effective_read_batch_size, p.effective_target_data_type, p.effective_error_handling) == (
        99,
        "json",
        "ignore",
    )


def test_source_timing_and_pattern_take_the_advanced_keys_only_when_written() -> None:
    plain = load_config_text(CONFIG + "processors:\n  read_batch_timeout_ms: 30\n", env={}).processors
    text = CONFIG + (
        "processors:\n  read_batch_timeout_ms: 30\n  idle_streams_check_interval_ms: 500\n"
        "  advanced:\n    source: {batch.timeout.ms: 7, discovery.interval.ms: 250, stream.name.pattern: 'data:{x}*'}\n"
    )
    tuned = load_config_text(text, env={}).processors
    assert [
        (p.effective_read_batch_timeout_ms, p.effective_discovery_interval_ms, p.effective_stream_pattern)
        for p in (plain, tuned)
    ] == [(30, 1000, "data:*"), (7, 250, "data:{x}*")]


def test_single_form_add_field_is_read_as_a_one_item_fields_list() -> None:
    text = "source: {table: t}\ntransform:\n  - uses: add_field\n"
    text += "    with: {field: a, language: jmespath, expression: b}\n"
    block = load_job_text(text).transform[0]
    assert isinstance(block, AddFieldBlock) and [f.field for f in block.with_.fields] == ["a"]


def test_expressions_are_compiled_at_load() -> None:
    text = JOB.format(table="t") + "    with:\n      key: {language: jmespath, expression: \"concat(['k:', id])\"}\n"
    out = load_job_text(text).output[0]
    assert out.with_.key is not None and out.with_.key.compiled.evaluate({"id": "7"}) == "k:7"  # type: ignore[union-attr]


def test_parsed_payloads_report_issues_without_lines() -> None:
    with pytest.raises(ConfigError, match=re.escape("config.yaml: processors.dedup: expected true or false, got 'x'")):
        parse_config({"processors": {"dedup": "x"}}, env={})


def test_parse_job_names_the_job() -> None:
    assert parse_job({"source": {"table": "t"}}, name="api-job").name == "api-job"


def test_pipeline_problems_are_empty_for_a_consistent_pipeline(tmp_path: Path) -> None:
    pipeline = load_pipeline(_folder(tmp_path, {"a.yaml": JOB.format(table="a")}), env={})
    assert Pipeline(pipeline.config, pipeline.jobs).problems() == []


def test_json_schema_describes_config_and_job() -> None:
    schema = json_schema()
    assert (sorted(schema), "secret-providers" in schema["config"]["properties"], schema["job"]["title"]) == (
        ["config", "job"],
        True,
        "Job",
    )
