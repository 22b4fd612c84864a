"""The MySQL/MariaDB binlog as the collector reads it: server checks, GTID positions, a reader that never replays.

python-mysql-replication 1.0.x parses the events (cdc-notes §4), wrapped here around its traps (§4.5):

* its auto-reconnect restarts from the *original* ``auto_position`` and replays everything since. Our connections
  (:func:`open_binlog`) turn a lost connection into :class:`BinlogConnectionLost` instead, which the library does not
  catch; the collector then reconnects itself from the last *staged* GTID position;
* MariaDB with ``is_mariadb=True`` ignores file/pos, so MariaDB always resumes by GTID (``@slave_connect_state``),
  MySQL by its executed GTID set (``COM_BINLOG_DUMP_GTID``);
* compressed events (MySQL ``TRANSACTION_PAYLOAD_EVENT``, MariaDB ``*_COMPRESSED_EVENT``) would be dropped silently:
  :func:`check_server` refuses a server that writes them, and :func:`refuse_compressed` stops on one anyway;
* without ``binlog_row_metadata=FULL`` rows have no column names; without ``binlog_row_image=FULL`` no full images.

Positions (:class:`GtidState`): MariaDB ``domain-server-seq`` per domain — the collector requires one domain, so the
sequence number orders transactions; MySQL ``uuid:1-N`` sets. Either way the state after a fully staged transaction
is what the next connection asks for, and the stream starts right after it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

import pymysql
import pymysql.connections
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.event import (
    GtidEvent,
    HeartbeatLogEvent,
    MariadbGtidEvent,
    NotImplementedEvent,
    QueryEvent,
    RotateEvent,
    XidEvent,
)
from pymysqlreplication.gtid import Gtid, GtidSet
from pymysqlreplication.row_event import DeleteRowsEvent, TableMapEvent, UpdateRowsEvent, WriteRowsEvent

from rdi.errors import FatalError, RetryableError

__all__ = [
    "BinlogConnectionLost",
    "BinlogPurgedError",
    "GtidState",
    "binlog_has",
    "check_server",
    "open_binlog",
    "refuse_compressed",
    "translate_errors",
]

log = logging.getLogger("rdi.collector.mysql")

# Event types whose rows python-mysql-replication cannot read: it would skip them without a word.
COMPRESSED_EVENTS: Final = {
    40: "TRANSACTION_PAYLOAD_EVENT (binlog_transaction_compression=ON)",
    165: "QUERY_COMPRESSED_EVENT (log_bin_compress=ON)",
    166: "WRITE_ROWS_COMPRESSED_EVENT_V1 (log_bin_compress=ON)",
    167: "UPDATE_ROWS_COMPRESSED_EVENT_V1 (log_bin_compress=ON)",
    168: "DELETE_ROWS_COMPRESSED_EVENT_V1 (log_bin_compress=ON)",
    169: "WRITE_ROWS_COMPRESSED_EVENT (log_bin_compress=ON)",
    170: "UPDATE_ROWS_COMPRESSED_EVENT (log_bin_compress=ON)",
    171: "DELETE_ROWS_COMPRESSED_EVENT (log_bin_compress=ON)",
}
_LOST: Final = frozenset({2006, 2013})  # server gone away, lost connection (also a read timeout)
_RETRYABLE: Final = frozenset({1040, 1053, 1205, 1213, 2003, 2006, 2013, 2055})  # too many conns, shutdown, ...


class BinlogPurgedError(FatalError):
    """The server no longer has the binlog holding the requested position (error 1236): take a new snapshot."""


class BinlogConnectionLost(Exception):
    """The binlog connection broke; the collector reconnects from its last staged position."""


class _Connection(pymysql.connections.Connection):  # type: ignore[misc]
    """A PyMySQL connection whose lost-connection errors escape python-mysql-replication's replaying retry loop."""

    def __init__(self, **kwargs: Any) -> None:
        if "db" in kwargs:  # the library still uses PyMySQL's deprecated spelling
            kwargs["database"] = kwargs.pop("db")
        super().__init__(**kwargs)

    def _read_packet(self, packet_type: Any = pymysql.connections.MysqlPacket) -> Any:
        try:
            return super()._read_packet(packet_type)
        except pymysql.OperationalError as exc:
            if exc.args and exc.args[0] in _LOST:
                raise BinlogConnectionLost(str(exc.args[-1])) from exc
            raise


