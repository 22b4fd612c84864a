"""A pipeline as the API carries it (``config`` + ``jobs`` as JSON) and as the RDI DB keeps it (files).

RDI's API body is ``{"name", "active", "config": {...config.yaml...}, "jobs": [{"name": ..., ...job...}]}``;
:func:`files_from_body` turns it into ``config.yaml`` + ``jobs/<name>.yaml`` texts and :func:`body_from_files`
back. rdi also accepts the files themselves (``files``: path → text), which keeps comments and real line
numbers. :func:`validate_files` is the one check every deploy goes through.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from rdi.config import Pipeline, load_pipeline
from rdi.errors import ConfigError, ConfigIssue
from rdi.jobs import JobRouter
from rdi.processor import write_defaults

__all__ = ["JOB_NAME", "body_from_files", "check_paths", "files_from_body", "validate_files"]

JOB_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)


def files_from_body(config: Mapping[str, Any], jobs: list[Any]) -> dict[str, str]:
    """``config.yaml`` and one ``jobs/<name>.yaml`` per job. Raises ConfigError for jobs without a usable name."""
    files = {"config.yaml": _dump(dict(config))}
    issues: list[ConfigIssue] = []
    for i, job in enumerate(jobs):
        name = job.get("name") if isinstance(job, dict) else None
        if not isinstance(job, dict):
            issues.append(ConfigIssue(f"jobs[{i}]", 0, "", f"a job must be an object, got {type(job).__name__}"))
        elif not isinstance(name, str) or not JOB_NAME.fullmatch(name):
            message = f"must be a name of letters, digits, `_`, `.`, `-` (at most 128), got {name!r}"
            issues.append(ConfigIssue(f"jobs[{i}]", 0, "name", message))
        elif f"jobs/{name}.yaml" in files:
            issues.append(ConfigIssue(f"jobs[{i}]", 0, "name", f"job name `{name}` is used twice"))
        else:
            files[f"jobs/{name}.yaml"] = _dump(job)
    if issues:
        raise ConfigError(issues)
    return files


def body_from_files(files: Mapping[str, str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The ``config`` object and the ``jobs`` list (by name) of deployed files; unparsable files give ``{}``."""
    config = _load(files.get("config.yaml", ""))
    jobs: list[dict[str, Any]] = []
    for path in sorted(p for p in files if p.startswith("jobs/")):
        job = _load(files[path])
        name = job.get("name") if isinstance(job.get("name"), str) else PurePosixPath(path).stem
        jobs.append({"name": name, **{k: v for k, v in job.items() if k != "name"}})
    return config, sorted(jobs, key=lambda j: str(j["name"]))


def _load(text: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def check_paths(files: Mapping[str, str]) -> list[ConfigIssue]:
    """Issues for paths a pipeline folder cannot hold: only ``config.yaml`` and ``jobs/<name>.yaml|yml``."""
    issues = []
    for path in files:
        parts = PurePosixPath(path).parts
        fine = path == "config.yaml" or (
            len(parts) == 2 and parts[0] == "jobs" and parts[1].endswith((".yaml", ".yml")) and ".." not in parts
        )
        if not fine:
            issues.append(ConfigIssue(path, 0, "", "not a pipeline file (expected config.yaml or jobs/<name>.yaml)"))
    if "config.yaml" not in files:
        issues.append(ConfigIssue("config.yaml", 0, "", "file not found (a pipeline needs a config.yaml)"))
    return issues


def validate_files(
    files: Mapping[str, str], *, env: Mapping[str, str] | None = None, resolve_secrets: bool = False
) -> Pipeline:
    """Loads the files as ``rdi validate`` would (every issue at once); raises ConfigError.

    With ``resolve_secrets``, ``${NAME}`` references are resolved from ``env`` (an unresolved one is an issue).
    """
    issues = check_paths(files)
    if issues:
        raise ConfigError(issues)
    with tempfile.TemporaryDirectory(prefix="rdi-api-") as tmp:
        for relative, text in files.items():
            path = Path(tmp, relative)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        pipeline = load_pipeline(tmp, env=env or {}, resolve_secrets=resolve_secrets)
    JobRouter(pipeline.jobs, write_defaults(pipeline.config.processors))  # what only the jobs together tell
    return pipeline
