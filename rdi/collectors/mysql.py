"""`rdi collector` for MySQL and MariaDB: consistent snapshot, then the binlog from exactly there, exactly once.

How a run goes (cdc-notes §4, §6.3–6.4):

1. Connect, check the server (:func:`~rdi.collectors.mysql_binlog.check_server`), read the selected tables.
2. No stored offset: open a consistent-snapshot transaction, note the binlog position matching it (MariaDB without
   any lock), read every table inside it in key-ordered chunks, each chunk staged with its progress in one atomic
   write (:mod:`rdi.collectors.staging`), then store the snapshot's position as the first streaming offset. A
   snapshot a crash interrupted resumes each unfinished table after its last staged chunk, in a fresh snapshot;
   the stream still starts at the first snapshot's position, so rows changed in between are streamed too.
3. Streaming: every row change becomes a Debezium event with a *position* — the transaction (MariaDB: its GTID
   sequence number; MySQL: its binlog file and offset) and the event's index in it. The staging write of a chunk of
   events stores the position of its last event and the GTID state to resume from **in the same atomic Lua call**:
   after a complete transaction the state includes it; after a partial chunk of a large one it does not, and the
   replayed events at or below the stored position are dropped. Nothing is lost, nothing staged twice.
4. A broken binlog connection is reopened here, from the last *staged* position (python-mysql-replication's own
   reconnect would replay from where it first started). Each table's column types are published to
   ``rdi:schema:<stream>`` before its first event is staged, and again after DDL changes the table.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import pymysql
import redis
from pymysqlreplication.event import (
    GtidEvent,
    HeartbeatLogEvent,
    MariadbGtidEvent,
    NotImplementedEvent,
    QueryEvent,
    XidEvent,
)
from pymysqlreplication.row_event import DeleteRowsEvent, TableMapEvent, UpdateRowsEvent, WriteRowsEvent

from rdi import keys
from rdi.collectors._pipelined import PipelinedStager
from rdi.collectors.envelope import encode_key, encode_value, mysql_source
from rdi.collectors.mysql_binlog import (
    BinlogConnectionLost,
    BinlogPurgedError,
    GtidState,
    binlog_has,
    check_server,
    gtid_sequence,
    open_binlog,
    refuse_compressed,
    translate_errors,
)
from rdi.collectors.mysql_rows import RowReader, compile_row_reader, decode_rows, raw_body
from rdi.collectors.mysql_snapshot import (
    SnapshotPosition,
    TableInfo,
    connect,
    current_position,
    decode_key,
    encode_key_values,
    estimate_rows,
    load_tables,
    open_snapshot,
    read_chunk,
    read_table,
)
from rdi.collectors.mysql_types import (
    Converter,
    MySqlColumn,
    column_from_binlog,
    converter_for,
    schema_entry,
    zero_value,
)
from rdi.collectors.settings import MySqlCollectorSettings, TableSelection
from rdi.collectors.staging import Checkpoint, Entry, StagingStopped, StagingWriter, stoppable_sleep
from rdi.errors import FatalError, RetryableError, one_line
from rdi.events.types import ColumnType
from rdi.stream_schema import publish_types

__all__ = ["MySqlCollector"]

log = logging.getLogger("rdi.collector.mysql")

TXN_CHUNK = 1000  # events per atomic staging write inside a large transaction
IDLE_OFFSET_S = 5.0  # how often the offset follows transactions of tables that are not captured
MAX_RECONNECTS = 8  # binlog reconnects in a row without an event read before giving up to the caller
SNAPSHOT_STATE = "__state__"
VERSION = "rdi-0.1.0"
_END = "9999999999"  # the index part of a completed transaction's position


@dataclass(slots=True)
class _Relation:
    """A captured table as events see it: captured columns in row order, their converters, key, streams."""

    database: str
    table: str
    columns: list[MySqlColumn]
    converters: list[Converter | None]
    zeros: list[Any]  # the value of a NOT NULL column the binlog reads as None (zero date, empty set)
    key: list[str]
    streams: list[str]
    source: dict[str, Any]
    positions: list[int] = field(default_factory=list)  # binlog: where each captured column is in a row image
    binlog_names: list[str] = field(default_factory=list)  # binlog: every column of the row image, in order
    readers: RowReader | None = None  # binlog: the fast row decoder, None to use the library's rows
    full_bitmap: bytes = b""

    def stream_for(self, key_json: bytes) -> str:
        n = len(self.streams)
        return self.streams[0] if n == 1 else self.streams[zlib.crc32(key_json) % n]

    def snapshot_row(self, row: Sequence[Any]) -> dict[str, Any]:
        return {
            c.name: v if v is None or conv is None else conv(v)
            for c, conv, v in zip(self.columns, self.converters, row, strict=True)
        }

    def binlog_row(self, values: list[Any]) -> dict[str, Any]:
        return {
            c.name: z if (v := values[i]) is None else v if conv is None else conv(v)
            for c, i, conv, z in zip(self.columns, self.positions, self.converters, self.zeros, strict=True)
        }

    def images(self, ev: Any, update: bool) -> list[list[Any]]:
        """The row images of a rows event as value lists in TABLE_MAP column order (updates: before, after...)."""
        full = self.full_bitmap
        if (
            self.readers is not None
            and ev.columns_present_bitmap == full
            and (not update or ev.columns_present_bitmap2 == full)
        ):
            return decode_rows(raw_body(ev), self.readers, 2 if update else 1)
        names = self.binlog_names
        out = []
        for row in ev.rows:
            if update:
                out.append([row["before_values"][n] for n in names])
                out.append([row["after_values"][n] for n in names])
            else:
                out.append([row["values"][n] for n in names])
        return out


@dataclass(slots=True)
class _Txn:
    prefix: str  # position of the transaction: MariaDB "<seq>", MySQL "<file index>:<offset>"
    gtid: str | None
    before: GtidState  # the state to resume from while the transaction is only partly staged
    file: str
    index: int = 0
    pending: list[Entry] = field(default_factory=list)
    replay: bool = False  # the stored position is inside or after this transaction: compare each event


class MySqlCollector:
    """One MySQL/MariaDB source's collector. ``run()`` blocks until ``stop`` is set; safe to kill at any instant."""

    def __init__(
        self, settings: MySqlCollectorSettings, rdi: redis.Redis, *, stop: threading.Event | None = None
    ) -> None:
        self.settings = settings
        self.rdi = rdi
        self.stop = stop or threading.Event()
        self.writer = StagingWriter(
            rdi,
            memory_limit_mb=settings.memory_limit_mb,
            memory_threshold_pct=settings.memory_threshold_pct,
            sleep=stoppable_sleep(self.stop),
        )
        self.args = settings.connect_args()
        self.address = f"{settings.host}:{settings.port}"
        self.offset_field = keys.offset_field(settings.server_name)
        self.snapshot_key = keys.collector_snapshot(settings.source)
        self.mariadb = settings.flavor == "mariadb"
        self.tables: dict[tuple[str, str], TableInfo] = {}
        self.relations: dict[int, _Relation | None] = {}
        self.published: dict[str, dict[str, ColumnType]] = {}
        self.domain: int | None = None
        self.events_read = 0
        self._now_ms = 0

    # ---- entry point ------------------------------------------------------------------------------

    def run(self) -> None:
        try:
            self._run()
        except StagingStopped:
            log.info("stopped while waiting for the RDI database")

    def _run(self) -> None:
        while True:
            if not self._prepare():
                return
            try:
                self._stream()
                return
            except BinlogPurgedError as exc:
                if self._binlog_kept():  # another 1236: the changes are there; a snapshot would lose deletes
                    raise RetryableError(str(exc)) from exc
                # The binlog expired while the collector was away (binlog_expire_logs_seconds): changes are gone.
                log.warning("%s; the stored position is lost: taking a new snapshot", exc)
                self.rdi.hdel(keys.DEBEZIUM_OFFSETS, self.offset_field)
                self.rdi.delete(self.snapshot_key)
                self.relations.clear()

    def _binlog_kept(self) -> bool:
        """True when the server still has every binlog transaction after the stored offset."""
        _, _, state = self._stored_offset()
        conn = connect(self.args)
        try:
            return binlog_has(conn, state)
        finally:
            conn.close()

    def _stored_offset(self) -> tuple[str | None, dict[str, Any], GtidState]:
        """The stored offset: its position (None: none stored), its JSON, and the GTID state to resume from."""
        stored, value = self.writer.load(keys.DEBEZIUM_OFFSETS, self.offset_field)
        offset = dict(orjson.loads(value)) if value else {}
        return stored, offset, GtidState.parse(str(offset.get("gtids", "")), mariadb=self.mariadb)

    def _prepare(self) -> bool:
        """Checks the server, reads the catalog, snapshots when needed; True when streaming should follow."""
        s = self.settings
        conn = connect(self.args)
        try:
            with translate_errors(f"cannot check the server at {self.address}"):
                version = check_server(conn, s.flavor, s.server_id, self.address)
            self.mariadb = "mariadb" in version.lower()
            self._load_catalog(conn)
            stored, _ = self.writer.load(keys.DEBEZIUM_OFFSETS, self.offset_field)
            state = self._snapshot_state()
            if s.snapshot_mode in ("never", "no_data"):
                if stored is None:
                    self._start_offset(current_position(conn, self.mariadb))
            elif state.get("phase") == "snapshot":
                log.info("resuming the interrupted snapshot after its last staged chunk")
                self._snapshot(resume=True, state=state)
            elif stored is None:
                self._snapshot(resume=False, state={})
        finally:
            conn.close()
        return s.snapshot_mode != "initial_only" and not self.stop.is_set()

    # ---- catalog and relations ----------------------------------------------------------------------

    def _specs(self) -> dict[tuple[str | None, str], Any] | None:
        s = self.settings
        if not s.tables:
            return None
        return {(t.schema, t.table): t.spec for t in s.tables}

    def _load_catalog(self, conn: pymysql.connections.Connection) -> None:
        for table in load_tables(conn, self.settings.databases, self._specs()):
            self.tables[(table.database, table.name)] = table
        log.info("capturing %d table(s): %s", len(self.tables), ", ".join(f"{a}.{b}" for a, b in sorted(self.tables)))

    def _spec(self, database: str, name: str) -> TableSelection | None:
        for t in self.settings.tables or ():
            if t.table == name and t.schema in (None, database):
                return t
        return None

    def _selected(self, database: str, name: str) -> bool:
        s = self.settings
        if s.tables:
            return self._spec(database, name) is not None
        return s.databases is None or database in s.databases

    def _relation(self, database: str, name: str, columns: Sequence[MySqlColumn], key: Sequence[str]) -> _Relation:
        s = self.settings
        selection = self._spec(database, name)
        if selection is not None and selection.spec is not None:
            if selection.spec.keys:
                key = list(selection.spec.keys)
            if selection.spec.columns:
                wanted = set(selection.spec.columns) | set(key)
                columns = [c for c in columns if c.name in wanted]
        n = s.partitions_of(database, name)
        base = keys.staging_stream(s.server_name, database, name)
        streams = [base] if n == 1 else [keys.staging_stream(s.server_name, database, name, i) for i in range(n)]
        rel = _Relation(
            database=database,
            table=name,
            columns=list(columns),
            converters=[
                converter_for(c, decimal_mode=s.decimal_mode, bigint_unsigned_mode=s.bigint_unsigned_mode)
                for c in columns
            ],
            zeros=[None if c.nullable else zero_value(c) for c in columns],
            key=list(key),
            streams=streams,
            source=mysql_source(server_name=s.server_name, db=database, table=name, ts_ms=0, version=VERSION),
        )
        self._publish_schema(rel)
        return rel

    def _publish_schema(self, rel: _Relation) -> None:
        """``rdi:schema:<stream>``: column → ``{"type", "name", "scale"}``, replaced whole when it changed."""
        types = {c.name: ColumnType(**schema_entry(c, self.settings.decimal_mode)) for c in rel.columns}
        for stream in rel.streams:
            if self.published.get(stream) == types:
                continue
            publish_types(self.rdi, stream, types)
            self.published[stream] = types

    def _on_table_map(self, ev: TableMapEvent) -> None:
        if ev.table_id in self.relations:
            return
        if not self._selected(ev.schema, ev.table):
            self.relations[ev.table_id] = None
            return
        nulls = ev.null_bitmask
        binlog = [column_from_binlog(c, bool(nulls[i // 8] & (1 << (i % 8)))) for i, c in enumerate(ev.columns)]
        if any(c.name is None for c in binlog):
            raise FatalError(
                f"the binlog has no column names for `{ev.schema}.{ev.table}`: it was written before "
                "`binlog_row_metadata=FULL` was set; take a new snapshot (delete the source's offset)"
            )
        known = self.tables.get((ev.schema, ev.table))
        shape = [(c.name, c.kind) for c in binlog]
        if known is None or not _matches(known, binlog, self._spec(ev.schema, ev.table)):
            known = self._refresh_table(ev.schema, ev.table)  # DDL changed it since the catalog was read
        refined = {c.name: c for c in known.columns} if known is not None else {}
        columns = [refined[c.name] if c.name in refined and refined[c.name].same_family(c) else c for c in binlog]
        pk = [binlog[i].name for i in ev.optional_metadata.simple_primary_key_list]
        rel = self._relation(ev.schema, ev.table, columns, pk)
        names = [c.name for c in binlog]
        rel.binlog_names = names
        rel.positions = [names.index(c.name) for c in rel.columns]
        rel.readers = compile_row_reader(ev.columns)
        count = len(binlog)
        rel.full_bitmap = bytes([0xFF] * (count // 8) + ([(1 << (count % 8)) - 1] if count % 8 else []))
        log.debug("table %s.%s (id %d): %s", ev.schema, ev.table, ev.table_id, shape)
        self.relations[ev.table_id] = rel

    def _refresh_table(self, database: str, name: str) -> TableInfo | None:
        """Re-reads one table's catalog entry (after DDL): names JSON columns the binlog cannot tell from text."""
        conn = connect(self.args)
        try:
            found = load_tables(conn, [database], {(database, name): None})
        finally:
            conn.close()
        table = found[0] if found else None
        if table is not None:
            self.tables[(database, name)] = table
            log.info("table %s.%s: columns %s", database, name, ", ".join(c.name for c in table.columns))
        return table

    # ---- snapshot ---------------------------------------------------------------------------------

    def _snapshot_state(self) -> dict[str, Any]:
        _, value = self.writer.load(self.snapshot_key, SNAPSHOT_STATE)
        return dict(orjson.loads(value)) if value else {}

    def _snapshot_progress(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for k, v in self.rdi.hgetall(self.snapshot_key).items():
            name = k.decode() if isinstance(k, bytes) else str(k)
            if name != SNAPSHOT_STATE and not name.endswith(":pos"):
                out[name] = orjson.loads(v)
        return out

    def _write_state(self, position: str, value: dict[str, Any]) -> None:
        self.writer.write([], Checkpoint(self.snapshot_key, SNAPSHOT_STATE, position, orjson.dumps(value)))

    def _snapshot(self, *, resume: bool, state: dict[str, Any]) -> None:
        session, position = open_snapshot(self.args, self.mariadb)
        try:
            if resume:
                position = SnapshotPosition(state["file"], int(state["pos"]), state["gtids"])
                progress = self._snapshot_progress()
            else:
                self.rdi.delete(self.snapshot_key)
                self._write_state("1", {"phase": "snapshot", "file": position.file, "pos": position.pos,
                                        "gtids": position.gtids})  # fmt: skip
                progress = {}
            log.info("snapshot at binlog %s:%d (GTID %s)", position.file, position.pos, position.gtids or "none")
            for key, table in sorted(self.tables.items()):
                if self.stop.is_set():
                    return
                name = f"{key[0]}.{key[1]}"
                if not progress.get(name, {}).get("done"):
                    self._snapshot_table(session, table, position, progress.get(name, {}))
        finally:
            session.close()
        if self.stop.is_set():
            return
        self._start_offset(position)
        self._write_state("2", {"phase": "complete", "file": position.file, "pos": position.pos,
                                "gtids": position.gtids})  # fmt: skip
        log.info("snapshot complete")

    def _snapshot_table(
        self, session: pymysql.connections.Connection, table: TableInfo, position: SnapshotPosition,
        progress: dict[str, Any],
    ) -> None:  # fmt: skip
        s = self.settings
        name = f"{table.database}.{table.name}"
        rel = self._relation(table.database, table.name, table.columns, table.key)
        columns = [c.name for c in rel.columns]
        after = decode_key(progress["last_key"]) if progress.get("last_key") else None
        chunk_no = int(progress.get("chunk", 0))
        rows_done = int(progress.get("rows", 0)) if rel.key else 0
        estimate = estimate_rows(session, table)
        selection = self._spec(table.database, table.name)
        snapshot_sql = selection.spec.snapshot_sql if selection and selection.spec else None
        log.info("snapshot %s: ~%d rows%s", name, estimate, f", resuming after {rows_done}" if rows_done else "")
        source = dict(rel.source)
        source.update(snapshot="true", file=position.file, pos=position.pos)
        stager = PipelinedStager(self.writer)
        try:
            if rel.key:
                chunks = self._keyed_chunks(session, table, rel, columns, after, snapshot_sql)
            else:
                chunks = ((rows, None) for rows in read_table(self.args, session, table, columns, s.chunk_size))
            for rows, last in chunks:
                if self.stop.is_set():
                    return
                now_ms = int(time.time() * 1000)
                src = dict(source, ts_ms=now_ms, ts_us=now_ms * 1000, ts_ns=now_ms * 1_000_000)
                entries = [self._snapshot_entry(rel, row, src, now_ms) for row in rows]
                chunk_no += 1
                rows_done += len(rows)
                final = last is None if rel.key else len(rows) < s.chunk_size
                state = {"chunk": chunk_no, "rows": rows_done, "last_key": last, "done": final}
                stager.put(entries, Checkpoint(self.snapshot_key, name, f"{chunk_no:010d}", orjson.dumps(state)))
                self.writer.set_status(s.source, {f"snapshot:{name}": f"{rows_done}/{max(estimate, rows_done)}"})
                log.info("snapshot %s: %d/%d rows", name, rows_done, max(estimate, rows_done))
            if not rel.key:  # a keyless table whose row count is a multiple of the chunk size: mark it done
                done = {"chunk": chunk_no + 1, "rows": rows_done, "last_key": None, "done": True}
                stager.put([], Checkpoint(self.snapshot_key, name, f"{chunk_no + 1:010d}", orjson.dumps(done)))
            stager.flush()
        finally:
            stager.close()

    def _keyed_chunks(
        self, session: pymysql.connections.Connection, table: TableInfo, rel: _Relation, columns: list[str],
        after: tuple[Any, ...] | None, snapshot_sql: str | None,
    ) -> Any:  # fmt: skip
        info = TableInfo(table.database, table.name, table.columns, tuple(rel.key))
        limit = self.settings.chunk_size
        while True:
            rows, last = read_chunk(session, info, columns, after, limit, snapshot_sql)
            final = len(rows) < limit
            yield rows, None if final else encode_key_values(last or ())
            if final:
                return
            after = last

    def _snapshot_entry(self, rel: _Relation, row: Sequence[Any], source: dict[str, Any], now_ms: int) -> Entry:
        after = rel.snapshot_row(row)
        key_json = encode_key({k: after[k] for k in rel.key} if rel.key else None)
        value = encode_value(before=None, after=after, source=source, op="r", ts_ms=now_ms)
        return Entry(rel.stream_for(key_json), key_json, value)

    # ---- positions --------------------------------------------------------------------------------

    def _prefix(self, gtid: str | None, file: str, pos: int) -> str:
        if self.mariadb and gtid is not None:
            domain, seq = gtid_sequence(gtid)
            if self.domain is None:
                self.domain = domain
            elif domain != self.domain:
                raise FatalError(_domains_message([self.domain, domain]))
            return f"{seq:020d}"
        index = int(file.rsplit(".", 1)[-1]) if "." in file else 0
        return f"{index:010d}:{pos:020d}"

    def _start_offset(self, position: SnapshotPosition) -> None:
        """The first streaming offset: right after ``position`` (staged only if no newer one is stored)."""
        state = GtidState.parse(position.gtids, mariadb=self.mariadb)
        if self.mariadb:
            if len(state.domains) > 1:
                raise FatalError(_domains_message(sorted(state.domains)))
            last = next(iter(state.domains.values()), None)
            # The snapshot includes transaction `last`: its position sorts after all of its events.
            position_text = f"{self._prefix(last, '', 0)}:{_END}" if last else f"{0:020d}:{0:010d}"
        else:
            position_text = f"{self._prefix(None, position.file, position.pos)}:{0:010d}"
        offset = {"file": position.file, "pos": position.pos, "gtids": state.text(), "gtid": None, "event": 0,
                  "row": 0, "server_id": 0, "ts_sec": int(time.time()), "position": position_text}  # fmt: skip
        checkpoint = Checkpoint(keys.DEBEZIUM_OFFSETS, self.offset_field, position_text, orjson.dumps(offset))
        self.writer.write([], checkpoint)

    # ---- streaming --------------------------------------------------------------------------------

    def _stream(self) -> None:
        failures = 0
        delay = 1.0
        while not self.stop.is_set():
            stored, offset, state = self._stored_offset()
            self.relations.clear()
            stager = PipelinedStager(self.writer)
            reader = open_binlog(self.args, server_id=self.settings.server_id, state=state, databases=self._databases())
            log.info("streaming the binlog after GTID %s", state.text() or "(start)")
            if offset.get("event"):
                log.info("resuming inside transaction %s after its first %d staged events", offset.get("gtid"),
                         offset["event"])  # fmt: skip
            try:
                self.events_read = 0
                self._read(reader, stager, state, stored)
                stager.flush()
                return
            except (BinlogConnectionLost, pymysql.OperationalError, pymysql.InterfaceError, RetryableError) as exc:
                failures = 1 if self.events_read else failures + 1
                if failures > MAX_RECONNECTS:
                    raise RetryableError(f"the binlog at {self.address} keeps failing: {one_line(exc)}") from exc
                delay = 1.0 if self.events_read else min(delay * 2, 30.0)
                log.warning("binlog connection lost (%s); reconnecting from the last staged position in %.0f s",
                            one_line(exc), delay)  # fmt: skip
                stager.flush()  # what was queued is staged; the stored offset then tells where to resume
                self.stop.wait(delay)
            finally:
                stager.close()
                reader.close()

    def _databases(self) -> list[str] | None:
        s = self.settings
        if s.databases:
            return list(s.databases)
        return None

    def _read(self, reader: Any, stager: PipelinedStager, state: GtidState, stored: str | None) -> None:
        s = self.settings
        txn: _Txn | None = None
        idle_prefix: str | None = None  # the last transaction with nothing captured, not yet in the offset
        last_offset_at = time.monotonic()
        next_heartbeat = time.monotonic() + s.heartbeat_interval_ms / 1000 if s.heartbeat_interval_ms else None
        self._stager = stager
        while not self.stop.is_set():
            with translate_errors(f"cannot read the binlog of {self.address}"):
                ev = reader.fetchone()
            if ev is None:
                raise BinlogConnectionLost("the server ended the binlog stream")
            self.events_read += 1
            kind = type(ev)
            if kind is WriteRowsEvent or kind is UpdateRowsEvent or kind is DeleteRowsEvent:
                if txn is not None:
                    self._on_rows(txn, ev, reader.log_file, stored)
            elif kind is TableMapEvent:
                self._on_table_map(ev)
            elif kind is MariadbGtidEvent or kind is GtidEvent:
                gtid = str(ev.gtid)
                start = ev.packet.log_pos - ev.packet.event_size
                txn = _Txn(self._prefix(gtid, reader.log_file, start), gtid, state, reader.log_file)
                txn.replay = stored is not None and stored[: len(txn.prefix)] >= txn.prefix
            elif kind is XidEvent or (kind is QueryEvent and txn is not None and _is_commit_or_ddl(ev)):
                if kind is QueryEvent and not _is_commit(ev):
                    self._on_ddl(ev)
                if txn is not None:
                    if txn.gtid is not None:
                        state = state.advanced(txn.gtid)
                    if txn.index == 0:
                        idle_prefix = txn.prefix
                    elif stored is None or f"{txn.prefix}:{_END}" > stored:
                        self._flush(txn, state, reader, final=True)
                        idle_prefix = None
                        last_offset_at = time.monotonic()
                txn = None
            elif kind is NotImplementedEvent:
                refuse_compressed(ev.event_type)
            elif kind is HeartbeatLogEvent:
                pass
            if txn is None and idle_prefix is not None and time.monotonic() - last_offset_at > IDLE_OFFSET_S:
                self._idle_offset(idle_prefix, state, reader, stored)
                idle_prefix, last_offset_at = None, time.monotonic()
            if next_heartbeat is not None and time.monotonic() >= next_heartbeat:
                next_heartbeat = time.monotonic() + s.heartbeat_interval_ms / 1000
                self.writer.set_status(s.source, {"phase": "streaming", "heartbeat_ms": int(time.time() * 1000),
                                                  "gtids": state.text()})  # fmt: skip

    def _on_ddl(self, ev: QueryEvent) -> None:
        query = ev.query if isinstance(ev.query, str) else bytes(ev.query).decode("utf-8", "replace")
        log.info("DDL in %s: %s", ev.schema.decode() if isinstance(ev.schema, bytes) else ev.schema,
                 " ".join(query.split())[:200])  # fmt: skip
        # Table ids change with the table's shape: the next TABLE_MAP builds (and publishes) the new relation.
        self.relations.clear()

    def _on_rows(self, txn: _Txn, ev: Any, file: str, stored: str | None) -> None:
        rel = self.relations.get(ev.table_id)
        if rel is None:
            return
        header = ev.packet
        pos = header.log_pos - header.event_size
        ts_ms = ev.timestamp * 1000
        self._now_ms = int(time.time() * 1000)  # when the collector processed the rows event's changes
        base = dict(rel.source)
        base.update(ts_ms=ts_ms, ts_us=ts_ms * 1000, ts_ns=ts_ms * 1_000_000, server_id=header.server_id,
                    gtid=txn.gtid, file=file, pos=pos)  # fmt: skip
        kind = type(ev)
        images = rel.images(ev, kind is UpdateRowsEvent)
        if kind is UpdateRowsEvent:
            for i in range(0, len(images), 2):
                before, after = rel.binlog_row(images[i]), rel.binlog_row(images[i + 1])
                if rel.key and any(before[k] != after[k] for k in rel.key):  # a key change: Debezium's d + c
                    self._emit(txn, rel, "d", before, None, base, i // 2, stored)
                    self._emit(txn, rel, "c", None, after, base, i // 2, stored)
                else:
                    self._emit(txn, rel, "u", before, after, base, i // 2, stored)
        elif kind is WriteRowsEvent:
            for i, image in enumerate(images):
                self._emit(txn, rel, "c", None, rel.binlog_row(image), base, i, stored)
        else:
            for i, image in enumerate(images):
                self._emit(txn, rel, "d", rel.binlog_row(image), None, base, i, stored)

    def _emit(self, txn: _Txn, rel: _Relation, op: str, before: dict[str, Any] | None,
              after: dict[str, Any] | None, base: dict[str, Any], row: int, stored: str | None) -> None:  # fmt: skip
        txn.index += 1
        if txn.replay and f"{txn.prefix}:{txn.index:010d}" <= str(stored):
            return  # staged before a crash or a reconnect: the binlog resent the whole transaction
        image = after if after is not None else before
        key_json = encode_key({k: image[k] for k in rel.key} if rel.key and image is not None else None)
        source = dict(base)
        source["row"] = row
        value = encode_value(before=before, after=after, source=source, op=op, ts_ms=self._now_ms)
        txn.pending.append(Entry(rel.stream_for(key_json), key_json, value))
        if len(txn.pending) >= TXN_CHUNK:
            self._flush(txn, txn.before, None, final=False)

    def _flush(self, txn: _Txn, state: GtidState, reader: Any, *, final: bool) -> None:
        # A whole transaction's position sorts after each of its events: a replay of it is skipped entirely.
        position = f"{txn.prefix}:{_END if final else f'{txn.index:010d}'}"
        offset = {
            "file": txn.file if reader is None else reader.log_file,
            "pos": 0 if reader is None else reader.log_pos,
            "gtids": state.text(),  # a partial transaction: the state before it, so a restart reads it again
            "gtid": txn.gtid,
            "event": 0 if final else txn.index,
            "row": 0,
            "server_id": self.settings.server_id,
            "ts_sec": int(time.time()),
            "position": position,
        }
        checkpoint = Checkpoint(keys.DEBEZIUM_OFFSETS, self.offset_field, position, orjson.dumps(offset))
        self._stager.put(txn.pending, checkpoint)
        txn.pending = []

    def _idle_offset(self, prefix: str, state: GtidState, reader: Any, stored: str | None) -> None:
        position = f"{prefix}:{_END}"
        if stored is not None and position <= stored:
            return
        offset = {"file": reader.log_file, "pos": reader.log_pos, "gtids": state.text(), "gtid": None, "event": 0,
                  "row": 0, "server_id": self.settings.server_id, "ts_sec": int(time.time()),
                  "position": position}  # fmt: skip
        self._stager.put([], Checkpoint(keys.DEBEZIUM_OFFSETS, self.offset_field, position, orjson.dumps(offset)))


def _domains_message(domains: Sequence[int]) -> str:
    return (
        f"the binlog has GTIDs of domains {', '.join(map(str, domains))}; the collector orders changes by the "
        "sequence number of one GTID domain (use a single `gtid_domain_id` on the source)"
    )


def _matches(known: TableInfo, binlog: list[MySqlColumn], selection: TableSelection | None) -> bool:
    """Whether the catalog entry still describes the table a TABLE_MAP shows (same columns, same type families)."""
    by_name = {c.name: c for c in known.columns}
    selected = selection.spec.columns if selection is not None and selection.spec is not None else None
    for column in binlog:
        if column.name in by_name:
            if not by_name[column.name].same_family(column):
                return False
        elif not selected or column.name in selected:
            return False
    return len(by_name) <= len(binlog)


def _is_commit(ev: QueryEvent) -> bool:
    query = ev.query if isinstance(ev.query, str) else bytes(ev.query).decode("utf-8", "replace")
    return query.strip().upper() == "COMMIT"


def _is_commit_or_ddl(ev: QueryEvent) -> bool:
    query = ev.query if isinstance(ev.query, str) else bytes(ev.query).decode("utf-8", "replace")
    return query.strip().upper() != "BEGIN"
