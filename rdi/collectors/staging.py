"""Exactly-once staging: a collector's Debezium events and its source position, written to the RDI DB atomically.

Every collector (PostgreSQL, MySQL) hands :meth:`StagingWriter.write` a batch of :class:`Entry` values (one
``XADD <stream> * key <key JSON> value <value JSON>`` each, Debezium Server's ``extended`` format, no MAXLEN,
cdc-notes §2.2) together with a :class:`Checkpoint`: the source position reached after the batch. One Lua script
(``EVALSHA``, ``EVAL`` on ``NOSCRIPT``) appends the entries and stores the checkpoint, **only if** its position is
greater than the one stored for that hash field. So:

* a crash leaves either the whole batch and its position in the RDI DB, or neither;
* a replay after a restart (the source resends from its last confirmed position) is skipped: ``write`` returns
  ``False`` and adds nothing;
* a write retried after a connection error whose outcome is unknown is applied at most once.

Position layout. The checkpoint value (the offset JSON operators read, e.g. ``{"lsn_commit":..,"txId":..}``)
is stored as given in ``HSET <key> <field> <value>``; its position goes to a companion field ``<field>:pos`` of the
same hash (one key, so one slot). Positions are compared **bytewise** (Redis' Lua compares strings with
``strcoll``, which depends on the server's locale, so the script does not use ``<``); a collector builds them so
that this order is its source order, e.g. fixed-width hex ``"%016x:%010d" % (commit_lsn, index_in_txn)``. The
companion position counts only while ``<field>`` exists: ``HDEL <key> <field>`` (an operator's reset) makes the
next write apply whatever its position.

Redis Cluster: the script declares every key it touches, and all of them (the streams of the batch and the
checkpoint key) must hash to one slot — the collector must then use names carrying the source's hash tag
(:func:`rdi.keys.hash_tag`, :func:`rdi.keys.offset_key` with a server name); otherwise Redis answers
``CROSSSLOT``. Cluster routing itself is not handled here.

Batch size: the script holds the server for the whole batch, ~8 µs per 1 KB entry (a pipelined XADD costs the
server ~3.5 µs; ``bench/micro/bench_staging.py``). 500–2000 entries per call (≤ ~2 MB, 4–16 ms) keep other
clients' latency low while the Python side stays the bottleneck; a larger source transaction is split by the
caller into chunks with increasing positions.

Backpressure (cdc-notes §2.4): before a write the writer compares ``used_memory`` (``INFO memory``) with the
maximum — ``maxmemory`` capped by ``memory_limit_mb`` (whichever of the two is set, the smaller when both are; no
check when neither is). At or above ``memory_threshold_pct`` of it, the writer sleeps with exponential backoff
and checks again, logging one warning per pause; it never drops. ``INFO`` is asked at most every
``memory_check_interval_s`` unless the bytes written since the last answer could have crossed the threshold.
An ``OOM command not allowed`` reply is handled the same way (back off, retry the whole write, forever);
connection errors, timeouts and ``READONLY`` replies are retried ``max_attempts`` times, then
:class:`~rdi.errors.RetryableError` names the RDI DB's address (never its credentials).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, OutOfMemoryError, ReadOnlyError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from rdi import keys
from rdi.errors import FatalError, RetryableError

__all__ = [
    "POSITION_SUFFIX",
    "STAGE_SCRIPT",
    "Checkpoint",
    "Entry",
    "StagingStopped",
    "StagingWriter",
    "stoppable_sleep",
]

_T = TypeVar("_T")

POSITION_SUFFIX = ":pos"
"""Appended to a checkpoint's hash field to name the companion field holding its position."""

# KEYS[1] checkpoint hash (HMGET fails on a wrong type before anything is written), KEYS[2..] the distinct streams
# of the batch.
# ARGV: field, position, value, then per entry: index of its stream in KEYS, key JSON, value JSON.
STAGE_SCRIPT = """\
local function older(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
local pos_field = ARGV[1] .. ':pos'
local stored = redis.call('HMGET', KEYS[1], ARGV[1], pos_field)
if stored[1] and stored[2] and not older(stored[2], ARGV[2]) then
  return 0
end
-- A failing command would not undo the ones before it: refuse up front what XADD would refuse midway.
for i = 2, #KEYS do
  local t = redis.call('TYPE', KEYS[i]).ok
  if t ~= 'stream' and t ~= 'none' then
    return redis.error_reply('WRONGTYPE `' .. KEYS[i] .. '` holds a ' .. t .. ', not a stream')
  end
end
for i = 4, #ARGV, 3 do
  redis.call('XADD', KEYS[tonumber(ARGV[i])], '*', 'key', ARGV[i + 1], 'value', ARGV[i + 2])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3], pos_field, ARGV[2])
return 1
"""
_STAGE_SHA = hashlib.sha1(STAGE_SCRIPT.encode()).hexdigest()

