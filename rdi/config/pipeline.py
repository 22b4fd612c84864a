"""The pipeline: `config.yaml` (rdi-compat-spec §1) plus its jobs, and the checks that span files.

`PipelineConfig` validates one `config.yaml`; `Pipeline` holds it with the jobs by name, and
`Pipeline.problems()` returns what is wrong *between* files (a job naming a missing target, two jobs for one
table, ...). The loader (`rdi.config.load`) turns those problems into located `ConfigIssue`s.
Legacy top-level `connections:` (write-behind targets without the `connection:` wrapper) and `applier:`
(= `processors`) are accepted and normalised.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import AfterValidator, Field, field_validator, model_validator

from rdi.config._types import Closed, NonNegativeIntOrRef, Open
from rdi.config.job import (
    Job,
    LookupBlock,
    RedisWriteBlock,
    RelationalWriteBlock,
)
from rdi.config.processors import Processors
from rdi.config.sources import Source
from rdi.config.targets import RedisConnection, SqlConnection, Target

__all__ = [
    "Metadata",
    "Pipeline",
    "PipelineConfig",
    "PipelineProblem",
    "ProviderParameters",
    "SecretProvider",
    "json_schema",
    "normalise_legacy",
]

Path: TypeAlias = tuple[str | int, ...]

_TAG = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,48}[A-Za-z0-9])?")


def _check_tag(tag: str) -> str:
    if not _TAG.fullmatch(tag):
        msg = (
            f"tag '{tag}' must be 1–50 characters of letters, digits, `.`, `_`, `-`, "
            "starting and ending with a letter or digit"
        )
        raise ValueError(msg)
    return tag


class Metadata(Closed):
    """`metadata`: what the pipeline is (display only)."""

    name: str | None = Field(None, max_length=100)
    description: str | None = Field(None, max_length=500)
    revision: NonNegativeIntOrRef | None = None
    tags: list[Annotated[str, AfterValidator(_check_tag)]] | None = None

    @field_validator("tags")
    @classmethod
    def _unique(cls, tags: list[str] | None) -> list[str] | None:
        seen: set[str] = set()
        for tag in tags or ():
            if tag in seen:
                raise ValueError(f"duplicate tag '{tag}'")
            seen.add(tag)
        return tags


class ProviderParameters(Open):
    objects: list[dict[str, Any]] = Field(min_length=1, description="Secrets to fetch (provider-specific).")


class SecretProvider(Closed):
    """`secret-providers.<id>`: an external secret store (AWS Secrets Manager or HashiCorp Vault)."""

    type: Literal["aws", "vault"]
    parameters: ProviderParameters


def normalise_legacy(data: Any) -> tuple[Any, list[tuple[Path, Path]], list[tuple[Path, str]]]:
    """Rewrite legacy `connections:`/`applier:` into `targets:`/`processors:`.

    Returns the new data, `(new_path_prefix, old_path_prefix)` pairs to locate issues in the original file,
    and `(path, message)` problems (a name defined twice, both `applier` and `processors`).
    """
    if not isinstance(data, dict) or ("connections" not in data and "applier" not in data):
        return data, [], []
    data = dict(data)
    renames: list[tuple[Path, Path]] = []
    problems: list[tuple[Path, str]] = []
    connections = data.pop("connections", None)
    if isinstance(connections, dict):
        targets = data.get("targets")
        merged: dict[Any, Any] = dict(targets) if isinstance(targets, dict) else {}
        for name, conn in connections.items():
            if name in merged:
                problems.append((("connections", name), f"`{name}` is defined in both `connections` and `targets`"))
                continue
            merged[name] = {"connection": conn}
            renames.append((("targets", name, "connection"), ("connections", name)))
        data["targets"] = merged
    elif connections is not None:
        data["connections"] = connections  # let validation report the wrong type
    if "applier" in data:
        if "processors" in data:
            problems.append((("applier",), "use `processors` or the legacy `applier`, not both"))
            data.pop("applier")
        else:
            data["processors"] = data.pop("applier")
            renames.append((("processors",), ("applier",)))
    return data, renames, problems


class PipelineConfig(Closed):
    """One `config.yaml`."""

    sources: dict[str, Source] = Field(default_factory=dict, description="Change collectors by name.")
    targets: dict[str, Target] = Field(default_factory=dict, description="Targets by name; `target` is the default.")
    processors: Processors = Field(default_factory=Processors, description="Stream-processor settings.")
    secret_providers: dict[str, SecretProvider] = Field(default_factory=dict, alias="secret-providers")
    metadata: Metadata | None = None

    @model_validator(mode="before")
    @classmethod
    def _legacy(cls, data: Any) -> Any:
        data, _, problems = normalise_legacy(data)
        if problems:
            raise ValueError(problems[0][1])
        return data

    @field_validator("processors", "sources", "targets", "secret_providers", mode="before")
    @classmethod
    def _null_is_default(cls, value: Any) -> Any:
        return {} if value is None else value

    @property
    def redis_sources(self) -> dict[str, Source]:
        """Sources capturing an application Redis (write-behind)."""
        return {name: s for name, s in self.sources.items() if s.is_redis}


@dataclass(frozen=True)
class PipelineProblem:
    """A mistake spanning files. `job` is None for config.yaml; `path` is in the file's own key names."""

    job: str | None
    path: Path
    message: str


