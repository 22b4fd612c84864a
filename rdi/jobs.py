"""A pipeline's jobs, compiled: pick the job for an event, transform it, plan its writes (Redis commands for
``redis.write``, row writes for ``relational.write``).

Pure: no I/O. ``redis.lookup`` steps are declared, not run: :meth:`CompiledJob.steps` is a job run that pauses
at each lookup, yielding a :class:`LookupRequest` and resuming with its reply, so the processor can send the
lookups of a whole batch together (``rdi.processor``); :meth:`CompiledJob.apply` drives it with a ``lookup``
callable answering one command at a time (``rdi dry-run`` answers ``None``).

Routing follows RDI (spec §2.1–2.2): the job whose ``source`` matches the event's coordinates, else the
default job (``table: "*"``), else the built-in mapping (all columns, default key, ``target_data_type``).
Write-behind changes (``source.connector`` ``redis``, from ``rdi.collectors.redis_capture``) go to the job whose
``source.redis.key_pattern`` is the event's ``table``; write-behind has no default (spec §4.2): a change of a
pattern no job tracks any more is rejected. A delete caused by expiry is filtered out unless the job sets
``propagate_expired`` (RDI does not propagate expired keys).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeAlias, TypeVar

from rdi.config.job import Job, JobSource, RedisWriteBlock, RedisWriteSettings, RelationalWriteBlock
from rdi.errors import BadRecordError, ConfigError, ConfigIssue
from rdi.events import ChangeEvent, Record, to_record
from rdi.transforms import KeyTransform, LookupStep, Step, compile_transforms
from rdi.writers.nest import NestPlanner, NestTree
from rdi.writers.redis import Command, RedisCommandPlanner, WriteDefaults
from rdi.writers.sql import RelationalPlanner, SqlWrite

__all__ = [
    "DEFAULT_MAPPING",
    "CompiledJob",
    "JobResult",
    "JobRouter",
    "JobRun",
    "Lookup",
    "LookupRequest",
    "Output",
    "Write",
    "run_steps",
]

DEFAULT_MAPPING = "<default mapping>"
_REDIS_CONNECTOR = "redis"
"""``source.connector`` of the write-behind capture's events."""

Lookup = Callable[[str, tuple[str, ...]], Any]
"""``lookup(connection, command) -> reply``: runs one ``redis.lookup`` command against a target."""


Write: TypeAlias = Command | SqlWrite
"""What an output sends to its target: a Redis command (``redis.write``) or a row write (``relational.write``)."""


