"""YAML files → validated models, every mistake reported as `file:line: field: message`.

`load_config_text` and `load_job_text` take the text and the file's name; `load_pipeline` reads a folder
(`config.yaml` + `jobs/*.yaml|yml`), collects every issue of every file and of the checks between files,
and raises one `ConfigError`. `parse_config`/`parse_job` validate already-parsed data (API payloads),
with line 0. No message ever carries a traceback or a resolved secret value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from rdi.config._issues import DataPath, locate_errors, render_path, show_value
from rdi.config._yaml import Document, YamlSyntaxError, parse_yaml
from rdi.config.job import Job
from rdi.config.pipeline import Pipeline, PipelineConfig, normalise_legacy
from rdi.config.secrets import Resolution, SecretStore, resolve_references
from rdi.errors import ConfigError, ConfigIssue

__all__ = ["load_config_text", "load_job_text", "load_pipeline", "parse_config", "parse_job"]

M = TypeVar("M", bound=BaseModel)

_CONFIG_KEYS = "`sources`, `targets`, `processors`, `secret-providers`, `metadata`"


@dataclass
class _Parsed:
    """One file's outcome: the model (None when invalid), its issues, and how to locate later problems."""

    file: str
    model: Any = None
    issues: list[ConfigIssue] = field(default_factory=list)
    doc: Document | None = None
    renames: list[tuple[DataPath, DataPath]] = field(default_factory=list)

    def issue(self, path: DataPath, message: str, *, field_path: DataPath | None = None) -> None:
        original = _rename(path, self.renames)
        shown = _rename(field_path, self.renames) if field_path is not None else original
        line = self.doc.line_of(original) if self.doc is not None else 0
        self.issues.append(ConfigIssue(self.file, line, render_path(shown), message))


def _rename(path: DataPath, renames: list[tuple[DataPath, DataPath]]) -> DataPath:
    for new, old in renames:
        if path[: len(new)] == new:
            return old + path[len(new) :]
    return path


def _parse_document(text: str, parsed: _Parsed, what: str) -> Any:
    try:
        doc = parse_yaml(text)
    except YamlSyntaxError as exc:
        parsed.issues.append(ConfigIssue(parsed.file, exc.line, "", f"invalid YAML: {exc.problem}"))
        return None
    parsed.doc = doc
    for path, line, message in doc.problems:
        parsed.issues.append(ConfigIssue(parsed.file, line, render_path(path), message))
    if doc.empty or doc.data is None:
        parsed.issues.append(ConfigIssue(parsed.file, 1, "", f"the file is empty (expected {what})"))
        return None
    if not isinstance(doc.data, dict):
        got = show_value(doc.data)
        parsed.issues.append(ConfigIssue(parsed.file, doc.line_of(()), "", f"expected {what}, got {got}"))
        return None
    return doc.data


def _validate(
    model: type[M],
    data: Any,
    parsed: _Parsed,
    *,
    context: dict[str, Any] | None = None,
    resolution: Resolution | None = None,
) -> M | None:
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        skip = {p for p, _ in resolution.problems} if resolution else set()
        refs = resolution.references if resolution else {}
        for located in locate_errors(exc, data, model, refs):
            if located.path in skip:
                continue  # already reported: the secret it needs is not set
            message = resolution.redact(located.message) if resolution else located.message
            parsed.issue(located.path, message, field_path=located.field)
        return None


def _config(text: str, name: str, store: SecretStore, *, resolve_secrets: bool) -> _Parsed:
    parsed = _Parsed(file=name)
    data = _parse_document(text, parsed, f"a mapping with {_CONFIG_KEYS}")
    if data is None:
        return parsed
    data, parsed.renames, problems = normalise_legacy(data)
    for path, message in problems:
        parsed.issue(path, message)
    resolution = resolve_references(data, store, keep_unresolved=not resolve_secrets)
    for path, message in resolution.problems:
        parsed.issue(path, message)
    context = {"keep_unresolved": not resolve_secrets}
    parsed.model = _validate(PipelineConfig, resolution.data, parsed, context=context, resolution=resolution)
    if parsed.issues:
        parsed.model = None
    return parsed


def _job(text: str, name: str) -> _Parsed:
    parsed = _Parsed(file=name)
    data = _parse_document(text, parsed, "a mapping with `source` and `output`")
    if data is None:
        return parsed
    job = _validate(Job, data, parsed)
    if job is not None and not parsed.issues:
        parsed.model = job if job.name else job.model_copy(update={"name": _stem(name)})
    return parsed


def _stem(name: str) -> str:
    return Path(name).stem


