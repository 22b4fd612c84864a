"""The ingest processor's Bytewax input: the staging streams ``data:*`` of the RDI DB, read with a consumer group.

Layout (bytewax-notes §1.5, adapted so that streams created while the flow runs are read too):

* The partitions are fixed buckets ``"0"``..``"<partitions - 1>"``, listed on every worker. Bucket ``i`` owns the
  streams whose ``zlib.crc32(name) % partitions == i``. Bytewax places each bucket on exactly one worker, so a
  stream has one reader in the whole cluster at a time and is read in order.
* Each bucket re-discovers the streams (``SCAN MATCH <pattern> TYPE stream``) every ``discovery_interval_s``; the
  partitions of one process share one scan.
* Per owned stream: the consumer group is created at id ``0`` (so a stream's whole history is processed), and the
  stream is read by the consumer :func:`rdi.keys.processor_consumer` — one per stream, the same after a restart or
  a rescale, so a restarted processor first re-reads what that consumer was given and never acknowledged (its
  pending entries), then new entries (``>``).
* The source never acknowledges: the output does, after the target write (DESIGN §5). ``snapshot()`` is ``None``:
  positions live in the consumer group, and the flow runs without ``-r``.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeAlias

import redis
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from redis.backoff import NoBackoff
from redis.retry import Retry
from typing_extensions import override

from rdi import keys
from rdi.connections import send_raw
from rdi.errors import FatalError
from rdi.processor import EntryFields, StreamBatch

__all__ = ["SourceHealth", "StagingSource"]

log = logging.getLogger("rdi.processor.source")

_NEW: Final = b">"
_FIRST: Final = b"0"
_SCAN_COUNT: Final = 1000
_RETRY_FIRST_S: Final = 0.2
_RETRY_MAX_S: Final = 5.0

_Entry: TypeAlias = tuple[bytes, EntryFields]


class _StreamDirectory:
    """The staging streams of the RDI DB, scanned at most once per ``ttl_s`` for all partitions of a process."""

    def __init__(self, pattern: str, ttl_s: float) -> None:
        self._pattern = pattern
        self._ttl_s = ttl_s
        self._lock = threading.Lock()
        self._names: list[bytes] = []
        self._scanned_at: float | None = None

    def names(self, client: redis.Redis, now: float) -> list[bytes]:
        # The lock is held over the scan so that partitions asking at the same time share it.
        with self._lock:
            if self._scanned_at is None or now - self._scanned_at >= self._ttl_s:
                found = client.scan_iter(match=self._pattern, count=_SCAN_COUNT, _type="stream")
                self._names = sorted(set(found))
                self._scanned_at = now
            return self._names


@dataclass(slots=True)
class _Stream:
    key: bytes
    name: str
    consumer: str
    cursor: bytes
    """``0`` or an id: re-reading this consumer's pending entries after it; ``>``: reading new entries."""
    last_id: bytes | None = None
    """Id of the last entry handed to the flow in this execution."""


def _bucket(key: bytes, partitions: int) -> int:
    return zlib.crc32(key) % partitions


def _entries(reply: Any) -> list[_Entry]:
    """The entries of a raw one-stream ``XREADGROUP`` reply: ``[[stream, entries]]`` (RESP2) or
    ``{stream: entries}`` (RESP3), each entry ``[id, [field, value, …]]``."""
    if not reply:
        return []
    per_stream: Iterable[Any] = reply.values() if isinstance(reply, dict) else (item[1] for item in reply)
    entries: list[_Entry] = []
    for rows in per_stream:
        for entry_id, fields in rows or ():
            # A pending entry deleted from the stream comes back without fields; it is handed on as such so the
            # output dead-letters and acknowledges it instead of leaving it pending forever.
            entries.append((entry_id, _fields(fields)))
    return entries


def _fields(flat: Any) -> dict[bytes, bytes]:
    """An entry's fields from the raw reply: ``[f1, v1, f2, v2, …]`` (RESP2), a map (RESP3) or nil."""
    if not flat:
        return {}
    if isinstance(flat, dict):
        return flat
    if len(flat) == 4:  # the staging format: key and value
        return {flat[0]: flat[1], flat[2]: flat[3]}
    return dict(zip(flat[::2], flat[1::2], strict=False))


def _refused(exc: redis.RedisError) -> FatalError:
    return FatalError(
        f"the RDI DB refused the staging source ({type(exc).__name__}: {exc}); "
        "check the user and password in `--rdi-url` and that its ACL allows SCAN, XGROUP and XREADGROUP "
        "on the staging streams"
    )