@dataclass(frozen=True, slots=True)
class Output:
    """The writes one output sends to its target connection: Redis commands or row writes, never both."""

    connection: str
    commands: list[Command] | list[SqlWrite]


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

    def __init__(self, name: str, job: Job, defaults: WriteDefaults, nest: NestTree | None = None) -> None:
        self.name = name
        self.source = job.source
        self.table = job.source.table or ""
        self.transforms: list[Step] = compile_transforms(job.transform)
        if job.key is not None:  # legacy job-level key: the last step, so it sees the transformed record
            self.transforms.append(KeyTransform(job.key, step="key"))
        self.outputs: list[RedisWriteSettings] = [o.with_ for o in job.output if isinstance(o, RedisWriteBlock)]
        self._relational = [
            (o.with_.connection, _relational_planner(name, i, o))
            for i, o in enumerate(job.output)
            if isinstance(o, RelationalWriteBlock)
        ]
        redis_source = job.source.redis
        given = redis_source is not None and "row_format" in redis_source.model_fields_set
        self.row_format = redis_source.row_format if redis_source is not None and given else job.source.row_format
        """``source.row_format`` (write-behind: ``source.redis.row_format``, spec §4.4, when written there)."""
        self._write_behind = redis_source is not None
        self._drops_expired = redis_source is not None and not redis_source.propagate_expired
        self.defaults = defaults
        nested = [o for o in self.outputs if o.nest is not None]
        if nested and nest is None:  # compiled alone (no router): the job's own nest is the whole tree
            nest = _nest_tree({name: job})
        self._planners: list[RedisCommandPlanner | NestPlanner] = [
            RedisCommandPlanner(o, defaults) if o.nest is None or nest is None else NestPlanner(self.table, o, nest)
            for o in self.outputs
        ]
        self._nest = nest if nest else None
        """Set when some job nests into others: a root table's writes are followed by its maps' refresh."""
        # An update can move a record to another key (custom key), member (set/sorted_set) or nest id: then
        # the record made from the before-image tells what to remove.
        # A relational output deletes the rows the before image made that the after image does not (foreach).
        self._needs_previous = bool(self._relational) or any(
            o.key is not None
            or o.nest is not None
            or (o.data_type or defaults.target_data_type) in ("set", "sorted_set")
            for o in self.outputs
        )

    def matches(self, event: ChangeEvent) -> bool:
        return _matches(self.source, event)

    def transform(self, record: Record, lookup: Lookup = _no_lookup) -> Record | None:
        """Runs the transform steps in order; ``None`` when a filter drops the record.

        Each `redis.lookup` step asks ``lookup`` once. Raises ``BadRecordError`` when an expression fails on this
        record, or when ``lookup`` raises it or answers one (an error reply as a value).
        """
        return run_steps(_transform_steps(self.transforms, record), lookup)

    def apply(self, event: ChangeEvent, lookup: Lookup = _no_lookup) -> JobResult:
        """Transforms ``event`` and plans every output's commands; idempotent under replay.

        ``lookup`` answers the `redis.lookup` steps one command at a time, in the order :meth:`steps` asks them.
        """
        if self.has_lookups:
            return run_steps(self.steps(event), lookup)
        return self.apply_without_lookups(event)

    def apply_without_lookups(self, event: ChangeEvent) -> JobResult:
        """:meth:`apply` for a job that :attr:`has_lookups` not, without the generator of :meth:`steps` (the hot
        path of the processor)."""
        transforms = self.transforms
        if self._write_behind and event.op == "d":
            if self._drops_expired and event.source.get("expired") is True:
                return JobResult(self.name, None, [])
            event = _last_value(event)
        record = _transform(transforms, to_record(event, self.row_format))
        if record is None:
            return JobResult(self.name, None, [])
        previous = None
        if self._needs_previous and event.op == "u" and event.before is not None:
            before = dataclasses.replace(event, after=event.before)
            previous = _transform(transforms, to_record(before, self.row_format))
        return JobResult(self.name, record, self.plan_outputs(record, previous))

    def plan_outputs(self, record: Record, previous: Record | None) -> list[Output]:
        """Every output's commands for the transformed ``record`` (``previous``: from the before image); a row of
        a table other jobs nest into is followed by the rebuild of its maps."""
        outputs = [
            Output(o.connection, planner.plan(record, previous))
            for o, planner in zip(self.outputs, self._planners, strict=True)
        ]
        outputs.extend(Output(connection, rows.plan(record, previous)) for connection, rows in self._relational)
        if self._nest is not None and self._nest.is_root(record.table):
            outputs.extend(Output(connection, commands) for connection, commands in self._nest.refresh(record).items())
        return outputs

    @property
    def has_lookups(self) -> bool:
        """Whether some transform step is a `redis.lookup` (a job without one never needs :meth:`steps`).

        Computed on each call: ``functools.cached_property`` would store it in the instance ``__dict__``, which
        slows every other attribute read of the job (CPython 3.11 drops its inline attribute values)."""
        return any(isinstance(step, LookupStep) for step in self.transforms)

    def steps(self, event: ChangeEvent) -> JobRun:
        """:meth:`apply` as a generator that stops at each `redis.lookup`, so a caller can answer many records'
        lookups in one round trip.

        Yields a :class:`LookupRequest` per lookup, in step order: those of the record, then (for an update
        whose outputs need the before image) those of the record made from ``event.before``. The caller sends
        back the raw reply (an error reply as an exception value) and gets the next request; the generator
        returns the :class:`JobResult` that :meth:`apply` would. Raises ``BadRecordError`` as :meth:`apply` does:
        a reply that is a ``BadRecordError`` is raised as it is; another exception fails the step.
        """
        transforms = self.transforms
        if self._write_behind and event.op == "d":
            if self._drops_expired and event.source.get("expired") is True:
                return JobResult(self.name, None, [])
            event = _last_value(event)
        record = yield from _transform_steps(transforms, to_record(event, self.row_format))
        if record is None:
            return JobResult(self.name, None, [])
        previous = None
        if self._needs_previous and event.op == "u" and event.before is not None:
            before = dataclasses.replace(event, after=event.before)
            previous = yield from _transform_steps(transforms, to_record(before, self.row_format))
        return JobResult(self.name, record, self.plan_outputs(record, previous))


def _relational_planner(job: str, index: int, block: RelationalWriteBlock) -> RelationalPlanner:
    """The planner of a `relational.write` output; ``ConfigError`` naming the job and output when it cannot be
    built (an expression that does not compile, a column named twice)."""
    try:
        return RelationalPlanner(block.with_)
    except ValueError as exc:
        raise ConfigError([ConfigIssue(f"jobs/{job}", 0, f"output[{index}].with", str(exc))]) from None


def _last_value(delete: ChangeEvent) -> ChangeEvent:
    """A write-behind delete as its job sees it: the key's last value (the capture's before-image) stands as
    ``after`` too, so ``full``-format expressions (``after.id``, a ``foreach`` over ``after.members``) find the
    rows to delete, as ``partial`` format does with the before-image."""
    if delete.after is not None or delete.before is None:
        return delete
    return dataclasses.replace(delete, after=delete.before)


def _default_mapping_job() -> Job:
    return Job.model_validate({"source": {"table": "*"}, "output": [{"uses": "redis.write"}]})