def load_config_text(
    text: str,
    name: str = "config.yaml",
    *,
    env: Mapping[str, str] | None = None,
    secrets_dir: str | os.PathLike[str] | None = None,
    resolve_secrets: bool = True,
) -> PipelineConfig:
    """Validate the text of a `config.yaml`; `name` is the file name used in issues.

    References are resolved from `env` (default `os.environ`) and `secrets_dir` (default
    `$RDI_SECRETS_DIR`); with `resolve_secrets=False` they stay as written (offline validation only: numeric
    fields then hold the reference text). Raises `ConfigError` listing every issue.
    """
    store = SecretStore.from_environment(env, secrets_dir)
    parsed = _config(text, name, store, resolve_secrets=resolve_secrets)
    if parsed.model is None:
        raise ConfigError(parsed.issues)
    model: PipelineConfig = parsed.model
    return model


def load_job_text(text: str, name: str = "job.yaml") -> Job:
    """Validate the text of one job file; `name` defaults to the file's stem. Raises `ConfigError`."""
    parsed = _job(text, name)
    if parsed.model is None:
        raise ConfigError(parsed.issues)
    job: Job = parsed.model
    return job


def load_pipeline(
    directory: str | os.PathLike[str],
    *,
    secrets_dir: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    resolve_secrets: bool = True,
) -> Pipeline:
    """Read `config.yaml` and `jobs/*.yaml` (and `*.yml`) of a pipeline folder.

    Jobs are keyed by name (`name:` in the file, else the file's stem), in name order. Issues name files
    relative to the folder. Raises one `ConfigError` with every issue of every file, sorted.
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise ConfigError([ConfigIssue(str(folder), 0, "", "pipeline folder not found")])
    issues: list[ConfigIssue] = []
    store = SecretStore.from_environment(env, secrets_dir, base_dir=folder)
    config_path = folder / "config.yaml"
    config: _Parsed | None = None
    if not config_path.is_file():
        issues.append(ConfigIssue("config.yaml", 0, "", "file not found (a pipeline folder needs a config.yaml)"))
    else:
        text = _read(config_path, "config.yaml", issues)
        if text is not None:
            config = _config(text, "config.yaml", store, resolve_secrets=resolve_secrets)
            issues.extend(config.issues)
    jobs: dict[str, _Parsed] = {}
    jobs_dir = folder / "jobs"
    files = sorted(p for p in jobs_dir.glob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    for path in files if jobs_dir.is_dir() else []:
        name = f"jobs/{path.name}"
        text = _read(path, name, issues)
        if text is None:
            continue
        parsed = _job(text, name)
        issues.extend(parsed.issues)
        if parsed.model is None:
            continue
        job_name = parsed.model.name
        if job_name in jobs:
            parsed.issue(("name",), f"job name `{job_name}` is also used by {jobs[job_name].file}")
            issues.extend(parsed.issues)
            continue
        jobs[job_name] = parsed
    if config is None or config.model is None:
        raise ConfigError(issues)
    pipeline = Pipeline(config=config.model, jobs={n: jobs[n].model for n in sorted(jobs)})
    for problem in pipeline.problems():
        owner = config if problem.job is None else jobs[problem.job]
        before = len(owner.issues)
        owner.issue(problem.path, problem.message)
        issues.extend(owner.issues[before:])
    if issues:
        raise ConfigError(issues)
    return pipeline


def _read(path: Path, name: str, issues: list[ConfigIssue]) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        issues.append(ConfigIssue(name, 0, "", "not UTF-8 text"))
    except OSError as exc:
        issues.append(ConfigIssue(name, 0, "", f"cannot be read ({exc.strerror})"))
    return None


def parse_config(
    data: Any,
    *,
    file: str = "config.yaml",
    env: Mapping[str, str] | None = None,
    secrets_dir: str | os.PathLike[str] | None = None,
    resolve_secrets: bool = True,
) -> PipelineConfig:
    """Validate already-parsed config data (e.g. an API payload); issues have line 0. Raises `ConfigError`."""
    parsed = _Parsed(file=file)
    data, parsed.renames, problems = normalise_legacy(data)
    for path, message in problems:
        parsed.issue(path, message)
    store = SecretStore.from_environment(env, secrets_dir)
    resolution = resolve_references(data, store, keep_unresolved=not resolve_secrets)
    for path, message in resolution.problems:
        parsed.issue(path, message)
    context = {"keep_unresolved": not resolve_secrets}
    model = _validate(PipelineConfig, resolution.data, parsed, context=context, resolution=resolution)
    if model is None or parsed.issues:
        raise ConfigError(parsed.issues)
    return model


def parse_job(data: Any, *, name: str, file: str | None = None) -> Job:
    """Validate already-parsed job data (e.g. an API payload); `name` is used when the job sets none."""
    parsed = _Parsed(file=file or f"jobs/{name}.yaml")
    job = _validate(Job, data, parsed)
    if job is None:
        raise ConfigError(parsed.issues)
    return job if job.name else job.model_copy(update={"name": name})