class SourceHealth:
    """Whether this process reads the RDI DB, for the processor's ``/readyz``: ready after a first read (or
    stream discovery) of one of its partitions succeeded, and not while one of them has lost the connection."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._read = False
        self._lost: set[int] = set()

    def read(self, index: int) -> None:
        with self._lock:
            self._read = True
            self._lost.discard(index)

    def lost(self, index: int) -> None:
        with self._lock:
            self._lost.add(index)

    def ready(self) -> bool:
        with self._lock:
            return self._read and not self._lost


class _StagingPartition(StatefulSourcePartition[StreamBatch, None]):
    def __init__(
        self,
        client: redis.Redis,
        directory: _StreamDirectory,
        *,
        group: str,
        index: int,
        partitions: int,
        read_batch_size: int,
        read_batch_timeout_ms: int,
        discovery_interval_s: float,
        health: SourceHealth,
    ) -> None:
        self._client = client
        self._health = health
        self._directory = directory
        self._group = group
        self._index = index
        self._partitions = partitions
        self._count = read_batch_size
        self._idle = timedelta(milliseconds=read_batch_timeout_ms)
        self._discovery_interval_s = discovery_interval_s
        self._streams: dict[bytes, _Stream] = {}
        self._discovered_at: float | None = None
        self._awake: datetime | None = None
        self._retry_s: float | None = None
        self._switched = False

    @override
    def next_batch(self) -> list[StreamBatch]:
        self._switched = False
        try:
            batches = self._read()
        except (redis.AuthenticationError, redis.exceptions.NoPermissionError) as exc:
            raise _refused(exc) from exc
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            self._health.lost(self._index)
            self._lost(exc)
            return []
        self._health.read(self._index)
        if self._retry_s is not None:
            log.info("staging source bucket %d: the RDI DB answers again", self._index)
            self._retry_s = None
        # A stream that just finished re-reading its pending entries has new entries to read at once.
        self._awake = None if batches or self._switched else datetime.now(UTC) + self._idle
        return batches

    @override
    def next_awake(self) -> datetime | None:
        return self._awake

    @override
    def snapshot(self) -> None:
        return None

    @override
    def close(self) -> None:
        self._client.close()

    def _read(self) -> list[StreamBatch]:
        now = time.monotonic()
        if self._discovered_at is None or now - self._discovered_at >= self._discovery_interval_s:
            self._discover(now)
        streams = list(self._streams.values())
        if not streams:
            return []
        group, count = self._group, self._count
        commands = [
            ("XREADGROUP", "GROUP", group, stream.consumer, "COUNT", count, "STREAMS", stream.key, stream.cursor)
            for stream in streams
        ]
        started = time.perf_counter()
        replies: Sequence[Any] = send_raw(self._client, commands)
        read_ms = (time.perf_counter() - started) * 1000.0
        read_at = time.time()
        batches: list[StreamBatch] = []
        for stream, reply in zip(streams, replies, strict=True):
            if isinstance(reply, redis.ResponseError):
                self._read_failed(stream, reply)
                continue
            entries = _entries(reply)
            if not entries:
                if stream.cursor != _NEW:
                    stream.cursor = _NEW  # this consumer's pending entries are all re-delivered
                    self._switched = True
                continue
            ids = [entry_id for entry_id, _ in entries]
            if stream.cursor != _NEW:
                stream.cursor = ids[-1]
            stream.last_id = ids[-1]
            batches.append(
                StreamBatch(
                    stream.name,
                    ids,
                    [fields for _, fields in entries],
                    read_at=read_at,
                    read_ms=read_ms,
                )
            )
        return batches

    def _discover(self, now: float) -> None:
        names = [
            key for key in self._directory.names(self._client, now) if _bucket(key, self._partitions) == self._index
        ]
        self._discovered_at = now
        owned = set(names)
        for key in [key for key in self._streams if key not in owned]:
            del self._streams[key]
        for key in names:
            if key not in self._streams and self._join(key):
                name = key.decode("utf-8", "surrogateescape")
                self._streams[key] = _Stream(key, name, keys.processor_consumer(name), _FIRST)

    def _join(self, key: bytes) -> bool:
        """Creates the group on ``key`` unless it exists; False when ``key`` is no stream (any longer)."""
        try:
            self._client.xgroup_create(key, self._group, id=_FIRST)
        except redis.ResponseError as exc:
            if isinstance(exc, redis.exceptions.NoPermissionError):
                raise
            return str(exc).startswith("BUSYGROUP")
        return True

    def _read_failed(self, stream: _Stream, exc: redis.ResponseError) -> None:
        if isinstance(exc, redis.exceptions.NoPermissionError):
            raise exc
        if str(exc).startswith("NOGROUP") and self._join(stream.key):
            # The stream was deleted and created again, or the group destroyed: the new group starts at "0"
            # and this consumer has nothing pending in it.
            stream.cursor = _FIRST
            stream.last_id = None
            return
        # Gone, or no stream any more: forget it; discovery takes it up again if it comes back as a stream.
        log.info("staging source bucket %d: stops reading `%s` (%s)", self._index, stream.name, exc)
        del self._streams[stream.key]

    def _lost(self, exc: redis.RedisError) -> None:
        if self._retry_s is None:
            log.warning(
                "staging source bucket %d: lost the RDI DB connection (%s: %s); retrying with backoff",
                self._index,
                type(exc).__name__,
                exc,
            )
            self._retry_s = _RETRY_FIRST_S
        else:
            self._retry_s = min(self._retry_s * 2, _RETRY_MAX_S)
        self._discovered_at = None
        for stream in self._streams.values():
            # A read the server answered but whose reply was lost delivered entries to this consumer that the
            # flow never saw: re-read its pending entries after the last one handed on.
            stream.cursor = stream.last_id or _FIRST
        self._awake = datetime.now(UTC) + timedelta(seconds=self._retry_s)


class StagingSource(FixedPartitionedSource[StreamBatch, None]):
    """Every staging stream matching ``pattern`` in the RDI DB at ``rdi_url``, read with the consumer group ``group``.

    Emits one :class:`~rdi.processor.StreamBatch` per stream and read (at most ``read_batch_size`` entries, in
    stream order; the entries' raw fields, ``{b"key": …, b"value": …}``). A stream is read by one partition of
    ``partitions`` (by ``crc32`` of its name), so by one worker, in order. Streams created while the flow runs are
    read within about ``discovery_interval_s``.

    Delivery is at-least-once: nothing is acknowledged here — the output acknowledges each entry after writing
    what it produced — and each stream's consumer first re-delivers what it was given before and never
    acknowledged (a crashed run's entries), then new entries. A reading partition never blocks: when no stream
    has new entries it sleeps ``read_batch_timeout_ms``. A lost RDI DB connection is logged once and retried
    with backoff; a refused login or missing ACL permission raises :class:`~rdi.errors.FatalError`.

    Raises ``ValueError`` at construction for a non-positive size, timeout, interval or partition count.
    """

    def __init__(
        self,
        rdi_url: str,
        group: str,
        *,
        pattern: str = keys.STREAM_PATTERN,
        read_batch_size: int = 2000,
        read_batch_timeout_ms: int = 100,
        discovery_interval_s: float = 1.0,
        partitions: int = 8,
    ) -> None:
        for name, value in (
            ("read_batch_size", read_batch_size),
            ("read_batch_timeout_ms", read_batch_timeout_ms),
            ("discovery_interval_s", discovery_interval_s),
            ("partitions", partitions),
        ):
            if value <= 0:
                msg = f"`{name}` must be positive, got {value!r} instead"
                raise ValueError(msg)
        self.rdi_url = rdi_url
        self.group = group
        self.pattern = pattern
        self.read_batch_size = read_batch_size
        self.read_batch_timeout_ms = read_batch_timeout_ms
        self.discovery_interval_s = discovery_interval_s
        self.partitions = partitions
        self._directory = _StreamDirectory(pattern, ttl_s=discovery_interval_s / 2)
        self.health = SourceHealth()
        """This process's reading health (its partitions share it), for ``/readyz``."""

    @override
    def list_parts(self) -> list[str]:
        return [str(index) for index in range(self.partitions)]

    @override
    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _StagingPartition:
        # One quick retry only (the default retries for seconds): next_batch must not block the worker, and
        # the partition backs off by itself. Options in the URL's query string still win.
        client = redis.Redis.from_url(
            self.rdi_url,
            decode_responses=False,
            encoding_errors="surrogateescape",
            retry=Retry(NoBackoff(), 1),
        )
        return _StagingPartition(
            client,
            self._directory,
            group=self.group,
            index=int(for_part),
            partitions=self.partitions,
            read_batch_size=self.read_batch_size,
            read_batch_timeout_ms=self.read_batch_timeout_ms,
            discovery_interval_s=self.discovery_interval_s,
            health=self.health,
        )