@dataclass(frozen=True)
class Pipeline:
    """A pipeline's config and its jobs by name (file stem unless the job sets `name`), sorted by name."""

    config: PipelineConfig
    jobs: Mapping[str, Job] = field(default_factory=dict)

    @property
    def write_behind(self) -> bool:
        """True when the jobs capture Redis keys (`source.redis`): the processor runs ``flows.write_behind``."""
        return any(job.source.redis is not None for job in self.jobs.values())

    @property
    def processor_flow(self) -> str:
        """The Bytewax flow module that processes this pipeline: ``flows.write_behind`` or ``flows.ingest``."""
        return "flows.write_behind" if self.write_behind else "flows.ingest"

    @property
    def default_job(self) -> Job | None:
        """The job with `table: "*"`, if any."""
        return next((j for j in self.jobs.values() if j.source.is_default), None)

    def problems(self) -> list[PipelineProblem]:
        """Every cross-file mistake, in job-name order. Pure; does not raise."""
        return _Checker(self.config).run(self.jobs)

    @staticmethod
    def json_schema() -> dict[str, Any]:
        """The JSON schemas of `config.yaml` and of a job file."""
        return json_schema()


def json_schema() -> dict[str, Any]:
    """`{"config": <schema of config.yaml>, "job": <schema of a job file>}` (JSON Schema, by alias)."""
    return {
        "config": PipelineConfig.model_json_schema(by_alias=True),
        "job": Job.model_json_schema(by_alias=True),
    }


def _names(names: Mapping[str, Any]) -> str:
    return ", ".join(sorted(names)) or "none"


def _table_label(source: Any) -> str:
    parts = (source.server_name, source.db, source.schema_, source.table)
    return ".".join(p for p in parts if p)


class _Checker:
    def __init__(self, config: PipelineConfig) -> None:
        self.config = config
        self.out: list[PipelineProblem] = []

    def add(self, job: str | None, path: Path, message: str) -> None:
        self.out.append(PipelineProblem(job, path, message))

    def run(self, jobs: Mapping[str, Job]) -> list[PipelineProblem]:
        targets = self.config.targets
        has_ingest_source = any(not s.is_redis for s in self.config.sources.values())
        if not jobs and has_ingest_source and "target" not in targets:
            self.add(
                None,
                ("targets",),
                f"no target named `target` (tables without a job are written to it); defined: {_names(targets)}",
            )
        default_seen: str | None = None
        tables: dict[tuple[str | None, ...], str] = {}
        for name in sorted(jobs):
            job = jobs[name]
            source = job.source
            if source.is_default:
                if default_seen is not None:
                    self.add(
                        name,
                        ("source", "table"),
                        f'job `{default_seen}` is already the default job (`table: "*"`); only one is allowed',
                    )
                default_seen = default_seen or name
            elif source.table is not None:
                coords = (source.server_name, source.db, source.schema_, source.table)
                key = tuple(c.casefold() if c and source.case_insensitive else c for c in coords)
                if key in tables:
                    self.add(
                        name,
                        ("source", "table"),
                        f"job `{tables[key]}` already handles table `{_table_label(source)}`; one job per table",
                    )
                else:
                    tables[key] = name
            if source.redis is not None:
                pattern = ("redis", source.redis.key_pattern)
                if pattern in tables:
                    self.add(
                        name,
                        ("source", "redis", "key_pattern"),
                        f"job `{tables[pattern]}` already tracks key pattern `{source.redis.key_pattern}`; one job "
                        "per key pattern (give that job several outputs to write several tables)",
                    )
                else:
                    tables[pattern] = name
            if source.redis is not None and self.config.sources and not self.config.redis_sources:
                self.add(
                    name,
                    ("source", "redis"),
                    "a write-behind job needs a source with `connection.type: redis` in config.yaml",
                )
            self._connections(name, job)
            self._nest(name, job, jobs)
        return self.out

    def _connections(self, name: str, job: Job) -> None:
        for i, block in enumerate(job.transform):
            if isinstance(block, LookupBlock):
                self._target(
                    name,
                    ("transform", i, "with", "connection"),
                    block.with_.connection,
                    "redis.lookup",
                    RedisConnection,
                )
        for i, out in enumerate(job.output):
            if isinstance(out, RedisWriteBlock):
                self._target(
                    name,
                    ("output", i, "with", "connection"),
                    out.with_.connection,
                    "redis.write",
                    RedisConnection,
                )
            elif isinstance(out, RelationalWriteBlock):
                self._target(
                    name,
                    ("output", i, "with", "connection"),
                    out.with_.connection,
                    "relational.write",
                    SqlConnection,
                )

    def _target(self, job: str, path: Path, connection: str, uses: str, kind: type) -> None:
        target = self.config.targets.get(connection)
        if target is None:
            self.add(
                job,
                path,
                f"unknown target `{connection}` (config.yaml defines: {_names(self.config.targets)})",
            )
        elif not isinstance(target.connection, kind):
            wanted = "a Redis" if kind is RedisConnection else "a SQL"
            self.add(
                job,
                path,
                f"target `{connection}` is {target.connection.type}; `{uses}` needs {wanted} target",
            )

    def _nest(self, name: str, job: Job, jobs: Mapping[str, Job]) -> None:
        for i, out in enumerate(job.output):
            if not isinstance(out, RedisWriteBlock) or out.with_.nest is None:
                continue
            parent = out.with_.nest.parent
            path: Path = ("output", i, "with", "nest", "parent", "table")
            if job.source.table is not None and parent.table.casefold() == job.source.table.casefold():
                self.add(name, path, f"a job cannot nest `{parent.table}` into itself")
                continue
            for other_name, other in jobs.items():
                s = other.source
                if s.table is None or s.table.casefold() != parent.table.casefold():
                    continue
                if parent.schema_ and s.schema_ and parent.schema_.casefold() != s.schema_.casefold():
                    continue
                keyed = any(isinstance(o, RedisWriteBlock) and o.with_.key is not None for o in other.output)
                if keyed or other.key is not None:
                    msg = f"the parent job `{other_name}` sets a custom `key`; nesting needs the parent's default key"
                    self.add(name, path, msg)
