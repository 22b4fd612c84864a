"""The processor's Bytewax output: write each batch's writes to the targets, dead-letter, acknowledge.

Redis targets get commands (below); SQL targets (`relational.write`, write-behind) get row writes, applied per
group of at most ``write_batch_size`` entries in one transaction by :class:`rdi.sql_target.SqlTarget` — rows the
database refuses as bad data reject their entry, the rest commits; a lost connection is retried there and then
raises :class:`~rdi.errors.RetryableError` with nothing acknowledged.

For the :class:`~rdi.processor.ProcessedBatch` values one ``write_batch`` call gets (several may be coalesced):

1. Per target connection, the commands are sent in order — batch after batch, entry after entry — pipelined
   (no transaction) in groups covering at most ``processors.write_batch_size`` entries; an entry's commands
   are never split between groups. Lua scripts (JSON merge, nest) are sent as ``EVALSHA`` (loaded into the
   target's script cache — every primary of a cluster — before the first group that needs each, and again
   after a ``NOSCRIPT`` reply).
2. An error reply that is the entry's fault (``WRONGTYPE``, a RedisJSON error…) rejects that entry once, with a
   one-line reason naming the command (``ProcessedBatch.reject`` corrects the counts); the other commands
   stand. A lost connection, a timeout or a passing server state (``OOM``, ``LOADING``, ``READONLY``…) resends
   the group from the first command without a final reply — the writes are idempotent, except a stream
   output's ``XADD``, which may then be written twice — with exponential backoff (``retry_*``; the
   ``advanced.target`` ``retry.*`` keys win when given). After the last attempt the sink raises
   :class:`~rdi.errors.RetryableError`: the process stops with nothing acknowledged, and the restarted
   processor re-reads the pending entries. A refused login or ACL is a :class:`~rdi.errors.FatalError` at once.
3. With ``wait_enabled``, each group ends with ``WAIT 1 <wait_timeout>``; when no replica acknowledged and
   ``retry_on_replica_failure`` is true, ``WAIT`` is repeated with backoff up to ``retry_max_attempts``, then
   :class:`~rdi.errors.RetryableError`; when it is false a warning is logged and the batch goes on.
4. Only then, in the RDI DB and in one ``MULTI``/``EXEC`` round trip: the rejected entries are appended to
   ``dlq:<stream>`` (``MAXLEN ~ dlq_max_messages``; not with ``error_handling: ignore``, where they are only
   counted), then every entry of every batch is acknowledged (``XACK``). A DLQ write refused for lack of memory
   aborts the transaction, so nothing is acknowledged.

``on_batch(batch, write_ms, ack_ms)`` is called for every batch once it is acknowledged (the metrics hook);
the times are those of the whole ``write_batch`` call the batch was part of.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias, TypeVar, cast

import redis
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry
from typing_extensions import override

from rdi import keys
from rdi.config.processors import Processors
from rdi.config.targets import SqlConnection, Target
from rdi.connections import (
    RedisClient,
    ReplyError,
    RetryPolicy,
    TargetConnections,
    classify_reply,
    reply_text,
    send_raw,
    translate_error,
)
from rdi.errors import FatalError, RetryableError
from rdi.jobs import Write
from rdi.processor import ProcessedBatch, dlq_fields
from rdi.sql_target import SqlTarget
from rdi.writers import SCRIPTS
from rdi.writers.redis import Arg, Command
from rdi.writers.sql import SqlWrite

__all__ = ["BatchObserver", "TargetSink"]

log = logging.getLogger("rdi.processor.sink")

BatchObserver: TypeAlias = Callable[[ProcessedBatch, float, float], None]
"""``on_batch(batch, write_ms, ack_ms)``: called after ``batch`` is acknowledged."""

_Op: TypeAlias = tuple[int, int, Command]
"""(index of the batch in ``write_batch``'s items, index of the entry in the batch, command as sent)."""
_AnyOp: TypeAlias = tuple[int, int, Write]
"""An :data:`_Op` of any target: a Redis command or a row write of a SQL target."""

_T = TypeVar("_T", _Op, _AnyOp, tuple[int, int, SqlWrite])

_REDIRECTS_PER_GROUP: Final = 3
_DEFAULT_SOCKET_TIMEOUT_S: Final = 10.0
_DEFAULT_CONNECT_TIMEOUT_S: Final = 2.0


@dataclass(frozen=True, slots=True)
class _Settings:
    batch_size: int
    retry: RetryPolicy
    error_handling: Literal["dlq", "ignore"]
    dlq_max_messages: int
    wait_enabled: bool
    wait_timeout_ms: int
    wait_retry: bool
    connect_timeout_s: float
    socket_timeout_s: float


def _settings(processors: Processors) -> _Settings:
    advanced = processors.advanced.target if processors.advanced else None
    given = advanced.model_fields_set if advanced is not None else set()
    wait_enabled = advanced.wait_enabled if advanced and "wait_enabled" in given else processors.wait_enabled
    wait_timeout_ms = (
        advanced.wait_write_timeout_ms if advanced and "wait_write_timeout_ms" in given else processors.wait_timeout
    )
    wait_retry = (
        advanced.wait_retry_enabled
        if advanced and "wait_retry_enabled" in given
        else processors.retry_on_replica_failure
    )
    connect_s = (
        advanced.connection_timeout_ms / 1000.0
        if advanced and "connection_timeout_ms" in given
        else _DEFAULT_CONNECT_TIMEOUT_S
    )
    socket_s = (
        advanced.socket_timeout_ms / 1000.0 if advanced and "socket_timeout_ms" in given else _DEFAULT_SOCKET_TIMEOUT_S
    )
    return _Settings(
        batch_size=processors.effective_write_batch_size,
        retry=RetryPolicy.for_target(processors),
        error_handling=processors.effective_error_handling,
        dlq_max_messages=processors.effective_dlq_max_messages,
        wait_enabled=wait_enabled,
        wait_timeout_ms=wait_timeout_ms,
        wait_retry=wait_retry,
        connect_timeout_s=connect_s,
        # WAIT blocks for up to its timeout: the socket must outlast it.
        socket_timeout_s=max(socket_s, wait_timeout_ms / 1000.0 + 1.0) if wait_enabled else socket_s,
    )


_SCRIPT_TEXT: Final = {sha: text for text, sha in SCRIPTS.items()}


def _as_sent(command: Write) -> Write:
    if type(command) is Command and command[0] == "EVAL" and len(command) > 1:
        sha = SCRIPTS.get(command[1]) if type(command[1]) is str else None
        if sha is not None:
            return Command("EVALSHA", sha, *command[2:])
    return command


def _operations(items: Sequence[ProcessedBatch]) -> dict[str, list[_AnyOp]]:
    """Every batch's writes per connection, in batch then entry order."""
    by_connection: dict[str, list[_AnyOp]] = {}
    for item_index, item in enumerate(items):
        for name, writes in item.writes.items():
            ops = by_connection.setdefault(name, [])
            ops.extend((item_index, entry, _as_sent(command)) for entry, command in writes)
    return by_connection


def _groups(ops: list[_T], max_entries: int) -> list[list[_T]]:
    """``ops`` cut between entries into groups of at most ``max_entries`` entries."""
    groups: list[list[_T]] = []
    current: list[_T] = []
    entries = 0
    last: tuple[int, int] | None = None
    for op in ops:
        entry = (op[0], op[1])
        if entry != last:
            if entries == max_entries:
                groups.append(current)
                current, entries = [], 0
            entries += 1
            last = entry
        current.append(op)
    if current:
        groups.append(current)
    return groups


def _command_name(command: Command) -> str:
    name = command[0]
    return name.decode("utf-8", "replace") if isinstance(name, bytes) else name


class _TargetSinkPartition(StatelessSinkPartition[ProcessedBatch]):
    def __init__(
        self,
        rdi: redis.Redis,
        group: str,
        connections: TargetConnections,
        settings: _Settings,
        on_batch: BatchObserver | None,
        sql: Mapping[str, SqlConnection],
    ) -> None:
        self._rdi = rdi
        self._group = group
        self._connections = connections
        self._sql = dict(sql)
        self._sql_targets: dict[str, SqlTarget] = {}
        self._settings = settings
        self._on_batch = on_batch
        self._scripts: set[tuple[str, Arg]] = set()
        """Connections whose script cache holds the JSON merge script (as far as this partition knows)."""

    @override
    def write_batch(self, items: list[ProcessedBatch]) -> None:
        if not items:
            return
        started = time.perf_counter()
        rejected: set[tuple[int, int]] = set()
        for name, ops in _operations(items).items():
            if name in self._sql:
                for rows in _groups(cast(list[tuple[int, int, SqlWrite]], ops), self._settings.batch_size):
                    self._write_rows(name, rows, items, rejected)
                continue
            for group in _groups(cast(list[_Op], ops), self._settings.batch_size):
                self._write_group(name, group, items, rejected)
        written = time.perf_counter()
        self._acknowledge(items)
        acked = time.perf_counter()
        if self._on_batch is not None:
            write_ms, ack_ms = (written - started) * 1000.0, (acked - written) * 1000.0
            for item in items:
                self._on_batch(item, write_ms, ack_ms)

    @override
    def close(self) -> None:
        self._connections.close()
        for target in self._sql_targets.values():
            target.close()
        self._rdi.close()

    # -- SQL targets ---------------------------------------------------------------------------------------

    def _write_rows(
        self,
        name: str,
        ops: list[tuple[int, int, SqlWrite]],
        items: Sequence[ProcessedBatch],
        rejected: set[tuple[int, int]],
    ) -> None:
        """One transaction of ``ops`` on SQL target ``name``; the entries whose rows were refused are rejected."""
        target = self._sql_targets.get(name)
        if target is None:
            target = self._sql_targets[name] = SqlTarget(name, self._sql[name], retry=self._settings.retry)
        entries: dict[tuple[int, int], int] = {}
        tagged = [(entries.setdefault((item_index, entry), len(entries)), write) for item_index, entry, write in ops]
        refused = target.write(tagged)
        if not refused:
            return
        by_number = {number: entry for entry, number in entries.items()}
        for number, reason in refused.items():
            item_index, entry = by_number[number]
            if (item_index, entry) not in rejected:
                rejected.add((item_index, entry))
                items[item_index].reject(entry, f"target `{name}` refused the row: {reason}")

    # -- target writes -------------------------------------------------------------------------------------

    def _write_group(
        self, name: str, ops: list[_Op], items: Sequence[ProcessedBatch], rejected: set[tuple[int, int]]
    ) -> None:
        retry = self._settings.retry
        failures = 0
        redirects = 0
        pending = ops
        while True:
            try:
                client = self._connections.get(name)
                self._load_script(name, client, pending)
                replies, acks = self._send(client, pending)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                error: Exception = translate_error(exc, name, self._connections.connection(name))
                if isinstance(error, FatalError):
                    raise error from exc
            except RetryableError as exc:
                error = exc
            except redis.RedisError as exc:
                raise translate_error(exc, name, self._connections.connection(name)) from exc
            else:
                stop = self._inspect(name, pending, replies, items, rejected)
                if stop is None:
                    self._await_replicas(name, client, acks)
                    return
                position, kind, reply = stop
                pending = pending[position:]
                if kind in ("noscript", "moved") and redirects < _REDIRECTS_PER_GROUP:
                    redirects += 1
                    if kind == "noscript":
                        self._scripts = {loaded for loaded in self._scripts if loaded[0] != name}
                    else:
                        self._connections.reconnect_as_cluster(name)
                    continue
                error = RetryableError(f"target `{name}` replied `{reply_text(reply)}`")
            failures += 1
            if failures >= retry.max_attempts:
                msg = (
                    f"writing to target `{name}` failed {failures} time(s), giving up: {error}; "
                    "nothing was acknowledged, the restarted processor writes these entries again"
                )
                raise RetryableError(msg) from error
            delay = retry.delay_s(failures)
            log.warning("writing to target `%s` failed (%s); attempt %d in %.3f s", name, error, failures + 1, delay)
            time.sleep(delay)

    def _load_script(self, name: str, client: RedisClient, ops: list[_Op]) -> None:
        for op in ops:
            command = op[2]
            if command[0] == "EVALSHA" and (name, command[1]) not in self._scripts:
                # a cluster client loads it on every primary
                client.script_load(_SCRIPT_TEXT[str(command[1])])
                self._scripts.add((name, command[1]))

    def _send(self, client: RedisClient, ops: list[_Op]) -> tuple[list[Any], int | None]:
        """The replies to ``ops`` (errors as values) and, with ``wait_enabled``, how many replicas acknowledged."""
        wait = self._settings.wait_enabled
        if isinstance(client, RedisCluster):
            pipe = client.pipeline(transaction=False)  # type: ignore[no-untyped-call]
            for _, _, command in ops:
                pipe.execute_command(*command)
            replies: list[Any] = pipe.execute(raise_on_error=False)
            return replies, self._wait(client) if wait else None
        commands = [op[2] for op in ops]
        if wait:  # on a single server, WAIT ends the same pipeline
            commands.append(Command("WAIT", "1", str(self._settings.wait_timeout_ms)))
        replies = send_raw(client, commands)
        if not wait:
            return replies, None
        acks = replies.pop()
        return replies, acks if isinstance(acks, int) else 0

    def _wait(self, client: RedisClient) -> int:
        """``WAIT 1 <timeout>`` on the connection(s) that wrote: the fewest replicas that acknowledged."""
        timeout = self._settings.wait_timeout_ms
        try:
            if isinstance(client, RedisCluster):
                # Each primary's pool hands back the connection its part of the pipeline used (LIFO).
                nodes = client.get_primaries()  # type: ignore[no-untyped-call]
                wait = client.execute_command
                return min(int(wait("WAIT", 1, timeout, target_nodes=node)) for node in nodes)  # type: ignore[no-untyped-call]
            return int(client.execute_command("WAIT", 1, timeout))  # type: ignore[no-untyped-call]
        except redis.RedisError as exc:
            log.warning("`WAIT` failed: %s", reply_text(exc))
            return 0

    def _await_replicas(self, name: str, client: RedisClient, acks: int | None) -> None:
        if acks is None or acks >= 1:
            return
        settings = self._settings
        if not settings.wait_retry:
            log.warning(
                "target `%s`: no replica acknowledged the writes within %d ms (`wait_timeout`); going on because "
                "`retry_on_replica_failure` is false",
                name,
                settings.wait_timeout_ms,
            )
            return
        retry = settings.retry
        for failures in range(1, retry.max_attempts):
            time.sleep(retry.delay_s(failures))
            if self._wait(client) >= 1:
                return
        msg = (
            f"target `{name}`: no replica acknowledged the writes within {settings.wait_timeout_ms} ms, "
            f"{retry.max_attempts} time(s); check the target's replicas, or set "
            "`processors.retry_on_replica_failure: false` to go on without their acknowledgement"
        )
        raise RetryableError(msg)

    def _inspect(
        self,
        name: str,
        ops: list[_Op],
        replies: list[Any],
        items: Sequence[ProcessedBatch],
        rejected: set[tuple[int, int]],
    ) -> tuple[int, ReplyError, BaseException] | None:
        """Rejects the entries whose commands failed by their own fault; returns where the group must be sent
        again (the position of the first reply that is no final answer), or ``None`` when it is done."""
        for position, ((item_index, entry, command), reply) in enumerate(zip(ops, replies, strict=True)):
            if not isinstance(reply, BaseException):
                continue
            kind = classify_reply(reply)
            if kind == "access":
                error = reply if isinstance(reply, redis.RedisError) else redis.ResponseError(str(reply))
                raise translate_error(error, name, self._connections.connection(name)) from reply
            if kind != "entry":
                return position, kind, reply
            if (item_index, entry) not in rejected:
                rejected.add((item_index, entry))
                reason = f"`{_command_name(command)}` failed on target `{name}`: {reply_text(reply)}"
                items[item_index].reject(entry, reason)
        return None

    # -- RDI DB: dead letters and acknowledgements ---------------------------------------------------------

    def _acknowledge(self, items: Sequence[ProcessedBatch]) -> None:
        settings = self._settings
        retry = settings.retry
        failures = 0
        while True:
            pipe = self._rdi.pipeline(transaction=True)
            for item in items:
                if settings.error_handling == "dlq":
                    dlq = keys.dlq_stream(item.stream)
                    for entry in item.rejected:
                        fields: Any = dlq_fields(item.stream, entry)
                        pipe.xadd(dlq, fields, maxlen=settings.dlq_max_messages, approximate=True)
                if item.ids:
                    pipe.xack(item.stream, self._group, *item.ids)
            try:
                pipe.execute()
                return
            except redis.exceptions.ExecAbortError as exc:
                error: Exception = RetryableError(
                    f"the RDI DB refused the dead letters and acknowledgements ({reply_text(exc)})"
                )
            except (redis.AuthenticationError, redis.exceptions.NoPermissionError) as exc:
                msg = f"the RDI DB refused the output ({reply_text(exc)}); check the user and password of `--rdi-url`"
                raise FatalError(msg) from exc
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                error = RetryableError(f"cannot reach the RDI DB ({reply_text(exc)})")
            except redis.ResponseError as exc:
                msg = f"the RDI DB refused a dead letter or acknowledgement ({reply_text(exc)})"
                raise FatalError(msg) from exc
            failures += 1
            if failures >= retry.max_attempts:
                raise RetryableError(f"{error}; gave up after {failures} time(s), nothing more was acknowledged")
            log.warning("%s; attempt %d in %.3f s", error, failures + 1, retry.delay_s(failures))
            time.sleep(retry.delay_s(failures))


class TargetSink(DynamicSink[ProcessedBatch]):
    """Writes each :class:`~rdi.processor.ProcessedBatch` to its target connections, dead-letters its rejected
    entries in the RDI DB at ``rdi_url`` and acknowledges its entries for the consumer group ``group`` — in that
    order, so an entry is acknowledged only after everything it produced is written (see the module docstring
    for grouping, retries, ``WAIT`` and the DLQ).

    ``targets`` are `config.yaml`'s; ``processors`` its `processors` settings. Each worker's partition has its
    own connections, made on first use. ``write_batch`` raises :class:`~rdi.errors.RetryableError` when a
    target or the RDI DB stays unreachable (nothing of the failed call is acknowledged) and
    :class:`~rdi.errors.FatalError` for a refused login or ACL.
    """

    def __init__(
        self,
        rdi_url: str,
        group: str,
        targets: Mapping[str, Target],
        processors: Processors,
        *,
        on_batch: BatchObserver | None = None,
    ) -> None:
        self.rdi_url = rdi_url
        self.group = group
        self.targets = dict(targets)
        self.processors = processors
        self.on_batch = on_batch

    @override
    def build(self, step_id: str, worker_index: int, worker_count: int) -> StatelessSinkPartition[ProcessedBatch]:
        settings = _settings(self.processors)
        connections = TargetConnections(
            self.targets,
            retry=settings.retry,
            connect_timeout_s=settings.connect_timeout_s,
            socket_timeout_s=settings.socket_timeout_s,
        )
        rdi = redis.Redis.from_url(self.rdi_url, decode_responses=False, retry=Retry(NoBackoff(), 0))
        sql = {name: t.connection for name, t in self.targets.items() if isinstance(t.connection, SqlConnection)}
        return _TargetSinkPartition(rdi, self.group, connections, settings, self.on_batch, sql)
