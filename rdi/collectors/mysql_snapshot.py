"""MySQL/MariaDB tables: the catalog, one consistent snapshot with its binlog position, key-ordered chunks.

A snapshot session (:func:`open_snapshot`) is a ``REPEATABLE READ`` transaction opened ``WITH CONSISTENT SNAPSHOT``;
the binlog position matching it comes without a global lock on MariaDB: ``Binlog_snapshot_file``/``_position``
(status variables that InnoDB fixes together with the snapshot) turned into a GTID position by
``BINLOG_GTID_POS`` (cdc-notes §4.3). MySQL has no such variables: there the position is read under a
``FLUSH TABLES WITH READ LOCK`` held only while the transaction starts (Debezium's way; untested here).

Chunks are keyset pages — ``WHERE (k1 > ?) OR (k1 = ? AND k2 > ?) ... ORDER BY k1, k2 LIMIT n`` — so each costs an
index range scan and an interrupted snapshot resumes after its last staged chunk. A table with neither a primary key
nor configured ``keys`` is read in one pass (`read_table`) and restarts from the beginning when interrupted.
Sessions run with ``time_zone = '+00:00'``, so ``TIMESTAMP`` values read as UTC, as the binlog holds them.
"""

from __future__ import annotations

import base64
import decimal
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

import pymysql
import pymysql.connections
import pymysql.converters
import pymysql.cursors
from pymysql.constants import FIELD_TYPE

from rdi.collectors.mysql_binlog import translate_errors
from rdi.collectors.mysql_types import MySqlColumn, column_from_information_schema
from rdi.errors import ConfigError

__all__ = [
    "SnapshotChunk",
    "SnapshotPosition",
    "TableInfo",
    "connect",
    "current_position",
    "decode_key",
    "encode_key_values",
    "estimate_rows",
    "load_tables",
    "open_snapshot",
    "read_chunk",
    "read_table",
]

_SYSTEM_DATABASES = ("mysql", "information_schema", "performance_schema", "sys")


@dataclass(frozen=True, slots=True)
class TableInfo:
    """A captured table: its columns in table order and the key (primary key, or the configured ``keys``)."""

    database: str
    name: str
    columns: tuple[MySqlColumn, ...]
    key: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SnapshotPosition:
    """Where the binlog stands relative to a snapshot: the stream starts right after it."""

    file: str
    pos: int
    gtids: str


class SnapshotChunk(NamedTuple):
    rows: list[tuple[Any, ...]]
    last_key: tuple[Any, ...] | None


def connect(args: dict[str, Any]) -> pymysql.connections.Connection:
    """An autocommit session reading ``TIMESTAMP`` as UTC; raises `RetryableError`/`FatalError`."""
    with translate_errors(f"cannot connect to {args.get('host')}:{args.get('port')}"):
        conn = pymysql.connect(**args, autocommit=True, init_command="SET time_zone = '+00:00'")
    return conn


def _q(name: str) -> str:
    """A quoted identifier, ``%`` doubled for PyMySQL's parameter substitution."""
    return "`" + name.replace("`", "``").replace("%", "%%") + "`"