@contextmanager
def translate_errors(what: str) -> Iterator[None]:
    """PyMySQL errors in the block become `RetryableError` (connection, shutdown, deadlock) or `FatalError`."""
    try:
        yield
    except BinlogConnectionLost as exc:
        raise RetryableError(f"{what}: lost the connection ({exc})") from exc
    except pymysql.Error as exc:
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        text = str(exc.args[-1]) if exc.args else type(exc).__name__
        message = f"{what}: {' '.join(text.split())}" + (f" (error {code})" if code else "")
        if code is None or code in _RETRYABLE or isinstance(exc, pymysql.InterfaceError):
            raise RetryableError(message) from exc
        if code == 1236:
            raise BinlogPurgedError(message) from exc
        raise FatalError(message) from exc


# ---- server checks ------------------------------------------------------------------------------------------


def check_server(conn: pymysql.connections.Connection, flavor: str, server_id: int, address: str) -> str:
    """Checks the server writes a binlog the collector can read; returns its version.

    Raises `FatalError` with one line naming every setting to change: ``log_bin=ON``, ``binlog_format=ROW``,
    ``binlog_row_image=FULL``, ``binlog_row_metadata=FULL``, no binlog compression, GTIDs on (MySQL
    ``gtid_mode=ON``), a ``server_id`` other than the collector's ``database.server.id``.
    """
    names = (
        "log_bin", "binlog_format", "binlog_row_image", "binlog_row_metadata", "log_bin_compress",
        "binlog_transaction_compression", "gtid_mode", "server_id", "gtid_strict_mode", "version",
    )  # fmt: skip
    with conn.cursor() as cur:
        cur.execute("SHOW GLOBAL VARIABLES WHERE Variable_name IN (" + ", ".join(["%s"] * len(names)) + ")", names)
        found = {str(k).lower(): str(v) for k, v in cur.fetchall()}
    version = found.get("version", "")
    is_mariadb = "mariadb" in version.lower()
    wants: list[tuple[str, str]] = [
        ("log_bin", "ON"), ("binlog_format", "ROW"), ("binlog_row_image", "FULL"), ("binlog_row_metadata", "FULL"),
    ]  # fmt: skip
    if is_mariadb:
        wants.append(("log_bin_compress", "OFF"))
    else:
        wants += [("binlog_transaction_compression", "OFF"), ("gtid_mode", "ON")]
    problems = []
    for name, wanted in wants:
        value = found.get(name)
        if value is None:
            if name in ("log_bin_compress", "binlog_transaction_compression"):
                continue  # a server too old to compress
            problems.append(f"`{name}` is unknown to this server (needs MariaDB ≥ 10.5 or MySQL ≥ 8.0.14)")
        elif value.upper() != wanted:
            problems.append(f"`{name}` is `{value}`, needs `{wanted}`")
    if found.get("server_id") == str(server_id):
        problems.append(f"`server_id` {server_id} is the collector's own `database.server.id`; choose another one")
    if is_mariadb != (flavor == "mariadb"):
        log.warning("connection.type is `%s` but the server at %s is %s", flavor, address, version)
    if problems:
        kind = "MariaDB" if is_mariadb else "MySQL"
        raise FatalError(
            f"the {kind} server at {address} is not set up for change capture: " + "; ".join(problems)
            + " (set them in the server's configuration and restart it)"
        )  # fmt: skip
    if is_mariadb and found.get("gtid_strict_mode", "OFF").upper() != "ON":
        log.warning("MariaDB at %s runs without `gtid_strict_mode=ON`; GTID order is then not guaranteed", address)
    return version


def refuse_compressed(event_type: int) -> None:
    """Raises `FatalError` for a compressed event, whose rows the reader would otherwise drop."""
    what = COMPRESSED_EVENTS.get(event_type)
    if what is not None:
        raise FatalError(
            f"the binlog holds a compressed event {what}, which the collector cannot read; turn binlog "
            "compression off and take a new snapshot (changes in compressed events are not captured)"
        )