class JobRouter:
    """Picks the job for each event: its own job, else the default job, else the built-in mapping."""

    def __init__(self, jobs: Mapping[str, Job], defaults: WriteDefaults) -> None:
        ingest = {name: job for name, job in jobs.items() if job.source.redis is None}
        nest = _nest_tree(ingest)
        compiled = [CompiledJob(name, job, defaults, nest) for name, job in ingest.items()]
        self.write_behind: dict[str, CompiledJob] = {}
        """Write-behind jobs by key pattern (the ``table`` of the capture's events)."""
        for name, job in jobs.items():
            if job.source.redis is not None:
                self.write_behind.setdefault(job.source.redis.key_pattern, CompiledJob(name, job, defaults))
        self.jobs: list[CompiledJob] = [j for j in compiled if not j.source.is_default]
        defaults_jobs = [j for j in compiled if j.source.is_default]
        self.default: CompiledJob = (
            defaults_jobs[0] if defaults_jobs else CompiledJob(DEFAULT_MAPPING, _default_mapping_job(), defaults, nest)
        )
        if nest:
            _check_nest_roots(nest, self.jobs, self.default, defaults)

    def job_for(self, event: ChangeEvent) -> CompiledJob:
        """The job for ``event``; raises ``BadRecordError`` for a write-behind change no job tracks."""
        if self.write_behind and event.source.get("connector") == _REDIS_CONNECTOR:
            found = self.write_behind.get(event.table)
            if found is None or found.source.server_name not in (None, event.server_name):
                msg = f"no write-behind job tracks key pattern `{event.table}` (key `{event.source.get('key')}`)"
                raise BadRecordError(msg)
            return found
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


def _nest_tree(jobs: Mapping[str, Job]) -> NestTree | None:
    """The pipeline's `nest` outputs linked into trees; ``None`` when no job nests."""
    outputs: list[tuple[str, RedisWriteSettings]] = []
    owner: dict[str, str] = {}
    for name, job in jobs.items():
        for i, block in enumerate(job.output):
            if isinstance(block, RedisWriteBlock) and block.with_.nest is not None:
                table = job.source.table
                if table is None or job.source.is_default:
                    issue = ConfigIssue(f"jobs/{name}", 0, f"output[{i}].with.nest", "a `nest` job names its `table`")
                    raise ConfigError([issue])
                outputs.append((table, block.with_))
                owner[table] = name
    if not outputs:
        return None
    try:
        return NestTree(outputs)
    except ValueError as exc:
        table = str(exc).split("`")[1] if "`" in str(exc) else ""
        raise ConfigError([ConfigIssue(f"jobs/{owner.get(table, '')}", 0, "output", str(exc))]) from None


def _check_nest_roots(
    nest: NestTree, jobs: Sequence[CompiledJob], default: CompiledJob, defaults: WriteDefaults
) -> None:
    """A root table's rows must be written as JSON documents at the default key, where the children go."""
    for root in sorted(t for t in nest.children if nest.is_root(t)):
        job = next((j for j in jobs if _names_table(j.source, root)), default)
        if any(
            o.nest is None and o.key is None and (o.data_type or defaults.target_data_type) == "json"
            for o in job.outputs
        ):
            continue
        where = f"jobs/{job.name}" if job.name != DEFAULT_MAPPING else "config.yaml"
        field = "output" if job.name != DEFAULT_MAPPING else "processors.target_data_type"
        msg = (
            f"table `{root}` holds nested rows, so its rows must be JSON documents at the default key; "
            f"write it with `data_type: json` and no `key`"
        )
        raise ConfigError([ConfigIssue(where, 0, field, msg)])


def _names_table(source: JobSource, table: str) -> bool:
    fold = str.casefold if source.case_insensitive else str
    return source.table is not None and fold(source.table) == fold(table)


class LookupRequest(NamedTuple):
    """One `redis.lookup` a job run waits on: ``command`` to run against target ``connection``."""

    connection: str
    command: tuple[str, ...]
    batch_size: int
    """The step's `batch.size`: the most commands of this step one pipeline may hold."""


JobRun: TypeAlias = Generator[LookupRequest, Any, JobResult]
"""A job run on one event, paused at each lookup: :meth:`CompiledJob.steps`."""

_T = TypeVar("_T")


def run_steps(steps: Generator[LookupRequest, Any, _T], lookup: Lookup) -> _T:
    """Drives ``steps`` to its end, answering each request with ``lookup``, one at a time."""
    try:
        request = next(steps)
        while True:
            request = steps.send(lookup(request.connection, request.command))
    except StopIteration as stop:
        result: _T = stop.value
        return result


def _transform(transforms: Sequence[Step], record: Record) -> Record | None:
    """The transform steps of a job without lookups (the hot path: no generator)."""
    current: Record | None = record
    for step in transforms:
        if current is None:
            return None
        current = step.apply(current)  # type: ignore[union-attr]
    return current


def _transform_steps(transforms: Sequence[Step], record: Record) -> Generator[LookupRequest, Any, Record | None]:
    current: Record | None = record
    for step in transforms:
        if current is None:
            return None
        if isinstance(step, LookupStep):
            reply = yield LookupRequest(step.connection, step.command(current), step.batch_size)
            if isinstance(reply, BadRecordError):  # the target's own words (`TargetConnections.lookup_batch`)
                raise reply
            current = step.complete(current, reply)
        else:
            current = step.apply(current)
    return current
