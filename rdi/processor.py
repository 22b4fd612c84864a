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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import orjson

from rdi.config import Pipeline
from rdi.config.processors import Processors
from rdi.errors import BadRecordError
from rdi.events import ChangeEvent, ColumnType, decode_event
from rdi.events.types import DEFAULT_PLACEHOLDER
from rdi.jobs import JobRouter, Lookup
from rdi.writers.redis import Command, WriteDefaults

__all__ = [
    "BatchCounts",
    "EntryFields",
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
    writes: dict[str, list[tuple[int, Command]]]
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


def _no_lookup(connection: str, command: tuple[str, ...]) -> Any:
    return None


class Processor:
    """A pipeline's jobs compiled once; :meth:`process` applies them to a batch."""

    def __init__(self, pipeline: Pipeline, *, placeholder: str = DEFAULT_PLACEHOLDER) -> None:
        processors = pipeline.config.processors
        self.router = JobRouter(pipeline.jobs, write_defaults(processors))
        self.placeholder = placeholder
        self.error_handling: Literal["dlq", "ignore"] = processors.effective_error_handling

    def process(
        self,
        batch: StreamBatch,
        *,
        types: Mapping[str, ColumnType] | None = None,
        lookup: Lookup = _no_lookup,
    ) -> ProcessedBatch:
        """Decode, route, transform and plan every entry of ``batch``; never raises for a bad entry."""
        started = time.perf_counter()
        writes: dict[str, list[tuple[int, Command]]] = {}
        rejected: list[Rejected] = []
        counts = BatchCounts(incoming=len(batch.entries))
        ops: dict[int, str] = {}
        jobs: dict[int, str] = {}
        router = self.router
        placeholder = self.placeholder
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
                result = job.apply(event, lookup)
            except BadRecordError as exc:
                rejected.append(Rejected(batch.ids[index], key, value, _reason(exc), job_name, event))
                counts.rejected += 1
                continue
            if result.filtered:
                counts.filtered += 1
                continue
            counts.processed += 1
            wrote = False
            for output in result.outputs:
                if output.commands:
                    wrote = True
                    target = writes.setdefault(output.connection, [])
                    target.extend((index, command) for command in output.commands)
            if wrote:
                op = event.op
                ops[index] = op
                jobs[index] = job_name
                if op in _INSERT_OPS:
                    counts.inserted += 1
                elif op == "u":
                    counts.updated += 1
                elif op == "d":
                    counts.deleted += 1
        return ProcessedBatch(
            stream=batch.stream,
            ids=batch.ids,
            entries=batch.entries,
            writes=writes,
            rejected=rejected,
            counts=counts,
            ops=ops,
            jobs=jobs,
            read_at=batch.read_at,
            read_ms=batch.read_ms,
            transform_ms=(time.perf_counter() - started) * 1000.0,
        )


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
