"""A pipeline's jobs, compiled: pick the job for an event, transform it, plan its Redis writes.

Pure: no I/O. ``redis.lookup`` steps are declared, not run: :meth:`CompiledJob.apply` takes a ``lookup``
callable that does the I/O (the Bytewax operator batches them; ``rdi dry-run`` answers ``None``).

Routing follows RDI (spec §2.1–2.2): the job whose ``source`` matches the event's coordinates, else the
default job (``table: "*"``), else the built-in mapping (all columns, default key, ``target_data_type``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rdi.config.job import Job, JobSource, RedisWriteBlock, RedisWriteSettings
from rdi.errors import ConfigError, ConfigIssue
from rdi.events import ChangeEvent, Record, to_record
from rdi.transforms import KeyTransform, LookupStep, Step, compile_transforms
from rdi.writers.redis import Command, RedisCommandPlanner, WriteDefaults

__all__ = ["DEFAULT_MAPPING", "CompiledJob", "JobResult", "JobRouter", "Lookup", "Output"]

DEFAULT_MAPPING = "<default mapping>"

Lookup = Callable[[str, tuple[str, ...]], Any]
"""``lookup(connection, command) -> reply``: runs one ``redis.lookup`` command against a target."""


@dataclass(frozen=True, slots=True)
class Output:
    """The commands one ``redis.write`` output sends to its target connection."""

    connection: str
    commands: list[Command]


@dataclass(frozen=True, slots=True)
class JobResult:
    """What a job made of one event: the transformed record (``None`` when filtered out) and its writes."""

    job: str
    record: Record | None
    outputs: list[Output]

    @property
    def filtered(self) -> bool:
        return self.record is None


def _no_lookup(connection: str, command: tuple[str, ...]) -> Any:
    return None


class CompiledJob:
    """One job ready to run: transforms and outputs compiled once."""

    def __init__(self, name: str, job: Job, defaults: WriteDefaults) -> None:
        self.name = name
        self.source = job.source
        self.transforms: list[Step] = compile_transforms(job.transform)
        if job.key is not None:  # legacy job-level key: the last step, so it sees the transformed record
            self.transforms.append(KeyTransform(job.key, step="key"))
        self.outputs: list[RedisWriteSettings] = [o.with_ for o in job.output if isinstance(o, RedisWriteBlock)]
        self.defaults = defaults
        if any(o.nest is not None for o in self.outputs):
            raise ConfigError([ConfigIssue(f"jobs/{name}", 0, "output", "`nest` is not supported yet")])
        self._planners = [RedisCommandPlanner(o, defaults) for o in self.outputs]
        # An update can move a record to another key (custom key) or member (set/sorted_set): then the
        # record made from the before-image tells what to remove.
        self._needs_previous = any(
            o.key is not None or (o.data_type or defaults.target_data_type) in ("set", "sorted_set")
            for o in self.outputs
        )

    def matches(self, event: ChangeEvent) -> bool:
        return _matches(self.source, event)

    def transform(self, record: Record, lookup: Lookup = _no_lookup) -> Record | None:
        """Runs the transform steps in order; ``None`` when a filter drops the record.

        Raises ``BadRecordError`` when an expression fails on this record.
        """
        current: Record | None = record
        for step in self.transforms:
            if current is None:
                return None
            if isinstance(step, LookupStep):
                current = step.complete(current, lookup(step.connection, step.command(current)))
            else:
                current = step.apply(current)
        return current

    def apply(self, event: ChangeEvent, lookup: Lookup = _no_lookup) -> JobResult:
        """Transforms ``event`` and plans every output's commands; idempotent under replay."""
        record = self.transform(to_record(event, self.source.row_format), lookup)
        if record is None:
            return JobResult(self.name, None, [])
        previous = None
        if self._needs_previous and event.op == "u" and event.before is not None:
            before = dataclasses.replace(event, after=event.before)
            previous = self.transform(to_record(before, self.source.row_format), lookup)
        outputs = [
            Output(o.connection, planner.plan(record, previous))
            for o, planner in zip(self.outputs, self._planners, strict=True)
        ]
        return JobResult(self.name, record, outputs)


def _default_mapping_job() -> Job:
    return Job.model_validate({"source": {"table": "*"}, "output": [{"uses": "redis.write"}]})


class JobRouter:
    """Picks the job for each event: its own job, else the default job, else the built-in mapping."""

    def __init__(self, jobs: Mapping[str, Job], defaults: WriteDefaults) -> None:
        compiled = [CompiledJob(name, job, defaults) for name, job in jobs.items() if job.source.redis is None]
        self.jobs: list[CompiledJob] = [j for j in compiled if not j.source.is_default]
        defaults_jobs = [j for j in compiled if j.source.is_default]
        self.default: CompiledJob = (
            defaults_jobs[0] if defaults_jobs else CompiledJob(DEFAULT_MAPPING, _default_mapping_job(), defaults)
        )

    def job_for(self, event: ChangeEvent) -> CompiledJob:
        for job in self.jobs:
            if job.matches(event):
                return job
        return self.default

    def apply(self, events: Sequence[ChangeEvent], lookup: Lookup = _no_lookup) -> list[JobResult]:
        return [self.job_for(e).apply(e, lookup) for e in events]


def _matches(source: JobSource, event: ChangeEvent) -> bool:
    fold = str.casefold if source.case_insensitive else str
    for wanted, actual in (
        (source.server_name, event.server_name),
        (source.db, event.db),
        (source.schema_, event.schema),
        (source.table, event.table),
    ):
        if wanted is not None and (actual is None or fold(wanted) != fold(actual)):
            return False
    return True