def load_tables(
    conn: pymysql.connections.Connection,
    databases: Sequence[str] | None,
    tables: dict[tuple[str | None, str], Any] | None,
) -> list[TableInfo]:
    """Base tables of ``databases`` (None: every non-system database), narrowed to ``tables`` when given:
    ``(database or None, table) → TableSpec or None`` whose ``columns`` and ``keys`` are applied."""
    where = "t.TABLE_TYPE = 'BASE TABLE' AND t.TABLE_SCHEMA NOT IN (%s, %s, %s, %s)"
    params: list[Any] = list(_SYSTEM_DATABASES)
    if databases:
        where += " AND t.TABLE_SCHEMA IN (" + ", ".join(["%s"] * len(databases)) + ")"
        params += list(databases)
    query = f"""
        SELECT c.TABLE_SCHEMA, c.TABLE_NAME, c.COLUMN_NAME, c.DATA_TYPE, c.COLUMN_TYPE, c.IS_NULLABLE,
               c.CHARACTER_OCTET_LENGTH, c.NUMERIC_PRECISION, c.NUMERIC_SCALE, c.DATETIME_PRECISION, c.COLUMN_KEY
        FROM information_schema.TABLES t
        JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = t.TABLE_SCHEMA AND c.TABLE_NAME = t.TABLE_NAME
        WHERE {where}
        ORDER BY c.TABLE_SCHEMA, c.TABLE_NAME, c.ORDINAL_POSITION"""
    with translate_errors("cannot read the table catalog"), conn.cursor() as cur:
        cur.execute(query, params)
        rows = cur.fetchall()
        cur.execute(
            "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE "
            "WHERE CONSTRAINT_NAME = 'PRIMARY' ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION"
        )
        primary: dict[tuple[str, str], list[str]] = {}
        for db, table, column in cur.fetchall():
            primary.setdefault((db, table), []).append(column)
        json_columns = _json_checked(cur)
    grouped: dict[tuple[str, str], list[MySqlColumn]] = {}
    for db, table, name, data_type, column_type, nullable, octets, precision, scale, fsp, _key in rows:
        grouped.setdefault((db, table), []).append(
            column_from_information_schema(
                name, data_type, column_type, nullable == "YES", octets, precision, scale, fsp,
                json_checked=(db, table, name) in json_columns,
            )
        )  # fmt: skip
    out = []
    for (db, table), columns in grouped.items():
        if tables is not None:
            if (db, table) in tables:
                spec = tables[(db, table)]
            elif (None, table) in tables:
                spec = tables[(None, table)]
            else:
                continue
        else:
            spec = None
        key = tuple(spec.keys) if spec is not None and spec.keys else tuple(primary.get((db, table), ()))
        if spec is not None and spec.columns:
            wanted = set(spec.columns) | set(key)
            columns = [c for c in columns if c.name in wanted]
        out.append(TableInfo(db, table, tuple(columns), key))
    return out


def _json_checked(cur: pymysql.cursors.Cursor) -> set[tuple[str, str, str]]:
    """MariaDB's JSON columns: LONGTEXT with a ``json_valid(`col`)`` check constraint."""
    try:
        cur.execute(
            "SELECT CONSTRAINT_SCHEMA, TABLE_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
            "WHERE CHECK_CLAUSE LIKE 'json\\_valid(%%'"
        )
    except pymysql.Error:  # MySQL < 8.0.16 has no such view, and a native JSON type
        return set()
    found = set()
    for db, table, clause in cur.fetchall():
        column = str(clause)[len("json_valid(") : -1].strip().strip("`")
        found.add((db, table, column))
    return found


def current_position(conn: pymysql.connections.Connection, mariadb: bool) -> SnapshotPosition:
    """The binlog's end right now (a start point when no snapshot is taken)."""
    with translate_errors("cannot read the binlog position"), conn.cursor() as cur:
        if mariadb:
            cur.execute("SELECT @@GLOBAL.gtid_binlog_pos")
            (gtids,) = cur.fetchone()
            return SnapshotPosition("", 0, str(gtids or ""))
        return _master_status(cur)


def _master_status(cur: pymysql.cursors.Cursor) -> SnapshotPosition:
    try:
        cur.execute("SHOW BINARY LOG STATUS")
    except pymysql.err.ProgrammingError:
        cur.execute("SHOW MASTER STATUS")
    row = cur.fetchone()
    if row is None:
        raise ConfigError("the MySQL server has no binary log (`log_bin` is off)")
    return SnapshotPosition(str(row[0]), int(row[1]), str(row[4] if len(row) > 4 else "").replace("\n", ""))


# Temporal columns stay ISO text in snapshot rows: the converters parse them with the C `fromisoformat`.
_SNAPSHOT_DECODERS: Final = {
    k: v
    for k, v in pymysql.converters.conversions.items()
    if k not in (FIELD_TYPE.DATE, FIELD_TYPE.DATETIME, FIELD_TYPE.TIMESTAMP, FIELD_TYPE.TIME)
}


def open_snapshot(args: dict[str, Any], mariadb: bool) -> tuple[pymysql.connections.Connection, SnapshotPosition]:
    """A session inside a consistent-snapshot transaction, and the binlog position that snapshot matches.

    Temporal values of its rows are ISO text ("2024-01-01 10:00:00.5", "-838:59:59", "0000-00-00"). The caller
    closes the connection (ending the snapshot). Raises `RetryableError`/`FatalError`.
    """
    conn = connect({**args, "conv": _SNAPSHOT_DECODERS})
    try:
        with translate_errors("cannot open a consistent snapshot"), conn.cursor() as cur:
            cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            if mariadb:
                cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
                cur.execute("SHOW STATUS LIKE 'binlog_snapshot_%'")
                status = {str(k).lower(): str(v) for k, v in cur.fetchall()}
                file, pos = status["binlog_snapshot_file"], int(status["binlog_snapshot_position"])
                cur.execute("SELECT BINLOG_GTID_POS(%s, %s)", (file, pos))
                (gtids,) = cur.fetchone()
                position = SnapshotPosition(file, pos, str(gtids or ""))
            else:
                cur.execute("FLUSH TABLES WITH READ LOCK")
                try:
                    cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
                    position = _master_status(cur)
                finally:
                    cur.execute("UNLOCK TABLES")
    except BaseException:
        conn.close()
        raise
    return conn, position