# Transient: the write may or may not have happened; the position check makes a retry safe.
_TRANSIENT: tuple[type[Exception], ...] = (RedisConnectionError, RedisTimeoutError, ReadOnlyError)

_MIB = 1024 * 1024


@dataclass(slots=True)
class Entry:
    """One staging-stream entry: ``XADD <stream> * key <key> value <value>`` (Debezium ``extended`` format)."""

    stream: str
    key: bytes
    value: bytes


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A source position to store with a batch: ``HSET <key> <field> <value>`` plus its ``position``.

    ``position`` orders checkpoints of one ``(key, field)`` bytewise, in source order (fixed-width, e.g.
    ``"%016x:%010d" % (commit_lsn, index_in_txn)``); ``value`` is the offset JSON operators read.
    """

    key: str
    field: str
    position: str
    value: bytes


class StagingWriter:
    """Writes batches of staging entries with their checkpoint, exactly once, holding back when Redis is full.

    ``client`` may decode responses or not. ``sleep``, ``clock`` (monotonic seconds, for the memory check's
    cache and pause length) and ``wall_clock`` (``updated_at``) are the writer's only notion of time. Several
    threads may share one writer: the client is thread-safe, and a race on the memory cache costs at most an
    extra ``INFO``.
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        memory_limit_mb: int = 0,
        memory_threshold_pct: int = 85,
        retry_initial_delay_s: float = 0.3,
        retry_max_delay_s: float = 10.0,
        max_attempts: int = 8,
        memory_check_interval_s: float = 0.1,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        log: logging.Logger | None = None,
    ) -> None:
        if not 0 < memory_threshold_pct <= 100:
            msg = f"`memory_threshold_pct` must be between 1 and 100, got {memory_threshold_pct} instead"
            raise ValueError(msg)
        if max_attempts < 1:
            msg = f"`max_attempts` must be at least 1, got {max_attempts} instead"
            raise ValueError(msg)
        self._client = client
        self._limit = memory_limit_mb * _MIB
        self._pct = memory_threshold_pct
        self._initial_delay = retry_initial_delay_s
        self._max_delay = retry_max_delay_s
        self._max_attempts = max_attempts
        self._check_interval = memory_check_interval_s
        self._sleep = sleep
        self._clock = clock
        self._wall_clock = wall_clock
        self._log = log or logging.getLogger("rdi.collectors.staging")
        # Last INFO memory answer: when, used bytes, effective maximum (0 = no check); bytes written since.
        self._checked_at: float | None = None
        self._used = 0
        self._max = 0
        self._written = 0

    # ---- public API ---------------------------------------------------------------------------------

    def load(self, key: str, field: str) -> tuple[str | None, bytes | None]:
        """The stored ``(position, value)`` of ``field`` in hash ``key``; ``(None, None)`` when there is none.

        The position is None when the value exists without one (written by someone else): any write applies.
        Raises ``RetryableError`` when the RDI DB cannot be reached after ``max_attempts``.
        """
        value, position = self._retrying(lambda: self._client.hmget(key, [field, field + POSITION_SUFFIX]))
        if value is None:
            return None, None
        pos = None if position is None else _text(position)
        return pos, _bytes(value)

    def write(self, entries: Sequence[Entry], checkpoint: Checkpoint) -> bool:
        """Append ``entries`` (in order) and store ``checkpoint``, atomically; skip if its position is not newer.

        Returns True when this call staged the batch, False when the stored position of ``checkpoint.field``
        was already at or after ``checkpoint.position`` — a replay, or this very batch applied by an attempt
        whose reply was lost. ``entries`` may be empty (the position alone advances). Idempotent under replay.
        Blocks while the RDI DB is short of memory or answers OOM (never drops); raises ``RetryableError``
        after ``max_attempts`` connection failures or timeouts in a row, and ``FatalError`` when Redis refuses
        the write (e.g. a staging key holding another type), in which case nothing was written.
        """
        streams: dict[str, int] = {}
        args: list[Any] = [checkpoint.field, checkpoint.position, checkpoint.value]
        size = len(checkpoint.value)
        for entry in entries:
            index = streams.get(entry.stream)
            if index is None:
                index = streams[entry.stream] = len(streams) + 2
            args += (index, entry.key, entry.value)
            size += len(entry.key) + len(entry.value)
        keys_ = [checkpoint.key, *streams]

        def attempt() -> bool:
            self._hold_while_memory_is_short()
            return bool(self._stage(keys_, args))

        try:
            applied = self._retrying(attempt)
        except ResponseError as exc:
            msg = f"the RDI database at `{self._address()}` refused the staging write: {_one_line(exc)}"
            raise FatalError(msg) from exc
        self._written += size
        return applied

    def retry(self, action: Callable[[], _T]) -> _T:
        """Run ``action`` (one idempotent Redis call or pipeline) with the write's retry policy and return its
        result: connection failures and timeouts retried ``max_attempts`` times, then ``RetryableError``; OOM
        retried with backoff, forever (``sleep`` may raise to give up). No memory check, no position."""
        return self._retrying(action)

    def set_status(self, source: str, fields: Mapping[str, str | int]) -> bool:
        """Best effort: ``HSET rdi:collector:<source>:status`` with ``fields`` and ``updated_at`` (epoch ms).

        Not part of the atomic write and never retried: returns False (and logs) when Redis did not take it.
        """
        mapping: dict[str, str | int] = {"updated_at": int(self._wall_clock() * 1000), **fields}
        try:
            self._client.hset(keys.collector_status(source), mapping=mapping)  # type: ignore[arg-type]
        except RedisError as exc:
            self._log.warning("could not update `%s`: %s", keys.collector_status(source), _one_line(exc))
            return False
        return True

    # ---- private ------------------------------------------------------------------------------------

    def _stage(self, keys_: list[str], args: list[Any]) -> Any:
        try:
            return self._client.evalsha(_STAGE_SHA, len(keys_), *keys_, *args)
        except NoScriptError:
            return self._client.eval(STAGE_SCRIPT, len(keys_), *keys_, *args)

    def _retrying(self, action: Callable[[], _T]) -> _T:
        delay = self._initial_delay
        failures = 0
        oom_warned = False
        while True:
            try:
                return action()
            except OutOfMemoryError as exc:
                self._checked_at = None
                if not oom_warned:
                    self._log.warning("the RDI database at `%s` is out of memory, retrying: %s", self._address(), exc)
                    oom_warned = True
            except _TRANSIENT as exc:
                failures += 1
                if failures >= self._max_attempts:
                    msg = (
                        f"the RDI database at `{self._address()}` did not answer after {failures} attempts: "
                        f"{type(exc).__name__}: {_one_line(exc)}"
                    )
                    raise RetryableError(msg) from exc
                self._log.warning(
                    "the RDI database at `%s` failed (attempt %d of %d), retrying in %.1f s: %s",
                    self._address(),
                    failures,
                    self._max_attempts,
                    delay,
                    _one_line(exc),
                )
            self._sleep(delay)
            delay = min(delay * 2, self._max_delay)

    def _hold_while_memory_is_short(self) -> None:
        delay = self._initial_delay
        paused_at: float | None = None
        while True:
            if self._memory_check_due():
                self._check_memory()
            if self._max == 0 or self._used * 100 < self._pct * self._max:
                break
            if paused_at is None:
                paused_at = self._clock()
                self._log.warning(
                    "RDI database memory at %.1f%% of %.1f MiB (used %.1f MiB, threshold %d%%): pausing until it falls",
                    self._used * 100 / self._max,
                    self._max / _MIB,
                    self._used / _MIB,
                    self._pct,
                )
            self._sleep(delay)
            delay = min(delay * 2, self._max_delay)
            self._checked_at = None
        if paused_at is not None:
            self._log.info("RDI database memory is below the threshold again after %.1f s", self._clock() - paused_at)

    def _memory_check_due(self) -> bool:
        if self._checked_at is None or self._clock() - self._checked_at >= self._check_interval:
            return True
        # Writes since the last answer may have crossed the threshold: ask rather than overshoot.
        return self._max > 0 and (self._used + self._written) * 100 >= self._pct * self._max

    def _check_memory(self) -> None:
        info = self._client.info("memory")
        maximum = int(info.get("maxmemory", 0))
        candidates = [m for m in (maximum, self._limit) if m > 0]
        self._used = int(info["used_memory"])
        self._max = min(candidates) if candidates else 0
        self._written = 0
        self._checked_at = self._clock()

    def _address(self) -> str:
        kwargs = self._client.connection_pool.connection_kwargs
        db = kwargs.get("db", 0)
        if "path" in kwargs:
            return f"unix:{kwargs['path']}/{db}"
        return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{db}"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value


class StagingStopped(Exception):
    """Raised inside a staging backoff pause once the collector is asked to stop; nothing of the pending write
    is staged or confirmed, so leaving is safe."""


def stoppable_sleep(stop: threading.Event) -> Callable[[float], None]:
    """A ``sleep`` for :class:`StagingWriter` that wakes at least every second and raises
    :class:`StagingStopped` once ``stop`` is set (a collector waiting on a full or unreachable RDI DB)."""

    def pause(seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if stop.is_set():
                raise StagingStopped
            time.sleep(min(left, 1.0))

    return pause
