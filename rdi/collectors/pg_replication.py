"""PostgreSQL logical replication: the streaming protocol, replication slots and publications.

The walsender protocol is driven by hand through psycopg 3's libpq wrapper (`Connection.pgconn`), because no
released psycopg has a replication API (cdc-notes §3.2). After ``START_REPLICATION`` the connection is in COPY_BOTH
mode and exchanges CopyData frames; all integers are big-endian and LSNs/times are unsigned/signed 64-bit:

* server → client ``w`` XLogData: data_start (Q), wal_end (Q), send_time (q, µs since 2000-01-01), payload — one
  pgoutput message (this module hands the payload on undecoded);
* server → client ``k`` keepalive: wal_end (Q), send_time (q), reply_requested (B);
* client → server ``r`` Standby Status Update: write, flush, apply (Q), client time (q), reply_requested (B).

The server sends a keepalive asking for a reply when nothing was heard from the client for half of
``wal_sender_timeout`` (60 s by default) and ends the connection when the timeout passes. `ReplicationConnection.read`
answers those, and also sends a status update every ``status_interval_s`` on its own, so a caller that keeps calling
``read`` (even with a short timeout while it waits for Redis) or ``send_status`` is never timed out.

Confirmed positions (the *flush* LSN) tell the server it may recycle WAL and where to resume: after a reconnect,
``START_REPLICATION ... 0/0`` resumes at the slot's ``confirmed_flush_lsn``, and PostgreSQL re-sends in full every
transaction whose commit end LSN is above it (cdc-notes §3.1, §6.3). Confirm a Commit's end LSN only once that
transaction is durably handled.

Every psycopg error met here is translated by `translate_errors` (lost connection, shutdown, slot in use:
`RetryableError`; anything else: `FatalError`).

The walsender formats column values with the replication session's settings; both the replication connection and
the snapshot sessions (`rdi.collectors.pg_snapshot`) apply `TEXT_FORMAT_SETTINGS`, so one set of text parsers serves
streaming and snapshot values.
"""

from __future__ import annotations

import select
import struct
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final, Literal, NoReturn, TypeAlias

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import ExecStatus
from psycopg.pq.abc import PGresult

from rdi.collectors.pg_types import TEXT_FORMAT_SETTINGS
from rdi.errors import ConfigError, FatalError, RetryableError

__all__ = [
    "TEXT_FORMAT_SETTINGS",
    "PublicationMode",
    "ReplicationConnection",
    "SlotInfo",
    "SlotState",
    "XLogData",
    "drop_slot",
    "ensure_publication",
    "publication_tables",
    "slot_state",
    "translate_errors",
]

PublicationMode: TypeAlias = Literal["all_tables", "filtered", "disabled"]
QualifiedTable: TypeAlias = tuple[str, str]

_EPOCH_2000_US: Final = 946_684_800_000_000
_XLOG_HEADER = struct.Struct(">QQq")
_KEEPALIVE = struct.Struct(">QqB")
_STATUS = struct.Struct(">cQQQqB")
_RETRYABLE_CLASSES: Final = ("08", "40", "53", "57")
_RETRYABLE_STATES: Final = frozenset({"55006", "55P03"})


@dataclass(frozen=True, slots=True)
class SlotInfo:
    """A slot just created: resume streaming at ``consistent_lsn``; ``snapshot_name`` is set when exported."""

    slot: str
    consistent_lsn: int
    snapshot_name: str | None


@dataclass(frozen=True, slots=True)
class SlotState:
    """A row of ``pg_replication_slots``; LSNs as integers, None where the server reports NULL."""

    slot: str
    plugin: str | None
    database: str | None
    active: bool
    active_pid: int | None
    restart_lsn: int | None
    confirmed_flush_lsn: int | None
    wal_status: str | None


@dataclass(slots=True)
class XLogData:
    """One pgoutput message as received: ``payload[0]`` is its tag (``B``, ``I``, ``C``...).

    Not frozen: a frozen dataclass costs about 1 µs more per message on the hot path.

    ``data_start`` is the WAL position the message belongs to (a Commit's end LSN for ``C``), ``wal_end`` the server's
    position when sending, ``send_time`` the server clock in µs since 2000-01-01 UTC.
    """

    data_start: int
    wal_end: int
    send_time: int
    payload: bytes


def format_lsn(lsn: int) -> str:
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


