"""RDI's JSON form of a pipeline ↔ the files the RDI DB keeps (pure)."""

from __future__ import annotations

import re

import pytest

from rdi.api.pipeline_files import body_from_files, check_paths, files_from_body
from rdi.errors import ConfigError, ConfigIssue

CONFIG = {"targets": {"target": {"connection": {"type": "redis", "host": "h", "port": 6379}}}}
JOB = {"name": "orders", "source": {"table": "orders"}, "output": [{"uses": "redis.write"}]}


def test_json_form_round_trips_through_files() -> None:
    files = files_from_body(CONFIG, [JOB])
    assert (sorted(files), body_from_files(files)) == (["config.yaml", "jobs/orders.yaml"], (CONFIG, [JOB]))


def test_a_job_without_a_name_takes_its_file_stem() -> None:
    files = {"config.yaml": "{}\n", "jobs/stock.yaml": "source: {table: stock}\n"}
    assert body_from_files(files) == ({}, [{"name": "stock", "source": {"table": "stock"}}])


def test_jobs_need_distinct_file_safe_names() -> None:
    with pytest.raises(ConfigError) as caught:
        files_from_body(CONFIG, [JOB, JOB, {"name": "../x"}, "job"])
    assert caught.value.issues == [
        ConfigIssue("jobs[1]", 0, "name", "job name `orders` is used twice"),
        ConfigIssue("jobs[2]", 0, "name", "must be a name of letters, digits, `_`, `.`, `-` (at most 128), got '../x'"),
        ConfigIssue("jobs[3]", 0, "", "a job must be an object, got str"),
    ]


def test_only_pipeline_files_are_accepted() -> None:
    issues = check_paths({"jobs/../../etc/passwd.yaml": "", "notes.txt": ""})
    assert [(i.file, re.sub(r" \(.*", "", i.message)) for i in issues] == [
        ("jobs/../../etc/passwd.yaml", "not a pipeline file"),
        ("notes.txt", "not a pipeline file"),
        ("config.yaml", "file not found"),
    ]