# ---- GTID positions -----------------------------------------------------------------------------------------


@dataclass(slots=True)
class GtidState:
    """The GTID position after the last transaction handled: MariaDB ``d-s-n[,...]`` or a MySQL GTID set."""

    mariadb: bool
    domains: dict[int, str] = field(default_factory=dict)  # MariaDB: domain → last GTID
    gtid_set: str = ""  # MySQL

    @classmethod
    def parse(cls, text: str, *, mariadb: bool) -> GtidState:
        state = cls(mariadb=mariadb)
        if mariadb:
            for part in filter(None, (p.strip() for p in text.split(","))):
                state.domains[int(part.split("-", 1)[0])] = part
        else:
            state.gtid_set = str(GtidSet(text)) if text.strip() else ""
        return state

    def advanced(self, gtid: str) -> GtidState:
        """A new state including ``gtid`` (the transaction just handled); this one is left unchanged."""
        if self.mariadb:
            domains = dict(self.domains)
            domains[int(gtid.split("-", 1)[0])] = gtid
            return GtidState(True, domains)
        merged = GtidSet(self.gtid_set or None)
        merged.merge_gtid(Gtid(gtid))
        return GtidState(False, gtid_set=str(merged))

    def text(self) -> str:
        if self.mariadb:
            return ",".join(self.domains[d] for d in sorted(self.domains))
        return self.gtid_set


def binlog_has(conn: pymysql.connections.Connection, state: GtidState) -> bool:
    """True when the server's binlogs still hold every transaction after ``state``: an error 1236 is then not a
    purge (a snapshot would be the wrong answer to it). MariaDB: the GTID state at the start of the oldest binlog
    file is not ahead of ``state`` in any domain; MySQL: ``gtid_purged`` is a subset of ``state``."""
    with translate_errors("cannot read which binlogs the server keeps"), conn.cursor() as cur:
        if not state.mariadb:
            cur.execute("SELECT GTID_SUBSET(@@GLOBAL.gtid_purged, %s)", (state.gtid_set,))
            row = cur.fetchone()
            return bool(row and row[0])
        cur.execute("SHOW BINARY LOGS")
        files = cur.fetchall()
        if not files:
            return False
        cur.execute("SELECT BINLOG_GTID_POS(%s, 4)", (files[0][0],))
        row = cur.fetchone()
    oldest = GtidState.parse(str(row[0] or "") if row else "", mariadb=True)
    have = {domain: gtid_sequence(gtid)[1] for domain, gtid in state.domains.items()}
    return all(have.get(domain, -1) >= gtid_sequence(gtid)[1] for domain, gtid in oldest.domains.items())


def gtid_sequence(gtid: str) -> tuple[int, int]:
    """MariaDB ``domain-server-seq`` → ``(domain, seq)``."""
    domain, _, rest = gtid.partition("-")
    return int(domain), int(rest.rpartition("-")[2])


# ---- the reader ---------------------------------------------------------------------------------------------

_EVENTS: Final = [
    MariadbGtidEvent, GtidEvent, XidEvent, QueryEvent, TableMapEvent, WriteRowsEvent, UpdateRowsEvent,
    DeleteRowsEvent, HeartbeatLogEvent, RotateEvent, NotImplementedEvent,
]  # fmt: skip


def open_binlog(
    connect_args: Mapping[str, Any],
    *,
    server_id: int,
    state: GtidState,
    databases: list[str] | None,
    heartbeat_s: float = 1.0,
    read_timeout_s: float = 30.0,
) -> BinLogStreamReader:
    """A blocking binlog reader starting right after ``state``, with a server heartbeat every ``heartbeat_s``
    (so the caller regains control while the source is idle) and without the library's replaying reconnect."""
    settings = dict(connect_args)
    settings["read_timeout"] = read_timeout_s
    return BinLogStreamReader(
        connection_settings=settings,
        server_id=server_id,
        is_mariadb=state.mariadb,
        auto_position=state.text(),
        blocking=True,
        only_events=_EVENTS,
        filter_non_implemented_events=False,
        only_schemas=databases,
        slave_heartbeat=heartbeat_s,
        pymysql_wrapper=_Connection,
        enable_logging=False,
    )