@contextmanager
def translate_errors(what: str) -> Iterator[None]:
    """Re-raise psycopg errors inside the block as rdi errors whose message starts with ``what``.

    Lost or refused connections (no SQLSTATE, classes 08, 40, 53, 57) and a busy slot or lock (55006, 55P03) become
    `RetryableError`; every other database error becomes `FatalError`. The psycopg error is the ``__cause__``.
    """
    try:
        yield
    except psycopg.Error as exc:
        state = exc.sqlstate
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        message = f"{what}: {detail}" + (f" (SQLSTATE {state})" if state else "")
        if state is None and isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
            raise RetryableError(message) from exc
        if state is not None and (state[:2] in _RETRYABLE_CLASSES or state in _RETRYABLE_STATES):
            raise RetryableError(message) from exc
        raise FatalError(message) from exc


def _apply_text_format(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    # Simple-query SETs: a walsender refuses the extended protocol (and set_config with parameters).
    for name, value in TEXT_FORMAT_SETTINGS.items():
        conn.execute(sql.SQL("SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))


def _wait_socket(fd: int, events: int, timeout_s: float) -> None:
    # poll, not select: select() fails on descriptors above 1023.
    poller = select.poll()
    poller.register(fd, events | select.POLLERR | select.POLLHUP)
    poller.poll(int(timeout_s * 1000))


def _now_pg_us() -> int:
    return time.time_ns() // 1000 - _EPOCH_2000_US


class ReplicationConnection:
    """A walsender session (``replication=database``) that creates slots and streams pgoutput messages.

    Not thread-safe. Lifecycle: optionally `create_slot`, then `start` once, then `read`/`confirm` in a loop, then
    `close`. After `start` the connection can run nothing else.
    """

    def __init__(
        self,
        dsn: str,
        *,
        application_name: str = "rdi-collector",
        status_interval_s: float = 10.0,
        max_messages: int = 5000,
        max_bytes: int = 4 << 20,
    ) -> None:
        """Connect; raises `RetryableError` when the server is unreachable, `FatalError` on refusal (auth...).

        ``application_name`` applies unless the DSN names one. ``max_messages``/``max_bytes`` bound one `read`.
        """
        name = conninfo_to_dict(dsn).get("application_name") or application_name
        with translate_errors("cannot open a replication connection"):
            self._conn = psycopg.connect(dsn, replication="database", autocommit=True, application_name=name)
        try:
            with translate_errors("cannot configure the replication connection"):
                _apply_text_format(self._conn)
        except BaseException:
            self._conn.close()
            raise
        self._pgconn = self._conn.pgconn
        self._status_interval_s = status_interval_s
        self._max_messages = max_messages
        self._max_bytes = max_bytes
        self._slot = ""
        self._streaming = False
        self._poller: select.poll | None = None
        self._flush_lsn = 0
        self._caught_up = False
        self._server_wal_end = 0
        self._last_status = 0.0

    @property
    def flush_lsn(self) -> int:
        """The position last confirmed to the server (0 until `confirm`)."""
        return self._flush_lsn

    @property
    def server_wal_end(self) -> int:
        """The highest ``wal_end`` the server reported so far, in data or keepalive frames."""
        return self._server_wal_end

    def create_slot(self, slot: str, *, export_snapshot: bool) -> SlotInfo:
        """``CREATE_REPLICATION_SLOT <slot> LOGICAL pgoutput`` with ``SNAPSHOT 'export'`` or ``'nothing'``.

        With ``export_snapshot`` the snapshot stays importable (``SET TRANSACTION SNAPSHOT``, any number of
        sessions) only while this connection runs no other command: import it everywhere first, then `start`.
        Raises `FatalError` if the slot exists (SQLSTATE 42710) or slots are not available.
        """
        old_syntax = self._conn.info.server_version < 150000
        if old_syntax:
            option = sql.SQL("EXPORT_SNAPSHOT" if export_snapshot else "NOEXPORT_SNAPSHOT")
        else:
            option = sql.SQL("(SNAPSHOT 'export')" if export_snapshot else "(SNAPSHOT 'nothing')")
        query = sql.SQL("CREATE_REPLICATION_SLOT {} LOGICAL pgoutput {}").format(sql.Identifier(slot), option)
        with translate_errors(f"cannot create replication slot `{slot}`"):
            row = self._conn.execute(query).fetchone()
        if row is None:
            raise FatalError(f"cannot create replication slot `{slot}`: the server returned no row")
        snapshot = None if row[2] is None else str(row[2])
        return SlotInfo(slot=slot, consistent_lsn=parse_lsn(str(row[1])), snapshot_name=snapshot)

    def start(
        self,
        slot: str,
        start_lsn: int,
        publication: str,
        *,
        proto_version: int = 1,
        messages: bool = False,
    ) -> None:
        """``START_REPLICATION SLOT <slot> LOGICAL <start_lsn>`` for pgoutput on one publication.

        ``start_lsn`` 0 resumes at the slot's ``confirmed_flush_lsn`` (as does any lower position); a slot just
        created starts at its consistent point. A higher ``start_lsn`` (a position stored with the staged data) skips
        the transactions that end at or below it and counts as confirmed. ``messages`` adds
        ``pg_logical_emit_message`` output (PG 14+).
        Raises `FatalError` for a missing slot, `RetryableError` while another session holds the slot.
        """
        if "\\" in publication:
            msg = f"publication name {publication!r} contains a backslash, which replication commands cannot quote"
            raise ValueError(msg)
        names = sql.Identifier(publication).as_string(self._conn)
        options: list[sql.Composable] = [
            sql.SQL("proto_version {}").format(sql.Literal(str(proto_version))),
            sql.SQL("publication_names {}").format(sql.Literal(names)),
        ]
        if messages:
            options.append(sql.SQL("messages 'true'"))
        query = sql.SQL("START_REPLICATION SLOT {} LOGICAL {} ({})").format(
            sql.Identifier(slot), sql.SQL(format_lsn(start_lsn)), sql.SQL(", ").join(options)
        )
        what = f"cannot start replication from slot `{slot}`"
        with translate_errors(what):
            self._pgconn.send_query(query.as_bytes(self._conn))
            self._wait_result_ready()
            result = self._pgconn.get_result()
        if result is None or result.status != ExecStatus.COPY_BOTH:
            self._raise_result_error(what, result)
        self._slot = slot
        self._streaming = True
        self._flush_lsn = max(self._flush_lsn, start_lsn)
        self._poller = select.poll()
        self._poller.register(self._pgconn.socket, select.POLLIN)
        self._last_status = time.monotonic()

    def read(self, timeout_s: float) -> list[XLogData]:
        """The next messages, in stream order: returns as soon as some arrived (after taking what is buffered).

        Waits up to ``timeout_s`` for the first message; returns ``[]`` on timeout. At most ``max_messages`` messages
        or about ``max_bytes`` of payload per call. Answers keepalives and sends the periodic status update while it
        waits. Raises `RetryableError` when the connection is lost or the server ends the stream for a transient
        reason, `FatalError` for a server error (dropped slot, missing publication...).
        """
        if not self._streaming:
            raise RuntimeError("read() before start()")
        pgconn = self._pgconn
        deadline = time.monotonic() + timeout_s
        out: list[XLogData] = []
        size = 0
        what = f"replication from slot `{self._slot}` failed"
        with translate_errors(what):
            while True:
                nbytes, frame = pgconn.get_copy_data(1)
                if nbytes > 0:
                    tag = frame[0]
                    if tag == 0x77:  # w
                        start, end, sent = _XLOG_HEADER.unpack_from(frame, 1)
                        out.append(XLogData(start, end, sent, bytes(frame[25:])))
                        self._caught_up = False
                        if end > self._server_wal_end:
                            self._server_wal_end = end
                        size += nbytes
                        if len(out) >= self._max_messages or size >= self._max_bytes:
                            break
                    elif tag == 0x6B:  # k
                        end, _sent, reply = _KEEPALIVE.unpack_from(frame, 1)
                        if end > self._server_wal_end:
                            self._server_wal_end = end
                        if self._caught_up and end > self._flush_lsn:
                            self._flush_lsn = end
                            reply = True  # the server keeps sending keepalives until it hears the new position
                        if reply:
                            self._send_status()
                    continue
                if nbytes == -1:
                    self._streaming = False
                    self._raise_result_error(what, pgconn.get_result())
                if out:
                    break
                self._send_status_if_due()
                now = time.monotonic()
                if now >= deadline:
                    break
                wait_s = min(deadline - now, self._last_status + self._status_interval_s - now)
                if self._wait_readable(max(wait_s, 0.0)):
                    pgconn.consume_input()
            self._send_status_if_due()
        return out

    def confirm(self, flush_lsn: int, *, caught_up: bool = False) -> None:
        """Tell the server everything up to ``flush_lsn`` is durably handled, and send that now.

        Pass a Commit's end LSN once the whole transaction is stored. Positions never move back; a lower value is
        ignored. ``caught_up=True`` says more: every message `read` has returned so far is handled and no transaction
        is open (the last message was a Commit, or a non-transactional message). Until `read` next returns a data
        message, keepalive positions are then confirmed as they arrive, so an idle slot does not pin WAL on a busy
        cluster (cdc-notes §3.1, §6.2). That is safe because the walsender sends every transaction committed below a
        keepalive's position before the keepalive, and a transaction still open then commits above it and is re-sent
        in full after a restart. Never pass it in the middle of a transaction.
        """
        if flush_lsn > self._flush_lsn:
            self._flush_lsn = flush_lsn
        self._caught_up = caught_up
        if caught_up and self._server_wal_end > self._flush_lsn:
            self._flush_lsn = self._server_wal_end
        if self._streaming:
            with translate_errors(f"replication from slot `{self._slot}` failed"):
                self._send_status()

    def send_status(self, *, force: bool = False) -> None:
        """Send a status update if ``status_interval_s`` passed since the last one (always with ``force``).

        A caller blocked elsewhere for longer than half the server's ``wal_sender_timeout`` calls this (or `read`
        with a zero timeout) so the walsender does not end the connection.
        """
        if not self._streaming:
            return
        with translate_errors(f"replication from slot `{self._slot}` failed"):
            if force:
                self._send_status()
            else:
                self._send_status_if_due()

    def close(self) -> None:
        """Close the connection (idempotent); the slot keeps its confirmed position."""
        self._streaming = False
        self._conn.close()

    def __enter__(self) -> ReplicationConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send_status_if_due(self) -> None:
        if time.monotonic() - self._last_status >= self._status_interval_s:
            self._send_status()

    def _send_status(self) -> None:
        lsn = self._flush_lsn
        self._pgconn.put_copy_data(_STATUS.pack(b"r", lsn, lsn, lsn, _now_pg_us(), 0))
        self._flush_out()
        self._last_status = time.monotonic()

    def _flush_out(self) -> None:
        while self._pgconn.flush() == 1:
            _wait_socket(self._pgconn.socket, select.POLLOUT, 1.0)

    def _wait_readable(self, timeout_s: float) -> bool:
        assert self._poller is not None
        return bool(self._poller.poll(int(timeout_s * 1000) + 1))

    def _wait_result_ready(self) -> None:
        self._flush_out()
        while self._pgconn.is_busy():
            _wait_socket(self._pgconn.socket, select.POLLIN, 1.0)
            self._pgconn.consume_input()

    def _raise_result_error(self, what: str, result: PGresult | None) -> NoReturn:
        error: psycopg.Error
        if result is not None and result.status == ExecStatus.FATAL_ERROR:
            error = psycopg.errors.error_from_result(result, encoding=self._conn.info.encoding)
        elif result is not None and result.status == ExecStatus.COMMAND_OK:
            error = psycopg.OperationalError("the server ended the replication stream")
        else:
            message = self._pgconn.get_error_message() or "the connection was lost"
            error = psycopg.OperationalError(message)
        with translate_errors(what):
            raise error
        raise AssertionError("unreachable")  # pragma: no cover


def slot_state(conn: psycopg.Connection[tuple[object, ...]], slot: str) -> SlotState | None:
    """The slot's row in ``pg_replication_slots``, or None when there is no such slot."""
    query = """
        SELECT slot_name, plugin, database, active, active_pid,
               restart_lsn::text, confirmed_flush_lsn::text, wal_status
        FROM pg_replication_slots WHERE slot_name = %s"""
    with translate_errors(f"cannot read the state of replication slot `{slot}`"):
        row = conn.execute(query, (slot,)).fetchone()
    if row is None:
        return None
    name, plugin, database, active, pid, restart, confirmed, wal_status = row
    return SlotState(
        slot=str(name),
        plugin=None if plugin is None else str(plugin),
        database=None if database is None else str(database),
        active=bool(active),
        active_pid=None if pid is None else int(str(pid)),
        restart_lsn=None if restart is None else parse_lsn(str(restart)),
        confirmed_flush_lsn=None if confirmed is None else parse_lsn(str(confirmed)),
        wal_status=None if wal_status is None else str(wal_status),
    )


def drop_slot(
    conn: psycopg.Connection[tuple[object, ...]],
    slot: str,
    *,
    terminate_active: bool = False,
    timeout_s: float = 10.0,
) -> bool:
    """Drop the slot; True if it existed. Idempotent.

    A slot in use by a walsender cannot be dropped: with ``terminate_active`` that backend is terminated first
    (waiting up to ``timeout_s`` for it to let go), otherwise `RetryableError` (SQLSTATE 55006) is raised.
    """
    what = f"cannot drop replication slot `{slot}`"
    deadline = time.monotonic() + timeout_s
    while True:
        state = slot_state(conn, slot)
        if state is None:
            return False
        if state.active and terminate_active and state.active_pid is not None:
            with translate_errors(what):
                conn.execute("SELECT pg_terminate_backend(%s)", (state.active_pid,))
            if time.monotonic() < deadline:
                time.sleep(0.05)
                continue
        with translate_errors(what):
            conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
        return True


def publication_tables(conn: psycopg.Connection[tuple[object, ...]], name: str) -> set[QualifiedTable]:
    """The ``(schema, table)`` pairs the publication publishes (every table for ``FOR ALL TABLES``).

    Empty when the publication does not exist.
    """
    query = "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = %s"
    with translate_errors(f"cannot read the tables of publication `{name}`"):
        rows = conn.execute(query, (name,)).fetchall()
    return {(str(schema), str(table)) for schema, table in rows}


def ensure_publication(
    conn: psycopg.Connection[tuple[object, ...]],
    name: str,
    mode: PublicationMode,
    tables: Sequence[QualifiedTable] = (),
) -> list[str]:
    """Make the publication fit ``publication.autocreate.mode``; returns the SQL statements it ran.

    * ``all_tables``: ``CREATE PUBLICATION <name> FOR ALL TABLES`` if it does not exist (an existing one is used
      as it is);
    * ``filtered``: create it ``FOR TABLE <tables>``, or ``ALTER PUBLICATION ... SET TABLE <tables>`` so that it
      publishes exactly ``tables``;
    * ``disabled``: change nothing; the publication must exist.

    Raises `ConfigError` (one line: what is missing and the SQL that fixes it) when the publication is missing in
    ``disabled`` mode, when ``filtered`` gets no tables, names a table that does not exist or meets a
    ``FOR ALL TABLES`` publication. Idempotent. Run it with an autocommit connection.
    """
    wanted = sorted(dict.fromkeys(tables))
    table_list = sql.SQL(", ").join(sql.Identifier(schema, table) for schema, table in wanted)
    what = f"cannot set up publication `{name}`"
    with translate_errors(what):
        row = conn.execute("SELECT puballtables FROM pg_publication WHERE pubname = %s", (name,)).fetchone()
    exists, all_tables = row is not None, bool(row and row[0])
    if mode == "disabled":
        if exists:
            return []
        target = sql.SQL("FOR TABLE {}").format(table_list) if wanted else sql.SQL("FOR ALL TABLES")
        fix = sql.SQL("CREATE PUBLICATION {} {};").format(sql.Identifier(name), target).as_string(conn)
        raise ConfigError(
            f"publication `{name}` does not exist and `publication.autocreate.mode` is `disabled`; create it: {fix}"
        )
    if mode == "all_tables":
        if exists:
            return []
        statement = sql.SQL("CREATE PUBLICATION {} FOR ALL TABLES").format(sql.Identifier(name))
    else:
        if not wanted:
            raise ConfigError(f"publication `{name}`: mode `filtered` needs at least one table")
        if all_tables:
            raise ConfigError(
                f"publication `{name}` is `FOR ALL TABLES`, but `publication.autocreate.mode` `filtered` publishes "
                f"the selected tables only; drop it (DROP PUBLICATION {sql.Identifier(name).as_string(conn)};) "
                "or use mode `all_tables`"
            )
        missing = _missing_tables(conn, wanted)
        if missing:
            names = ", ".join(f"`{schema}.{table}`" for schema, table in missing)
            raise ConfigError(f"publication `{name}`: table(s) {names} do not exist")
        if exists and publication_tables(conn, name) == set(wanted):
            return []
        if exists:
            statement = sql.SQL("ALTER PUBLICATION {} SET TABLE {}").format(sql.Identifier(name), table_list)
        else:
            statement = sql.SQL("CREATE PUBLICATION {} FOR TABLE {}").format(sql.Identifier(name), table_list)
    with translate_errors(what):
        conn.execute(statement)
    return [statement.as_string(conn)]


def _missing_tables(conn: psycopg.Connection[tuple[object, ...]], tables: list[QualifiedTable]) -> list[QualifiedTable]:
    query = """
        SELECT t.s, t.t FROM unnest(%s::text[], %s::text[]) AS t(s, t)
        WHERE NOT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                          WHERE n.nspname = t.s AND c.relname = t.t AND c.relkind IN ('r', 'p'))
        ORDER BY 1, 2"""
    with translate_errors("cannot look up the published tables"):
        rows = conn.execute(query, ([s for s, _ in tables], [t for _, t in tables])).fetchall()
    return [(str(schema), str(table)) for schema, table in rows]
