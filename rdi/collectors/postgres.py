"""`rdi collector` for PostgreSQL: consistent snapshot, then logical decoding, into staging streams exactly once.

How a run goes (cdc-notes §3.5, §6.4):

1. Connect, read the selected tables from the catalog, make sure the publication matches
   (`publication.autocreate.mode`).
2. No replication slot yet: create it with an exported snapshot, read every table inside that snapshot (chunks in
   key order; several tables at once with `snapshot.max.threads`), then stream from the slot's consistent point.
   A slot whose snapshot did not finish (the collector died): resume each unfinished table after its last staged
   chunk, in a fresh snapshot (the exported one died with its connection). Rows changed in between are also
   streamed from the slot, which was never confirmed, so the end state is right.
3. Streaming: every change becomes a Debezium event. Each event has a *position* — the transaction's commit LSN
   and its index in the transaction — and the staging write of a chunk of events stores the position of its last
   event **in the same atomic Lua call** (:mod:`rdi.collectors.staging`). Only after a transaction's last chunk
   is staged is its end LSN confirmed to PostgreSQL. After a crash PostgreSQL resends every transaction after the
   confirmed LSN; events at or below the stored position are dropped: nothing is lost, nothing staged twice.

Column types: whenever the collector (re)builds a table's converters — at the start of its snapshot and on every
pgoutput Relation message (the first change of a table in a session, and the first after DDL) — it publishes the
Debezium type of each captured column to the schema hash of each of the table's streams
(:mod:`rdi.stream_schema`), before it queues any event built with those converters.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg
import redis

from rdi import keys
from rdi.collectors import pgoutput as pgo
from rdi.collectors._pipelined import PipelinedStager
from rdi.collectors.envelope import NULL_KEY, encode_key, encode_value, pg_sequence, pg_source
from rdi.collectors.pg_catalog import TableInfo, load_table, load_tables, load_types
from rdi.collectors.pg_replication import ReplicationConnection, drop_slot, ensure_publication, slot_state
from rdi.collectors.pg_snapshot import estimate_rows, open_snapshot_session, read_chunk
from rdi.collectors.pg_types import PgColumn, TypeInfo, column_type_for, converter_for, placeholder_for
from rdi.collectors.settings import PgCollectorSettings, TableSelection
from rdi.collectors.staging import Checkpoint, Entry, StagingStopped, StagingWriter, stoppable_sleep
from rdi.events.types import ColumnType
from rdi.stream_schema import publish_types

__all__ = ["PostgresCollector"]

log = logging.getLogger("rdi.collector.postgres")

TXN_CHUNK = 1000  # events per atomic staging write inside a large transaction
TABLE_REFRESH_S = 5.0  # how often a `filtered` publication is checked for new tables of the captured schemas
SNAPSHOT_STATE = "__state__"
VERSION = "rdi-0.1.0"


def _position(commit_lsn: int, index: int) -> str:
    return f"{commit_lsn:016x}:{index:010d}"


@dataclass(slots=True)
class _Relation:
    """A captured table as the stream sees it: columns in pgoutput order, converters, key, stream names."""

    table: TableInfo
    names: list[str]
    converters: list[Callable[[str], Any]]
    placeholders: list[Any]
    key: list[str]
    streams: list[str]
    source: dict[str, Any]
    plain: bool = True  # every column selected (no `_skip` converter)

    def stream_for(self, key_json: bytes) -> str:
        n = len(self.streams)
        return self.streams[0] if n == 1 else self.streams[zlib.crc32(key_json) % n]


@dataclass(slots=True)
class _Txn:
    commit_lsn: int
    xid: int
    commit_ts_us: int
    index: int = 0
    pending: list[Entry] = field(default_factory=list)
    staged: bool = False  # the commit's tag is queued with its last chunk


class PostgresCollector:
    """One source's collector. ``run()`` blocks until ``stop`` is set; safe to kill at any instant."""

    def __init__(self, settings: PgCollectorSettings, rdi: redis.Redis, *, stop: threading.Event | None = None) -> None:
        self.settings = settings
        self.rdi = rdi
        self.stop = stop or threading.Event()
        self.writer = StagingWriter(
            rdi,
            memory_limit_mb=settings.memory_limit_mb,
            memory_threshold_pct=settings.memory_threshold_pct,
            sleep=stoppable_sleep(self.stop),
        )
        self.dsn = settings.dsn()  # the text formats converters parse are applied by each session opener
        self.offset_field = keys.offset_field(settings.server_name)
        self.snapshot_key = keys.collector_snapshot(settings.source)
        self.types: dict[int, TypeInfo] = {}
        self.tables: dict[tuple[str, str], TableInfo] = {}
        self.relations: dict[int, _Relation | None] = {}
        self.last_commit_lsn: int | None = None

    # ---- entry point ------------------------------------------------------------------------------

    def run(self) -> None:
        try:
            self._run()
        except StagingStopped:
            log.info("stopped while waiting for the RDI database")

    def _run(self) -> None:
        s = self.settings
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            self._load_catalog(conn)
            ensure_publication(conn, s.publication, s.publication_mode, sorted(self.tables))
            slot = slot_state(conn, s.slot)
            if slot is not None and slot.wal_status == "lost":
                # max_slot_wal_keep_size was exceeded: the WAL this slot needed is gone, and so are changes.
                log.warning("slot `%s` was invalidated (WAL removed): dropping it and taking a new snapshot", s.slot)
                drop_slot(conn, s.slot, terminate_active=True)
                slot = None
            stored, _ = self.writer.load(keys.DEBEZIUM_OFFSETS, self.offset_field)
            state = self._snapshot_state()
            replication = ReplicationConnection(self.dsn)
            try:
                start_lsn = 0
                if slot is None:
                    if stored is not None:
                        log.warning("slot `%s` is gone (dropped or invalidated): taking a new snapshot", s.slot)
                    self.rdi.delete(self.snapshot_key)
                    state = {}
                    wants_snapshot = s.snapshot_mode != "never"
                    info = replication.create_slot(s.slot, export_snapshot=wants_snapshot)
                    start_lsn = info.consistent_lsn
                    if wants_snapshot:
                        self._write_state("1", {"consistent_lsn": start_lsn, "phase": "snapshot"})
                        self._snapshot(info.snapshot_name, start_lsn, done={})
                elif s.snapshot_mode != "never" and state.get("phase") != "complete":
                    log.info("resuming the interrupted snapshot after its last staged chunk")
                    self._snapshot(None, int(state.get("consistent_lsn", 0)), done=self._snapshot_progress())
                unfinished = {k: v for k, v in self._snapshot_progress().items() if not v.get("done")}
                if unfinished:  # a table that joined while streaming, whose snapshot a crash interrupted
                    tables = [t for key, t in sorted(self.tables.items()) if f"{key[0]}.{key[1]}" in unfinished]
                    self._snapshot_tables(tables, None, start_lsn, unfinished)
                if s.snapshot_mode == "initial_only":
                    return
                self._stream(replication, start_lsn, stored)
            finally:
                replication.close()

    # ---- catalog ----------------------------------------------------------------------------------

    def _load_catalog(self, conn: psycopg.Connection[Any]) -> None:
        s = self.settings
        specs = {f"{t.schema}.{t.table}" if t.schema else t.table: t.spec for t in s.tables} if s.tables else None
        for table in load_tables(conn, schemas=list(s.schemas) if s.schemas else None, tables=specs):
            self.tables[(table.schema, table.name)] = table
        oids = {c.type_oid for t in self.tables.values() for c in t.columns}
        self.types.update(load_types(conn, oids))
        log.info("capturing %d table(s): %s", len(self.tables), ", ".join(f"{a}.{b}" for a, b in sorted(self.tables)))

    def _streams(self, table: TableInfo) -> list[str]:
        n = self.settings.partitions_of(table.schema, table.name)
        name = self.settings.server_name
        if n == 1:
            return [keys.staging_stream(name, table.schema, table.name)]
        return [keys.staging_stream(name, table.schema, table.name, partition=i) for i in range(n)]

    def _source_template(self, table: TableInfo) -> dict[str, Any]:
        return pg_source(
            server_name=self.settings.server_name, db=self.settings.database, schema=table.schema,
            table=table.name, ts_ms=0, snapshot="false", tx_id=None, lsn=None, last_commit_lsn=None, version=VERSION,
        )  # fmt: skip

    # ---- snapshot ---------------------------------------------------------------------------------

    def _snapshot_state(self) -> dict[str, Any]:
        _, value = self.writer.load(self.snapshot_key, SNAPSHOT_STATE)
        return dict(orjson.loads(value)) if value else {}

    def _snapshot_progress(self) -> dict[str, dict[str, Any]]:
        raw = self.rdi.hgetall(self.snapshot_key)
        out: dict[str, dict[str, Any]] = {}
        for k, v in raw.items():
            name = k.decode() if isinstance(k, bytes) else str(k)
            if name != SNAPSHOT_STATE and not name.endswith(":pos"):
                out[name] = orjson.loads(v)
        return out

    def _write_state(self, position: str, value: dict[str, Any]) -> None:
        self.writer.write([], Checkpoint(self.snapshot_key, SNAPSHOT_STATE, position, orjson.dumps(value)))

    def _snapshot(self, snapshot_name: str | None, lsn: int, done: dict[str, dict[str, Any]]) -> None:
        todo = [t for key, t in sorted(self.tables.items()) if not done.get(f"{key[0]}.{key[1]}", {}).get("done")]
        self._snapshot_tables(todo, snapshot_name, lsn, done)
        if not self.stop.is_set():
            self._write_state("2", {"consistent_lsn": lsn, "phase": "complete"})
            log.info("snapshot complete")

    def _snapshot_tables(
        self, todo: list[TableInfo], snapshot_name: str | None, lsn: int, done: dict[str, dict[str, Any]]
    ) -> None:
        sessions = [
            open_snapshot_session(self.dsn, snapshot_name)
            for _ in range(min(self.settings.parallelism, len(todo)) or 1)
        ]
        work: queue.Queue[TableInfo] = queue.Queue()
        for t in todo:
            work.put(t)
        errors: list[BaseException] = []

        def worker(session: psycopg.Connection[Any]) -> None:
            try:
                while not self.stop.is_set():
                    try:
                        table = work.get_nowait()
                    except queue.Empty:
                        return
                    self._snapshot_table(session, table, lsn, done.get(f"{table.schema}.{table.name}", {}))
            except BaseException as exc:  # reported by the caller, which stops the run
                errors.append(exc)
            finally:
                session.close()

        threads = [threading.Thread(target=worker, args=(s,), daemon=True) for s in sessions]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        if errors:
            raise errors[0]

    def _spec(self, schema: str, name: str) -> TableSelection | None:
        for t in self.settings.tables or ():
            if t.table == name and t.schema in (None, schema):
                return t
        return None

    def _snapshot_table(
        self,
        session: psycopg.Connection[Any],
        table: TableInfo,
        lsn: int,
        progress: dict[str, Any],
        keepalive: Callable[[], None] | None = None,
    ) -> None:
        name = f"{table.schema}.{table.name}"
        rel = self._relation_for(table, [c.name for c in table.columns])
        after: tuple[str, ...] | None = tuple(progress["last_key"]) if progress.get("last_key") else None
        chunk_no = int(progress.get("chunk", 0))
        rows_done = int(progress.get("rows", 0))
        estimate = estimate_rows(session, table.schema, table.name)
        selection = self._spec(table.schema, table.name)
        spec = selection.spec.snapshot_sql if selection and selection.spec else None
        log.info("snapshot %s: ~%d rows%s", name, estimate, f", resuming after {rows_done}" if rows_done else "")
        stager = PipelinedStager(self.writer, keepalive=keepalive)
        try:
            self._snapshot_chunks(session, table, rel, stager, lsn, after, chunk_no, rows_done, estimate, spec)
            stager.flush()
        finally:
            stager.close()

    def _snapshot_chunks(
        self,
        session: psycopg.Connection[Any],
        table: TableInfo,
        rel: _Relation,
        stager: PipelinedStager,
        lsn: int,
        after: tuple[str, ...] | None,
        chunk_no: int,
        rows_done: int,
        estimate: int,
        spec: str | None,
    ) -> None:
        s = self.settings
        name = f"{table.schema}.{table.name}"
        columns, key_columns = rel.names, rel.key
        while not self.stop.is_set():
            rows, last = read_chunk(
                session, schema=table.schema, table=table.name, columns=columns, key_columns=key_columns,
                after=after, limit=s.chunk_size, snapshot_sql=spec,
            )  # fmt: skip
            final = len(rows) < s.chunk_size
            now_ms = int(time.time() * 1000)
            entries = [self._snapshot_entry(rel, row, lsn, now_ms) for row in rows]
            chunk_no += 1
            rows_done += len(rows)
            progress = {"chunk": chunk_no, "rows": rows_done, "last_key": list(last) if last else None, "done": final}
            checkpoint = Checkpoint(self.snapshot_key, name, f"{chunk_no:010d}", orjson.dumps(progress))
            stager.put(entries, checkpoint)
            self.writer.set_status(s.source, {f"snapshot:{name}": f"{rows_done}/{max(estimate, rows_done)}"})
            log.info("snapshot %s: %d/%d rows", name, rows_done, max(estimate, rows_done))
            if final:
                return
            after = last

    def _snapshot_entry(self, rel: _Relation, row: Sequence[str | None], lsn: int, now_ms: int) -> Entry:
        after = {n: (None if v is None else conv(v)) for n, conv, v in zip(rel.names, rel.converters, row, strict=True)}
        key = {k: after[k] for k in rel.key} if rel.key else None
        source = dict(rel.source)
        source.update(ts_ms=now_ms, ts_us=now_ms * 1000, ts_ns=now_ms * 1_000_000, snapshot="true", lsn=lsn,
                      sequence=pg_sequence(None, lsn))  # fmt: skip
        key_json = encode_key(key)
        value = encode_value(before=None, after=after, source=source, op="r", ts_ms=now_ms)
        return Entry(rel.stream_for(key_json), key_json, value)

    # ---- relations --------------------------------------------------------------------------------

    def _relation_for(self, table: TableInfo, names: list[str]) -> _Relation:
        """Converters for values in the order of ``names``; a name the table does not capture is skipped.

        Publishes the columns' types to the table's schema hashes before returning (so before any event built
        with the relation is staged)."""
        by_name: dict[str, PgColumn] = {c.name: c for c in table.columns}
        ph = self.settings.placeholder
        rel = _Relation(
            table=table,
            names=names,
            converters=[converter_for(by_name[n], self.types) if n in by_name else _skip for n in names],
            placeholders=[placeholder_for(by_name[n], self.types, ph) if n in by_name else None for n in names],
            key=list(table.primary_key),
            streams=self._streams(table),
            source=self._source_template(table),
            plain=all(n in by_name for n in names),
        )
        self._publish_types(rel.streams, {n: column_type_for(by_name[n], self.types) for n in names if n in by_name})
        return rel

    def _publish_types(self, streams: list[str], types: dict[str, ColumnType]) -> None:
        def publish() -> None:
            pipe = self.rdi.pipeline(transaction=False)  # each stream's script is atomic on its own
            for stream in streams:
                publish_types(pipe, stream, types)
            pipe.execute()

        self.writer.retry(publish)

    def _on_relation(self, conn: psycopg.Connection[Any], msg: pgo.Relation) -> None:
        key = (msg.namespace, msg.name)
        table = self.tables.get(key)
        sent = {c.name: (c.type_oid, c.typmod) for c in msg.columns}
        if (
            table is None
            or table.relid != msg.relid
            or {c.name for c in table.columns} != sent.keys()
            or any(sent.get(c.name) != (c.type_oid, c.typmod) for c in table.columns)  # ALTER COLUMN ... TYPE
        ):
            selection = self._spec(msg.namespace, msg.name)
            fresh = load_table(conn, msg.relid, selection.spec if selection else None)
            if fresh is None or not self._selected(fresh):
                self.relations[msg.relid] = None
                return
            missing = {c.type_oid for c in fresh.columns} - self.types.keys()
            if missing:
                self.types.update(load_types(conn, missing))
            self.tables[key] = table = fresh
            log.info("table %s.%s: columns %s", msg.namespace, msg.name, ", ".join(c.name for c in fresh.columns))
        # Tuple positions follow the message; columns the config does not select are dropped in _row.
        self.relations[msg.relid] = self._relation_for(table, [c.name for c in msg.columns])

    def _refresh_tables(self, conn: psycopg.Connection[Any], replication: ReplicationConnection) -> None:
        """`filtered` publications list tables by name: add tables created since in the captured schemas.

        Rows a new table got before it joined the publication are not in the WAL stream, so the table is then
        snapshotted (crash-resumable like the initial snapshot). Rows written between the two may be staged
        twice (`r` and `c`) — never lost. `all_tables` publications need none of this.
        """
        s = self.settings
        if s.publication_mode != "filtered" or s.tables:
            return
        found = load_tables(conn, schemas=list(s.schemas) if s.schemas else None, tables=None)
        new = [t for t in found if (t.schema, t.name) not in self.tables]
        if not new:
            return
        for table in new:
            self.tables[(table.schema, table.name)] = table
        self.types.update(load_types(conn, {c.type_oid for t in new for c in t.columns} - self.types.keys()))
        ensure_publication(conn, s.publication, s.publication_mode, sorted(self.tables))
        log.info("new table(s) %s: added to publication `%s`", ", ".join(f"{t.schema}.{t.name}" for t in new),
                 s.publication)  # fmt: skip
        session = open_snapshot_session(self.dsn, None)
        try:
            progress = self._snapshot_progress()
            for table in new:
                done = progress.get(f"{table.schema}.{table.name}", {})
                self._snapshot_table(session, table, replication.flush_lsn, done, keepalive=replication.send_status)
        finally:
            session.close()

    def _selected(self, table: TableInfo) -> bool:
        s = self.settings
        if s.tables:
            return self._spec(table.schema, table.name) is not None
        return s.schemas is None or table.schema in s.schemas

    # ---- streaming --------------------------------------------------------------------------------

    def _stream(self, replication: ReplicationConnection, start_lsn: int, stored: str | None) -> None:
        s = self.settings
        replication.start(s.slot, start_lsn, s.publication)
        stager = PipelinedStager(self.writer, keepalive=replication.send_status)
        try:
            self._stream_changes(replication, stager, start_lsn, stored)
            stager.flush()
            if stager.done is not None:
                replication.confirm(stager.done)
        finally:
            stager.close()

    def _stream_changes(
        self, replication: ReplicationConnection, stager: PipelinedStager, start_lsn: int, stored: str | None
    ) -> None:
        s = self.settings
        self._stager = stager
        log.info(
            "streaming from slot `%s` at %s",
            s.slot,
            pgo.format_lsn(start_lsn) if start_lsn else "its confirmed position",
        )
        txn: _Txn | None = None
        next_heartbeat = time.monotonic() + s.heartbeat_interval_ms / 1000 if s.heartbeat_interval_ms else None
        confirmed = 0
        next_refresh = time.monotonic() + TABLE_REFRESH_S
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self.stop.is_set():
                for frame in replication.read(0.5):
                    msg = pgo.decode_message(frame.payload)
                    if isinstance(msg, pgo.Begin):
                        txn = _Txn(msg.final_lsn, msg.xid, pgo.pg_epoch_us_to_unix_us(msg.commit_ts_us))
                    elif isinstance(msg, pgo.Commit):
                        if txn is not None:
                            self._flush(txn, final=True, end_lsn=msg.end_lsn)
                        if txn is None or not txn.staged:
                            stager.put([], None, tag=msg.end_lsn)  # nothing to stage: confirm in order
                        self.last_commit_lsn = msg.commit_lsn
                        txn = None
                    elif isinstance(msg, pgo.Relation):
                        self._on_relation(conn, msg)
                    elif isinstance(msg, pgo.TypeMessage):
                        self.types.update(load_types(conn, {msg.oid}))
                    elif txn is not None and isinstance(msg, pgo.Insert | pgo.Update | pgo.Delete | pgo.Truncate):
                        self._on_change(txn, msg, frame.data_start, stored)
                        if len(txn.pending) >= TXN_CHUNK:
                            self._flush(txn, final=False, end_lsn=None)
                # What is staged PostgreSQL may forget. With nothing open or queued, keepalive positions are
                # confirmed too, so an idle slot does not pin WAL.
                done = stager.done
                if txn is None and stager.idle():
                    replication.confirm(max(done or 0, replication.flush_lsn), caught_up=True)
                elif done is not None and done > confirmed:
                    replication.confirm(done)
                confirmed = max(confirmed, done or 0)
                if txn is None and time.monotonic() >= next_refresh:
                    next_refresh = time.monotonic() + TABLE_REFRESH_S
                    self._refresh_tables(conn, replication)
                if next_heartbeat is not None and time.monotonic() >= next_heartbeat:
                    next_heartbeat = time.monotonic() + s.heartbeat_interval_ms / 1000
                    if s.heartbeat_query:
                        try:
                            conn.execute(s.heartbeat_query)
                        except psycopg.Error as exc:  # a broken heartbeat must not stop the capture
                            log.warning("heartbeat.action.query failed: %s", str(exc).splitlines()[0])
                    self.writer.set_status(s.source, {"phase": "streaming", "heartbeat_ms": int(time.time() * 1000)})

    def _flush(self, txn: _Txn, *, final: bool, end_lsn: int | None) -> None:
        if not txn.pending:
            return
        position = _position(txn.commit_lsn, txn.index)
        offset = {"lsn_proc": txn.commit_lsn, "txId": txn.xid, "ts_usec": txn.commit_ts_us, "position": position}
        if final and end_lsn is not None:
            offset.update(lsn_commit=end_lsn, lsn=end_lsn, messageType="COMMIT")
        checkpoint = Checkpoint(keys.DEBEZIUM_OFFSETS, self.offset_field, position, orjson.dumps(offset))
        self._stager.put(txn.pending, checkpoint, tag=end_lsn if final else None)
        txn.staged = final
        txn.pending = []

    def _on_change(self, txn: _Txn, msg: Any, lsn: int, stored: str | None) -> None:
        if isinstance(msg, pgo.Truncate):
            for relid in msg.relids:
                rel = self.relations.get(relid)
                if rel is not None:
                    self._emit(txn, rel, "t", None, None, None, lsn, stored)
            return
        rel = self.relations.get(msg.relid)
        if rel is None:
            return
        if isinstance(msg, pgo.Insert):
            after = self._row(rel, msg.new, None)
            self._emit(txn, rel, "c", None, after, self._key(rel, after), lsn, stored)
        elif isinstance(msg, pgo.Update):
            old = msg.old if msg.old is not None else msg.key
            before = self._row(rel, old, None) if old is not None else None
            after = self._row(rel, msg.new, before if msg.old is not None else None)
            new_key = self._key(rel, after)
            old_key = self._key(rel, before) if before is not None else None
            if old_key is not None and old_key != new_key:  # a primary-key change: Debezium's d + c
                self._emit(txn, rel, "d", before, None, old_key, lsn, stored)
                self._emit(txn, rel, "c", None, after, new_key, lsn, stored)
            else:
                self._emit(txn, rel, "u", before if msg.old is not None else None, after, new_key, lsn, stored)
        elif isinstance(msg, pgo.Delete):
            old = msg.old if msg.old is not None else msg.key
            before = self._row(rel, old, None) if old is not None else None
            self._emit(txn, rel, "d", before, None, self._key(rel, before) if before else None, lsn, stored)

    def _row(self, rel: _Relation, values: Sequence[Any], old: dict[str, Any] | None) -> dict[str, Any]:
        if rel.plain and pgo.UNCHANGED_TOAST not in values:  # the common case, as one comprehension
            return {n: None if v is None else c(v) for n, c, v in zip(rel.names, rel.converters, values, strict=True)}
        row: dict[str, Any] = {}
        for name, conv, ph, value in zip(rel.names, rel.converters, rel.placeholders, values, strict=True):
            if conv is _skip:
                continue
            if value is None:
                row[name] = None
            elif value is pgo.UNCHANGED_TOAST:
                row[name] = old[name] if old is not None and old.get(name) is not None else ph
            else:
                row[name] = conv(value if isinstance(value, str) else bytes(value).decode())
        return row

    @staticmethod
    def _key(rel: _Relation, row: dict[str, Any] | None) -> dict[str, Any] | None:
        if row is None or not rel.key:
            return None
        return {k: row.get(k) for k in rel.key}

    def _emit(self, txn: _Txn, rel: _Relation, op: str, before: dict[str, Any] | None, after: dict[str, Any] | None,
              key: dict[str, Any] | None, lsn: int, stored: str | None) -> None:  # fmt: skip
        txn.index += 1
        if stored is not None and _position(txn.commit_lsn, txn.index) <= stored:
            return  # staged before a crash; PostgreSQL resent the whole transaction
        ts_ms = txn.commit_ts_us // 1000
        source = dict(rel.source)
        last = self.last_commit_lsn
        source.update(ts_ms=ts_ms, ts_us=txn.commit_ts_us, ts_ns=txn.commit_ts_us * 1000, txId=txn.xid, lsn=lsn,
                      sequence=pg_sequence(last, lsn))  # fmt: skip
        now = int(time.time() * 1000)
        key_json = encode_key(key) if op != "t" else NULL_KEY
        value = encode_value(before=before, after=after, source=source, op=op, ts_ms=now)
        txn.pending.append(Entry(rel.stream_for(key_json), key_json, value))


def _skip(text: str) -> Any:  # a column the config does not select
    return None