def _key_filter(key: Sequence[str], after: Sequence[Any]) -> tuple[str, list[Any]]:
    # (k1 > a) OR (k1 = a AND k2 > b) ...: a range the optimizer uses on the key's index.
    clauses, params = [], []
    for i, column in enumerate(key):
        parts = [f"{_q(k)} = %s" for k in key[:i]] + [f"{_q(column)} > %s"]
        clauses.append("(" + " AND ".join(parts) + ")")
        params += [*after[:i], after[i]]
    return " OR ".join(clauses), params


def read_chunk(
    conn: pymysql.connections.Connection,
    table: TableInfo,
    columns: Sequence[str],
    after: Sequence[Any] | None,
    limit: int,
    snapshot_sql: str | None = None,
) -> SnapshotChunk:
    """The next ``limit`` rows after key ``after`` (None: from the start) in key order, values as PyMySQL reads
    them in ``columns`` order. Raises `ConfigError` when a key value is NULL (chunks need NOT NULL keys)."""
    key = table.key
    extra = [k for k in key if k not in columns]
    selected = [*columns, *extra]
    source = f"{_q(table.database)}.{_q(table.name)}"
    if snapshot_sql:
        source = "(" + snapshot_sql.strip().rstrip(";").replace("%", "%%") + ") AS r"
    where, params = "", list[Any]()
    if after is not None:
        condition, params = _key_filter(key, after)
        where = f"WHERE {condition}"
    order = ", ".join(_q(k) for k in key)
    query = f"SELECT {', '.join(_q(c) for c in selected)} FROM {source} {where} ORDER BY {order} LIMIT {int(limit)}"
    with translate_errors(f"cannot read a snapshot chunk of `{table.database}.{table.name}`"), conn.cursor() as cur:
        cur.execute(query, params)
        rows = list(cur.fetchall())
    if not rows:
        return SnapshotChunk([], None)
    key_at = [selected.index(k) for k in key]
    last_key = tuple(rows[-1][i] for i in key_at)
    if any(v is None for v in last_key):
        names = ", ".join(f"`{k}`" for k in key)
        raise ConfigError(
            f"table `{table.database}.{table.name}`: a row has NULL in key column(s) {names}; "
            "snapshot chunks need NOT NULL keys"
        )
    if extra:
        rows = [row[: len(columns)] for row in rows]
    return SnapshotChunk(rows, last_key)


def read_table(
    args: dict[str, Any], conn: pymysql.connections.Connection, table: TableInfo, columns: Sequence[str], batch: int
) -> Iterator[list[tuple[Any, ...]]]:
    """Every row of a table without a key, in batches, streamed (unbuffered) inside the snapshot transaction."""
    query = f"SELECT {', '.join(_q(c) for c in columns)} FROM {_q(table.database)}.{_q(table.name)}"
    with translate_errors(f"cannot read `{table.database}.{table.name}`"):
        cur = pymysql.cursors.SSCursor(conn)
        try:
            cur.execute(query, ())
            while rows := cur.fetchmany(batch):
                yield list(rows)
        finally:
            cur.close()


def estimate_rows(conn: pymysql.connections.Connection, table: TableInfo) -> int:
    """InnoDB's row estimate (``information_schema.TABLES.TABLE_ROWS``); for progress only."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
            (table.database, table.name),
        )
        row = cur.fetchone()
    return int(row[0] or 0) if row else 0


def encode_key_values(values: Sequence[Any]) -> list[Any]:
    """A chunk's last key as JSON (bytes tagged as base64, decimals and dates as text MySQL compares back)."""
    out: list[Any] = []
    for v in values:
        if isinstance(v, bytes | bytearray):
            out.append({"b64": base64.b64encode(bytes(v)).decode()})
        elif isinstance(v, int | str):
            out.append(v)
        elif isinstance(v, decimal.Decimal):
            out.append(format(v, "f"))
        else:
            out.append(str(v))
    return out


def decode_key(values: Sequence[Any]) -> tuple[Any, ...]:
    """The inverse of `encode_key_values`, as query parameters."""
    return tuple(base64.b64decode(v["b64"]) if isinstance(v, dict) else v for v in values)
