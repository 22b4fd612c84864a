"""The ingest processor's work on one batch of staging-stream entries, without I/O (DESIGN §3).

A :class:`StreamBatch` (entries of one stream, in order, as the Bytewax input read them) becomes a
:class:`ProcessedBatch`: the Redis commands to send per target connection — each tagged with the index of the
entry that produced it, so a write error (``WRONGTYPE``…) rejects exactly that entry — the entries rejected
while decoding, transforming or planning (with their reason, for ``dlq:<stream>``), and the counts the metrics
report. ``operators/`` reads, writes and acknowledges; this module only decides.

Counting follows RDI's processor metrics (rdi-compat-spec §5.5): every entry is ``incoming``; it ends
``processed`` (written, or nothing to write), ``filtered`` (a filter dropped it) or ``rejected``. Written
entries are also counted per operation: ``inserted`` (ops ``c`` and ``r``), ``updated`` (``u``) and
``deleted`` (``d``). Entries carrying no row change (tombstones, heartbeats, messages) count as processed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeAlias

import orjson

from rdi.config import Pipeline
from rdi.config.processors import Processors
from rdi.errors import BadRecordError, FatalError
from rdi.events import ChangeEvent, ColumnType, decode_event
from rdi.events.types import DEFAULT_PLACEHOLDER
from rdi.jobs import JobResult, JobRouter, JobRun, LookupRequest, Write
from rdi.writers.redis import WriteDefaults

__all__ = [
    "BatchCounts",
    "EntryFields",
    "LookupBatch",
    "ProcessedBatch",
    "Processor",
    "Rejected",
    "StreamBatch",
    "dlq_fields",
    "write_defaults",
]

EntryFields = Mapping[bytes, bytes]
"""The fields of one staging entry as read from Redis: ``{b"key": …, b"value": …}``."""

_KEY: Final = b"key"
_VALUE: Final = b"value"
_INSERT_OPS: Final = frozenset({"c", "r"})
"""`redis.lookup` `batch.size` when a step does not set it (RDI's default)."""

LookupBatch: TypeAlias = Callable[[str, Sequence[tuple[str, ...]]], list[Any]]
"""``lookup(connection, commands) -> replies``: runs `redis.lookup` ``commands`` against target ``connection``
in one round trip; one reply per command, in order, an error reply as an exception value (a
``BadRecordError`` rejects its entry with its own reason, another exception fails the step)."""


@dataclass(slots=True)
class StreamBatch:
    """Entries of one staging stream, in stream order, as one read returned them."""

    stream: str
    ids: list[bytes]
    entries: list[EntryFields]
    read_at: float = field(default_factory=time.time)
    """Wall-clock time (s) the read returned."""
    read_ms: float = 0.0
    """How long the read took."""


@dataclass(slots=True)
class Rejected:
    """An entry that could not be processed, with what the DLQ entry says about it."""

    entry_id: bytes
    key: bytes | None
    value: bytes | None
    reason: str
    job: str | None = None
    event: ChangeEvent | None = None


@dataclass(slots=True)
class BatchCounts:
    incoming: int = 0
    processed: int = 0
    filtered: int = 0
    rejected: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0

    def add(self, other: BatchCounts) -> None:
        for name in self.__slots__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(slots=True)
class ProcessedBatch:
    """What to do for a :class:`StreamBatch`: writes per connection, rejections, and counts.

    ``writes[connection]`` holds ``(entry index, command)`` pairs in entry order; the sink sends them in
    that order (pipelined), then the DLQ entries, then acknowledges ``ids``. ``ops[i]`` is the op of entry
    ``i`` when it produced writes (for the inserted/updated/deleted counts a write error must correct).
    """

    stream: str
    ids: list[bytes]
    entries: list[EntryFields]
    writes: dict[str, list[tuple[int, Write]]]
    rejected: list[Rejected]
    counts: BatchCounts
    ops: dict[int, str]
    jobs: dict[int, str]
    read_at: float
    read_ms: float
    transform_ms: float

    def reject(self, index: int, reason: str) -> Rejected:
        """Turn entry ``index`` (whose writes failed) into a rejection, correcting the counts."""
        entry = self.entries[index]
        rejected = Rejected(self.ids[index], entry.get(_KEY), entry.get(_VALUE), reason, self.jobs.get(index))
        self.rejected.append(rejected)
        counts = self.counts
        counts.processed -= 1
        counts.rejected += 1
        op = self.ops.pop(index, None)
        if op in _INSERT_OPS:
            counts.inserted -= 1
        elif op == "u":
            counts.updated -= 1
        elif op == "d":
            counts.deleted -= 1
        return rejected


def write_defaults(processors: Processors) -> WriteDefaults:
    """The `processors` settings that shape writes when a job does not say."""
    return WriteDefaults(
        target_data_type=processors.effective_target_data_type,
        json_update_strategy=processors.effective_json_update_strategy,
        use_native_json_merge=processors.use_native_json_merge,
    )


def _no_lookup(connection: str, commands: Sequence[tuple[str, ...]]) -> list[Any]:
    return [None] * len(commands)


class Processor:
    """A pipeline's jobs compiled once; :meth:`process` applies them to a batch."""

    def __init__(self, pipeline: Pipeline, *, placeholder: str = DEFAULT_PLACEHOLDER) -> None:
        processors = pipeline.config.processors
        self.router = JobRouter(pipeline.jobs, write_defaults(processors))
        self.placeholder = placeholder
        self.error_handling: Literal["dlq", "ignore"] = processors.effective_error_handling
        router = self.router
        self._looking_up = frozenset(job.name for job in (*router.jobs, router.default) if job.has_lookups)

    def process(
        self,
        batch: StreamBatch,
        *,
        types: Mapping[str, ColumnType] | None = None,
        lookup: LookupBatch = _no_lookup,
    ) -> ProcessedBatch:
        """Decode, route, transform and plan every entry of ``batch``; never raises for a bad entry.

        The `redis.lookup` commands of the whole batch are sent together: every entry whose job looks up runs
        to its first lookup, ``lookup`` answers them per target connection (a pipeline of at most the step's
        `batch.size` commands), every entry runs on to its next lookup, and so on until all are done; so a
        batch costs one round trip per lookup step, not one per record. An error reply answered as a value
        rejects only its entry. Writes, rejections and counts come out in entry order whatever the waves.
        Raises what ``lookup`` raises (``RetryableError``, ``FatalError``).
        """
        started = time.perf_counter()
        out = _Collector(batch, len(batch.entries))
        waiting: list[_Waiting] = []
        router = self.router
        placeholder = self.placeholder
        looking_up = self._looking_up
        counts = out.counts
        for index, entry in enumerate(batch.entries):
            key = entry.get(_KEY)
            value = entry.get(_VALUE)
            job_name: str | None = None
            event: ChangeEvent | None = None
            try:
                if value is None:
                    raise BadRecordError("staging entry has no `value` field")
                event = decode_event(key, value, types=types, placeholder=placeholder)
                if event is None:
                    counts.processed += 1
                    continue
                job = router.job_for(event)
                job_name = job.name
                if job_name in looking_up:
                    run = job.steps(event)
                    try:
                        waiting.append(_Waiting(index, event, job_name, run, next(run)))
                    except StopIteration as stop:  # filtered before its first lookup
                        out.add(index, event, job_name, stop.value)
                    continue
                result = job.apply_without_lookups(event)
            except BadRecordError as exc:
                out.reject(index, exc, job_name, event)
                continue
            out.add(index, event, job_name, result)
        if waiting:
            self._run_lookups(waiting, out, lookup)
            out.sort()
        return ProcessedBatch(
            stream=batch.stream,
            ids=batch.ids,
            entries=batch.entries,
            writes=out.writes,
            rejected=out.rejected,
            counts=out.counts,
            ops=out.ops,
            jobs=out.jobs,
            read_at=batch.read_at,
            read_ms=batch.read_ms,
            transform_ms=(time.perf_counter() - started) * 1000.0,
        )

    def _run_lookups(self, waiting: list[_Waiting], out: _Collector, lookup: LookupBatch) -> None:
        """Answers the waiting runs' requests a wave at a time until every run has ended."""
        while waiting:
            replies = _send_wave(waiting, lookup)
            still: list[_Waiting] = []
            for run, reply in zip(waiting, replies, strict=True):
                try:
                    run.request = run.steps.send(reply)
                except StopIteration as stop:
                    out.add(run.index, run.event, run.job, stop.value)
                except BadRecordError as exc:
                    out.reject(run.index, exc, run.job, run.event)
                else:
                    still.append(run)
            waiting = still


@dataclass(slots=True)
class _Waiting:
    """An entry's job run, paused at ``request``."""

    index: int
    event: ChangeEvent
    job: str
    steps: JobRun
    request: LookupRequest


class _Collector:
    """The writes, rejections and counts of one batch, added entry by entry."""

    __slots__ = ("_batch", "_rejected_at", "counts", "jobs", "ops", "rejected", "writes")

    def __init__(self, batch: StreamBatch, incoming: int) -> None:
        self._batch = batch
        self.writes: dict[str, list[tuple[int, Write]]] = {}
        self.rejected: list[Rejected] = []
        self._rejected_at: list[int] = []
        self.counts = BatchCounts(incoming=incoming)
        self.ops: dict[int, str] = {}
        self.jobs: dict[int, str] = {}

    def add(self, index: int, event: ChangeEvent, job: str, result: JobResult) -> None:
        """Counts ``result`` and adds its writes."""
        counts = self.counts
        if result.filtered:
            counts.filtered += 1
            return
        counts.processed += 1
        wrote = False
        writes = self.writes
        for output in result.outputs:
            if output.commands:
                wrote = True
                target = writes.get(output.connection)
                if target is None:
                    target = writes[output.connection] = []
                target.extend((index, command) for command in output.commands)
        if wrote:
            op = event.op
            self.ops[index] = op
            self.jobs[index] = job
            if op in _INSERT_OPS:
                counts.inserted += 1
            elif op == "u":
                counts.updated += 1
            elif op == "d":
                counts.deleted += 1

    def reject(self, index: int, exc: BadRecordError, job: str | None, event: ChangeEvent | None) -> None:
        entry = self._batch.entries[index]
        key, value = entry.get(_KEY), entry.get(_VALUE)
        self.rejected.append(Rejected(self._batch.ids[index], key, value, _reason(exc), job, event))
        self._rejected_at.append(index)
        self.counts.rejected += 1

    def sort(self) -> None:
        """Puts writes and rejections back in entry order (entries that looked up were added last)."""
        for commands in self.writes.values():
            commands.sort(key=_first)
        order = sorted(range(len(self.rejected)), key=self._rejected_at.__getitem__)
        self.rejected = [self.rejected[i] for i in order]
        self._rejected_at = [self._rejected_at[i] for i in order]


def _first(item: tuple[int, Write]) -> int:
    return item[0]


def _send_wave(waiting: Sequence[_Waiting], lookup: LookupBatch) -> list[Any]:
    """The replies to the waiting runs' requests, in their order: one ``lookup`` call per connection and
    pipeline. A pipeline holds at most the smallest `batch.size` among its requests' steps. RDI's other
    setting, `batch.timeout_ms` (how long to wait for a batch to fill), has nothing to do here: the batch was
    formed by the read, so the lookups go as soon as every entry has reached its next one."""
    by_connection: dict[str, list[int]] = {}
    for position, run in enumerate(waiting):
        by_connection.setdefault(run.request.connection, []).append(position)
    replies: list[Any] = [None] * len(waiting)
    for connection, positions in by_connection.items():
        chunk: list[int] = []
        cap = 0
        for position in positions:
            run = waiting[position]
            size = run.request.batch_size
            if chunk and len(chunk) >= min(cap, size):
                _send_chunk(connection, chunk, waiting, replies, lookup)
                chunk = []
            cap = min(cap, size) if chunk else size
            chunk.append(position)
        _send_chunk(connection, chunk, waiting, replies, lookup)
    return replies


def _send_chunk(
    connection: str, chunk: list[int], waiting: Sequence[_Waiting], replies: list[Any], lookup: LookupBatch
) -> None:
    answers = lookup(connection, [waiting[position].request.command for position in chunk])
    if len(answers) != len(chunk):
        msg = f"a lookup of {len(chunk)} commands on `{connection}` got {len(answers)} replies"
        raise FatalError(msg)
    for position, answer in zip(chunk, answers, strict=True):
        replies[position] = answer


def _reason(exc: BadRecordError) -> str:
    where = ", ".join(part for part in (f"job {exc.job}" if exc.job else "", exc.step or "") if part)
    return f"{exc.reason} ({where})" if where else exc.reason


def dlq_fields(stream: str, rejected: Rejected, *, now_ms: Callable[[], int] | None = None) -> dict[str, bytes | str]:
    """The fields of the ``dlq:<stream>`` entry for ``rejected``: the original entry and why it was rejected."""
    fields: dict[str, bytes | str] = {
        "key": rejected.key if rejected.key is not None else b"",
        "value": rejected.value if rejected.value is not None else b"",
        "reason_rejected": rejected.reason,
        "source_stream": stream,
        "source_id": rejected.entry_id,
        "rejected_at_ms": str(now_ms() if now_ms else int(time.time() * 1000)),
    }
    event = rejected.event
    if event is not None:
        fields.update(opcode=event.op, db=event.db or "", schema=event.schema or "", table=event.table)
    elif rejected.value is not None:
        fields.update(_coordinates(rejected.value))
    if rejected.job:
        fields["job"] = rejected.job
    return fields


def _coordinates(value: bytes) -> dict[str, str]:
    """Best effort: the op and table of an entry that failed to decode, for its DLQ entry."""
    try:
        envelope = orjson.loads(value)
    except orjson.JSONDecodeError:
        return {}
    payload = envelope.get("payload", envelope) if isinstance(envelope, dict) else None
    source = payload.get("source") if isinstance(payload, dict) else None
    if not isinstance(payload, dict) or not isinstance(source, dict):
        return {}
    found = {"opcode": payload.get("op"), "db": source.get("db"), "schema": source.get("schema")}
    found["table"] = source.get("table")
    return {name: str(v) for name, v in found.items() if isinstance(v, str | int) and v != ""}
