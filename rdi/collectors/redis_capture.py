"""`rdi collector` for an application Redis: capture changes of tracked key patterns into write-behind staging.

How a run goes (DESIGN §4, wb-contract §1–2):

1. **Replication** (``rdi.capture: auto | psync``): connect as a replica (:mod:`rdi.collectors.redis_replication`)
   and ``PSYNC`` from the position stored in ``rdi:capture:<source>:offset``. ``+CONTINUE``: follow the stream.
   ``+FULLRESYNC`` is a **gap** (first start, or the backlog lost the position): the RDB is skipped, one line
   says why, and a **reconciliation** runs before any further command is consumed.
2. Per chunk of the stream, the keys of tracked patterns the commands write (:mod:`rdi.collectors.redis_commands`,
   in order, de-duplicated) are read in one round trip (type, value, ``PEXPIRETIME``: a read-only Lua script,
   or a pipeline where scripts are refused) and compared with the *known* hash (``rdi:capture:<source>:known``:
   the last value emitted per key). Each change is an event (``c`` new key, ``u`` changed value, ``d`` key gone;
   ``expired`` when it vanished at or after its expire-at time — the one recorded when last read, or the one a
   ``PEXPIREAT`` in the same chunk set, so a key that got its TTL and expired while the capture lagged or was
   down still counts as expired) appended to its pattern's stream
   ``wb:<source>.<db>.<pattern>``. The chunk's XADDs, known-hash updates and the new offset go in **one
   MULTI/EXEC**, and only then is the offset acknowledged to the master: a kill at any instant re-reads at most
   a chunk, whose unchanged values the known hash skips.
3. ``FLUSHDB``/``FLUSHALL``/``SWAPDB`` in the stream change keys no command names: reconciliation too.
4. **Keyspace fallback** (``rdi.capture: keyspace``, or ``auto`` when the server refuses replication — ACL
   without ``+psync``/``+replconf``, managed Redis): ``PSUBSCRIBE __keyspace@<db>__:*`` (``notify-keyspace-events``
   is turned on with ``CONFIG SET`` when allowed), a reconciliation after every (re)connect and every
   ``rdi.capture.reconcile.interval.s``; no offset is kept (the offset hash records ``mode: keyspace``).

Reconciliation: ``SCAN MATCH`` each pattern and emit every key whose value differs from the known hash
(``snapshot: "true"``), then read every known key the scan did not see and delete the gone ones.

When the application Redis is the RDI DB (legacy `connections:` form), rdi's own keys are never tracked.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson
import redis
from hiredis import pack_command
from redis.exceptions import NoPermissionError, ResponseError

from rdi import keys
from rdi.collectors.redis_commands import CommandTable, compile_glob, parse_command_reply
from rdi.collectors.redis_replication import Command, ReplicaClient, ReplicationRefused
from rdi.collectors.settings import OWN_KEY_PREFIXES, RedisCaptureSettings
from rdi.errors import FatalError, RetryableError, one_line

__all__ = ["READ_SCRIPT", "RedisCapture"]

log = logging.getLogger("rdi.collector.redis")

# One round trip per chunk: server time (ms), then per key its type, PEXPIRETIME and value (false: untracked).
READ_SCRIPT = """#!lua flags=no-writes
local t = redis.call('TIME')
local out = {tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)}
for _, k in ipairs(KEYS) do
  local ty = redis.call('TYPE', k).ok
  local v = false
  if ty == 'hash' then v = redis.call('HGETALL', k)
  elseif ty == 'ReJSON-RL' then v = redis.call('JSON.GET', k)
  elseif ty == 'set' then v = redis.call('SMEMBERS', k)
  elseif ty == 'zset' then v = redis.call('ZRANGE', k, 0, -1, 'WITHSCORES')
  end
  out[#out + 1] = ty
  out[#out + 1] = redis.call('PEXPIRETIME', k)
  out[#out + 1] = v
end
return out
"""
_TYPES = {b"hash": "hash", b"ReJSON-RL": "json", b"set": "set", b"zset": "zset"}
_STATUS_EVERY_S = 1.0
_ACK_EVERY_S = 1.0
_READ_WAIT_S = 0.2


@dataclass(slots=True)
class _Current:
    """A key as read now: type (rdi's name) and value, or ``None`` for both when gone or of an untracked type."""

    type: str | None
    value: Any
    expire_at: int  # ms, -1 none


class _Stopped(Exception):
    """Stop asked during a reconciliation: leave without storing the position it would have reached."""


@dataclass(frozen=True, slots=True)
class _Event:
    key: bytes
    op: str
    before: Any
    after: Any
    kind: str
    snapshot: bool
    expired: bool
    position: _Position | None
    ts_ms: int  # capture wall clock
    server_ms: int  # the application Redis' clock when the key was read


class _Transaction:
    """Commands packed by hiredis and sent as one MULTI/EXEC: one write, and the replies read without redis-py's
    per-command pipeline overhead."""

    def __init__(self) -> None:
        self.parts: list[bytes] = [pack_command((b"MULTI",))]
        self.count = 0

    def add(self, *args: bytes | str | int) -> None:
        self.parts.append(pack_command(args))  # type: ignore[arg-type]  # the stubs type a 1-tuple
        self.count += 1

    def execute(self, client: Any) -> None:
        if not self.count:
            return
        self.parts.append(pack_command((b"EXEC",)))
        pool = client.connection_pool
        conn = pool.get_connection()
        try:
            conn.send_packed_command([b"".join(self.parts)])
            for _ in range(self.count + 1):  # +OK, then QUEUED per command (an error reply raises)
                conn.read_response()
            results = conn.read_response()
        except BaseException:
            conn.disconnect()  # mid-transaction: the server discards it with the connection
            raise
        finally:
            pool.release(conn)
        for result in results or ():
            if isinstance(result, Exception):
                raise FatalError(f"the RDI database refused a write-behind staging write: {one_line(result)}")


@dataclass(slots=True)
class _Position:
    replid: str | None
    offset: int | None
    db: int


class RedisCapture:
    """One Redis source's capture. ``run()`` blocks until ``stop`` is set; safe to kill at any instant.

    Raises :class:`RetryableError` on a lost connection (the caller starts over: positions live in the RDI DB)
    and :class:`FatalError` for what a restart cannot fix (replication refused with ``rdi.capture: psync``,
    keyspace notifications off and not allowed to be turned on).
    """

    def __init__(
        self, settings: RedisCaptureSettings, rdi: redis.Redis, *, stop: threading.Event | None = None
    ) -> None:
        self.settings = settings
        self.rdi: Any = rdi  # redis-py's stubs type replies loosely: bytes in, bytes out here
        self.stop = stop or threading.Event()
        self.source = settings.source
        self.offset_key = keys.capture_offset(settings.source)
        self.known_key = keys.capture_known(settings.source)
        self.status_key = keys.collector_status(settings.source)
        self.patterns = [(p, compile_glob(p.pattern), keys.write_behind_stream(settings.source, settings.db, p.pattern))
                         for p in settings.patterns]  # fmt: skip
        self.app: Any = None
        self.table: CommandTable | None = None
        self.script_refused = False
        self.warned: set[tuple[str, str]] = set()
        self.position = _Position(None, None, 0)  # committed: the stored offset and the db selected there
        self.stream_db = 0  # the db selected after the last command read
        self.mode = "psync"
        self.phase = "starting"
        self.status_at = 0.0
        self.reconnected = False

    # ---- entry point ------------------------------------------------------------------------------

    def run(self) -> None:
        if not self.patterns:
            log.warning("no write-behind job tracks a key pattern of source `%s`: nothing to capture", self.source)
        self.app = self._connect()
        try:
            if self.settings.mode != "keyspace":
                try:
                    self._replicate()
                    return
                except ReplicationRefused as exc:
                    if self.settings.mode == "psync":
                        raise FatalError(
                            f"the Redis at `{self._address()}` refused replication ({exc}); grant the capture's "
                            "user `+psync +replconf`, or set `advanced.source.rdi.capture: keyspace`"
                        ) from None
                    log.warning("the Redis at `%s` refused replication (%s): capturing with keyspace notifications",
                                self._address(), exc)  # fmt: skip
            self._keyspace()
        except _Stopped:
            log.info("stopped during a reconciliation; the next start runs it again")
        except (OSError, redis.ConnectionError, redis.TimeoutError) as exc:
            raise RetryableError(f"the application Redis at `{self._address()}`: {one_line(exc)}") from exc
        finally:
            self.app.close()

    # ---- replication ----------------------------------------------------------------------------------

    def _replicate(self) -> None:
        assert self.app is not None
        s = self.settings
        self.table = self._command_table()
        stored = self.rdi.hgetall(self.offset_key)
        replid = _text(stored.get(b"replid")) if stored.get(b"mode") == b"psync" else None
        offset = int(stored[b"offset"]) if replid and stored.get(b"offset") else None
        db = int(stored.get(b"db", b"0")) if replid else 0
        client = ReplicaClient(s.host, s.port, user=s.user, password=s.password, tls=self._tls())
        try:
            reply = client.psync(replid, offset)
            self.mode = "psync"
            self.position = _Position(reply.replid, reply.offset, db if not reply.full else 0)
            self.stream_db = self.position.db
            if reply.full:
                why = (
                    "first start"
                    if replid is None
                    else f"the master no longer holds offset {offset + 1 if offset is not None else 0} of {replid}"
                )
                log.warning("gap in the replication stream of `%s` (%s): reconciling", self._address(), why)
                self._reconcile(client)
                self._flush({}, self.position)
            elif replid != reply.replid:
                log.info("the master's replication id changed to %s (failover); following it", reply.replid)
            self._set_status("streaming", force=True)
            self._stream(client)
        finally:
            client.close()

    def _stream(self, client: ReplicaClient) -> None:
        assert self.table is not None
        tracked = self.settings.db
        committed_at = time.monotonic()
        while not self.stop.is_set():
            commands = client.read(_READ_WAIT_S)
            while commands and len(commands) < self.settings.chunk_keys and (more := client.read(0)):
                commands += more  # what already arrived, up to a chunk
            pending: dict[bytes, set[int]] = {}
            expires: dict[bytes, int] = {}  # key → expire-at (ms, -1 none) the chunk's commands set
            db = self.stream_db
            last: Command | None = None
            for cmd in commands:
                name = cmd.args[0].lower()
                if name == b"select" and len(cmd.args) > 1:
                    db = int(cmd.args[1])
                    last = cmd
                    continue
                touched = self.table.touched(cmd.args, db)
                if touched.getkeys:
                    touched.keys = [(db, k) for k in self._getkeys(cmd.args)]
                if touched.reconcile and _reaches(name, cmd.args, db, tracked):
                    if last is not None:
                        self._flush(pending, _Position(self.position.replid, last.end, db), expires=expires)
                        pending, expires = {}, {}
                    log.warning("`%s` in the replication stream of `%s`: reconciling", name.decode().upper(),
                                self._address())  # fmt: skip
                    self._reconcile(client)
                    self._flush({}, _Position(self.position.replid, cmd.end, db))
                    last = None
                    continue
                command = name.decode(errors="replace")
                for key_db, key in touched.keys:
                    if key_db != tracked:
                        continue
                    hits = self._patterns_of(key, command)
                    if hits:
                        pending.setdefault(key, set()).update(hits)
                        if name in _EXPIRE_COMMANDS:
                            expires[key] = _expire_at(name, cmd.args)
                        elif name in _MOVES_KEY and key == cmd.args[1]:
                            expires[key] = -1  # moved away by a command: gone, but not expired
                last = cmd
                if len(pending) >= self.settings.chunk_keys:
                    self._flush(pending, _Position(self.position.replid, cmd.end, db), expires=expires)
                    pending, expires, last = {}, {}, None
                    committed_at = time.monotonic()
            self.stream_db = db
            if last is not None and (pending or time.monotonic() - committed_at >= _ACK_EVERY_S):
                self._flush(pending, _Position(self.position.replid, last.end, db), expires=expires)
                committed_at = time.monotonic()
            if self.position.offset is not None and client.acked != self.position.offset:
                client.ack(self.position.offset)
            self._set_status("streaming")

    # ---- keyspace notifications ---------------------------------------------------------------------------

    def _keyspace(self) -> None:
        assert self.app is not None
        self.mode = "keyspace"
        self._enable_notifications()
        pubsub = self.app.pubsub(ignore_subscribe_messages=True)
        prefix = f"__keyspace@{self.settings.db}__:".encode()
        try:
            pubsub.psubscribe(prefix + b"*")
            # redis-py reconnects and resubscribes by itself: notifications sent in between are lost, so a
            # reconnection must be followed by a reconciliation.
            self.reconnected = False
            pubsub.connection.register_connect_callback(self._on_reconnect)
            self.rdi.hset(self.offset_key, mapping={"mode": "keyspace"})
            self.rdi.hdel(self.offset_key, "replid", "offset", "db")
            log.info("capturing `%s` with keyspace notifications: reconciling", self._address())
            self._reconcile(None)
            reconciled_at = time.monotonic()
            self._set_status("keyspace", force=True)
            while not self.stop.is_set():
                if self.reconnected:
                    self.reconnected = False
                    log.warning("the keyspace notification link to `%s` was lost: reconciling", self._address())
                    self._enable_notifications()
                    self._reconcile(None)
                    reconciled_at = time.monotonic()
                pending: dict[bytes, set[int]] = {}
                expires: dict[bytes, int] = {}
                message = pubsub.get_message(timeout=_READ_WAIT_S)
                while message is not None:
                    if message.get("type") == "pmessage":
                        key = bytes(message["channel"])[len(prefix) :]
                        event = _text(message["data"])
                        hits = self._patterns_of(key, event)
                        if hits:
                            pending.setdefault(key, set()).update(hits)
                            if event in ("expired", "persist"):
                                expires[key] = 0 if event == "expired" else -1
                    if len(pending) >= self.settings.chunk_keys:
                        break
                    message = pubsub.get_message(timeout=0)
                if pending:
                    self._flush(pending, None, expires=expires)
                if time.monotonic() - reconciled_at >= self.settings.reconcile_interval_s:
                    self._reconcile(None)
                    reconciled_at = time.monotonic()
                self._set_status("keyspace")
        finally:
            pubsub.close()

    def _on_reconnect(self, connection: Any) -> None:
        self.reconnected = True

    def _enable_notifications(self) -> None:
        assert self.app is not None
        try:
            current = _text(self.app.config_get("notify-keyspace-events").get(b"notify-keyspace-events", b""))
        except (NoPermissionError, ResponseError):
            current = None
        flags = set(current or "")
        if current is not None and "K" in flags and ("A" in flags or set("g$hszxed") <= flags):
            return
        try:
            self.app.config_set("notify-keyspace-events", "".join(sorted(flags | {"K", "A"})))
        except (NoPermissionError, ResponseError) as exc:
            raise FatalError(
                f"the Redis at `{self._address()}` does not publish keyspace notifications and refused CONFIG SET "
                f"({one_line(exc)}); set `notify-keyspace-events KA` on it"
            ) from None

    # ---- reconciliation ---------------------------------------------------------------------------

    def _reconcile(self, client: ReplicaClient | None) -> None:
        assert self.app is not None
        self._set_status("reconciling", force=True)
        seen: set[bytes] = set()
        for index, (spec, _, _) in enumerate(self.patterns):
            if any(p.pattern == spec.pattern for p, _, _ in self.patterns[:index]):
                continue
            cursor = 0
            while True:
                cursor, found = self.app.scan(cursor, match=spec.pattern, count=self.settings.chunk_keys)
                batch = {k: set(hits) for k in found if k not in seen and (hits := self._patterns_of(k, None))}
                seen.update(found)
                if batch:
                    self._flush(batch, None, snapshot=True)
                if client is not None:
                    client.keepalive()  # the stream waits in the master's buffer; reading it now would lose it
                if self.stop.is_set():
                    raise _Stopped  # the position stays before the gap: the next start reconciles again
                if cursor == 0:
                    break
        cursor = 0
        while True:
            if self.stop.is_set():
                raise _Stopped
            cursor, known = self.rdi.hscan(self.known_key, cursor, count=self.settings.chunk_keys)
            batch = {k: set(hits) for k in known if k not in seen and (hits := self._patterns_of(k, None))}
            if batch:
                self._flush(batch, None, snapshot=True)
            if cursor == 0:
                break

    # ---- one chunk ------------------------------------------------------------------------------

    def _flush(
        self,
        pending: dict[bytes, set[int]],
        position: _Position | None,
        *,
        snapshot: bool = False,
        expires: dict[bytes, int] | None = None,
    ) -> None:
        """Read the keys of ``pending`` (key → indexes of the patterns it triggers), emit their changes and store
        ``position`` — in one MULTI/EXEC. ``expires``: the expire-at (ms, -1 none) the chunk's commands gave a key,
        which decides ``expired`` over the one recorded when the key was last read."""
        names = list(pending)
        now_ms, current = self._read(names) if names else (0, [])
        known = self.rdi.hmget(self.known_key, names) if names else []
        tx = _Transaction()
        ts_ms = int(time.time() * 1000)
        records: list[bytes] = []  # the chunk's known-hash updates go in one HSET and one HDEL
        gone: list[bytes] = []
        for key, now, raw in zip(names, current, known, strict=True):
            old = orjson.loads(raw) if raw is not None else None
            if now.type is None:
                if old is None:
                    continue
                expire_at = expires.get(key, old["x"]) if expires else old["x"]
                expired = expire_at >= 0 and now_ms >= expire_at
                event = _Event(key, "d", old["v"], None, old["t"], snapshot, expired, position, ts_ms, now_ms)
                self._emit(tx, event, pending[key])
                gone.append(key)
                continue
            record = orjson.dumps({"t": now.type, "v": now.value, "x": now.expire_at})
            if old is not None and old["t"] == now.type and old["v"] == now.value:
                if old["x"] != now.expire_at:
                    records += (key, record)
                continue
            op = "c" if old is None else "u"
            before = old["v"] if old is not None else None
            event = _Event(key, op, before, now.value, now.type, snapshot, False, position, ts_ms, now_ms)
            self._emit(tx, event, pending[key])
            records += (key, record)
        if records:
            tx.add(b"HSET", self.known_key, *records)
        if gone:
            tx.add(b"HDEL", self.known_key, *gone)
        if position is not None:
            tx.add(b"HSET", self.offset_key, b"replid", position.replid or "", b"offset", position.offset or 0,
                   b"db", position.db, b"mode", b"psync")  # fmt: skip
        tx.execute(self.rdi)
        if position is not None:
            self.position = position

    def _emit(self, tx: _Transaction, e: _Event, hits: Iterable[int]) -> None:
        text = e.key.decode(errors="replace")
        key_json = orjson.dumps({"key": text})
        for index in sorted(hits):
            spec, _, stream = self.patterns[index]
            value = {
                "before": e.before,
                "after": e.after,
                "op": e.op,
                "ts_ms": e.ts_ms,
                "source": {
                    "connector": "redis", "name": self.source, "db": str(self.settings.db), "table": spec.pattern,
                    "key": text, "type": e.kind, "snapshot": "true" if e.snapshot else "false",
                    "expired": e.expired, "replid": e.position.replid if e.position else None,
                    "offset": e.position.offset if e.position else None, "ts_ms": e.server_ms or e.ts_ms,
                },
            }  # fmt: skip
            tx.add(b"XADD", stream, b"*", b"key", key_json, b"value", orjson.dumps(value))

    def _read(self, names: Sequence[bytes]) -> tuple[int, list[_Current]]:
        assert self.app is not None
        if not self.script_refused:
            try:
                reply = self.app.eval(READ_SCRIPT, len(names), *names)
                return int(reply[0]), [self._current(names[i], reply[1 + 3 * i : 4 + 3 * i]) for i in range(len(names))]
            except (NoPermissionError, ResponseError) as exc:
                log.warning("the Redis at `%s` refused the read script (%s): reading with pipelines",
                            self._address(), one_line(exc))  # fmt: skip
                self.script_refused = True
        return self._read_pipelined(names)

    def _read_pipelined(self, names: Sequence[bytes]) -> tuple[int, list[_Current]]:
        assert self.app is not None
        pipe = self.app.pipeline(transaction=False)
        pipe.time()
        for k in names:
            pipe.type(k)
            pipe.pexpiretime(k)
        head = pipe.execute()
        seconds, micros = head[0]
        pipe = self.app.pipeline(transaction=False)
        kinds = [head[1 + 2 * i] for i in range(len(names))]
        for k, t in zip(names, kinds, strict=True):
            match t:
                case b"hash":
                    pipe.execute_command("HGETALL", k)
                case b"ReJSON-RL":
                    pipe.execute_command("JSON.GET", k)
                case b"set":
                    pipe.execute_command("SMEMBERS", k)
                case b"zset":
                    pipe.execute_command("ZRANGE", k, 0, -1, "WITHSCORES")
                case _:
                    pipe.execute_command("EXISTS", k)
        values = pipe.execute(raise_on_error=False)
        out = []
        for i, k in enumerate(names):
            value = values[i]
            if isinstance(value, Exception):  # the type changed in between: read again on its next change
                value = None
            if isinstance(value, dict):
                value = [x for pair in value.items() for x in pair]
            elif isinstance(value, set):
                value = list(value)
            elif isinstance(value, list) and value and isinstance(value[0], tuple | list):  # (member, score)
                value = [x for pair in value for x in pair]
            out.append(self._current(k, [kinds[i], head[2 + 2 * i], value]))
        return int(seconds) * 1000 + int(micros) // 1000, out

    def _current(self, key: bytes, item: Sequence[Any]) -> _Current:
        raw_type, expire_at, raw = item
        kind = _TYPES.get(bytes(raw_type))
        if kind is None or raw is None or raw is False:
            if raw_type != b"none":
                self._warn_untracked(key, _text(raw_type))
            return _Current(None, None, -1)
        value: Any
        if kind == "hash":
            try:
                texts = iter([b.decode() for b in raw])
                value = dict(zip(texts, texts, strict=True))
            except UnicodeDecodeError:
                value = {_text(raw[i]): _text(raw[i + 1]) for i in range(0, len(raw), 2)}
        elif kind == "json":
            root = orjson.loads(raw)
            value = root if isinstance(root, dict) else {"value": root}
        elif kind == "set":
            value = {"members": sorted(_text(m) for m in raw)}
        else:
            value = {"members": [{"member": _text(raw[i]), "score": float(raw[i + 1])} for i in range(0, len(raw), 2)]}
        return _Current(kind, value, int(expire_at))

    # ---- helpers ------------------------------------------------------------------------------------

    def _patterns_of(self, key: bytes, command: str | None) -> list[int]:
        """Indexes of the patterns ``key`` matches whose jobs do not exclude ``command`` (None: any command)."""
        if self.settings.own_keys_excluded and key.startswith(_OWN_PREFIXES):
            return []
        text = key.decode(errors="surrogateescape")
        return [i for i, (spec, regex, _) in enumerate(self.patterns)
                if regex.fullmatch(text) and (command is None or command not in spec.exclude)]  # fmt: skip

    def _getkeys(self, args: Sequence[bytes]) -> list[bytes]:
        assert self.app is not None
        try:
            return list(self.app.execute_command("COMMAND", "GETKEYS", *args))
        except ResponseError:
            return []

    def _command_table(self) -> CommandTable:
        assert self.app is not None
        conn = self.app.connection_pool.get_connection()
        try:
            conn.send_command("COMMAND")
            reply = conn.read_response()
        finally:
            self.app.connection_pool.release(conn)
        return parse_command_reply(reply)

    def _warn_untracked(self, key: bytes, kind: str) -> None:
        for index in self._patterns_of(key, None):
            spec = self.patterns[index][0]
            if (spec.pattern, kind) not in self.warned:
                self.warned.add((spec.pattern, kind))
                log.warning("keys of pattern `%s` hold a %s (e.g. `%s`): only hash, JSON, set and sorted set keys are "
                            "captured", spec.pattern, kind, key.decode(errors="replace"))  # fmt: skip

    def _set_status(self, phase: str, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and phase == self.phase and now - self.status_at < _STATUS_EVERY_S:
            return
        self.phase, self.status_at = phase, now
        fields: dict[str, Any] = {"phase": phase, "mode": self.mode, "pid": os.getpid(),
                                  "updated_at": int(time.time() * 1000)}  # fmt: skip
        if self.position.offset is not None and self.mode == "psync":
            fields["offset"] = self.position.offset
            try:  # bytes of the stream written by the master and not yet staged
                master = int(self.app.info("replication")["master_repl_offset"])
                fields["lag_bytes"] = max(0, master - self.position.offset)
            except (redis.RedisError, KeyError, ValueError):
                pass  # INFO refused: no lag shown
        try:
            self.rdi.hset(self.status_key, mapping=fields)
        except redis.RedisError as exc:
            log.warning("could not update `%s`: %s", self.status_key, one_line(exc))

    def _connect(self) -> Any:
        s = self.settings
        options: dict[str, Any] = {"host": s.host, "port": s.port, "db": s.db, "username": s.user,
                                   "password": s.password, "socket_connect_timeout": 10,
                                   "socket_timeout": 60}  # fmt: skip
        if s.tls or s.cacert is not None or s.cert is not None:
            options.update(ssl=True, ssl_ca_certs=s.cacert, ssl_certfile=s.cert, ssl_keyfile=s.key,
                           ssl_password=s.key_password)  # fmt: skip
        client = redis.Redis(**options)
        client.ping()
        return client

    def _tls(self) -> ssl.SSLContext | None:
        s = self.settings
        if not s.tls and s.cacert is None and s.cert is None:
            return None
        context = ssl.create_default_context(cafile=s.cacert)
        if s.cert is not None:
            context.load_cert_chain(s.cert, s.key, password=s.key_password)
        return context

    def _address(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"


_OWN_PREFIXES = tuple(p.encode() for p in OWN_KEY_PREFIXES)


_EXPIRE_COMMANDS: Final = frozenset({b"pexpireat", b"persist"})
"""The replicated forms of the commands that set or clear a tracked key's TTL (EXPIRE, PEXPIRE and EXPIREAT
travel as PEXPIREAT with an absolute time)."""


_MOVES_KEY: Final = frozenset({b"rename", b"renamenx", b"move"})
"""Commands that take their first key away (its TTL goes with it): its vanishing is no expiry."""


def _expire_at(name: bytes, args: Sequence[bytes]) -> int:
    """The expire-at time (ms, -1 none) a ``PEXPIREAT key ms`` or ``PERSIST key`` sets."""
    if name == b"pexpireat" and len(args) > 2:
        try:
            return int(args[2])
        except ValueError:
            return -1
    return -1


def _reaches(name: bytes, args: Sequence[bytes], db: int, tracked: int) -> bool:
    """Whether a FLUSHDB/FLUSHALL/SWAPDB run in ``db`` changes database ``tracked``."""
    if name == b"flushall":
        return True
    if name == b"flushdb":
        return db == tracked
    return str(tracked).encode() in args[1:3]


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value
