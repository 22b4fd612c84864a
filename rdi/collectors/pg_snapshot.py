"""Reading PostgreSQL tables inside one consistent snapshot, in key-ordered chunks, every value as text.

A snapshot session imports the snapshot a replication slot exported (`ReplicationConnection.create_slot`), so what it
reads is exactly the data before the slot's consistent point; any number of sessions may import the same snapshot
and read tables in parallel while the exporting connection stays idle. Sessions apply `TEXT_FORMAT_SETTINGS`, the
settings the replication connection uses too, so a value reads the same in a snapshot row and in a pgoutput tuple.

Tables are paged by key (keyset pagination): each chunk is ``WHERE (k1, k2) > (last) ORDER BY k1, k2 LIMIT n``, so a
chunk costs an index range scan, memory stays flat and an interrupted snapshot resumes after the last chunk it
finished (in a fresh snapshot when the exported one is gone). Key columns must be NOT NULL: a row whose key is NULL
cannot be paged past. A table with neither a primary key nor configured ``keys`` cannot be paged; `read_table`
streams it in one pass through a server-side cursor instead, and an interruption restarts it from the beginning.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple, TypeAlias

import psycopg
from psycopg import sql

from rdi.collectors.pg_replication import TEXT_FORMAT_SETTINGS, translate_errors
from rdi.errors import ConfigError

__all__ = ["SnapshotChunk", "TextRow", "estimate_rows", "open_snapshot_session", "read_chunk", "read_table"]

TextRow: TypeAlias = tuple[str | None, ...]


class SnapshotChunk(NamedTuple):
    """Rows of one chunk in key order (values as PostgreSQL text, in ``columns`` order), and the last row's key.

    ``last_key`` is None for an empty chunk; a chunk shorter than the limit is the table's last. A named tuple:
    ``rows, last_key = read_chunk(...)`` works.
    """

    rows: list[TextRow]
    last_key: tuple[str, ...] | None


def open_snapshot_session(dsn: str, snapshot_name: str | None) -> psycopg.Connection[TextRow]:
    """A connection inside a ``REPEATABLE READ READ ONLY`` transaction, ready for `read_chunk`/`read_table`.

    With ``snapshot_name`` the transaction imports that exported snapshot (``SET TRANSACTION SNAPSHOT``); that fails
    with `FatalError` (PostgreSQL 18: ``snapshot "…" does not exist``, SQLSTATE 42704) once the exporting replication
    connection ran another command or closed. With None it takes a fresh snapshot (resuming a snapshot after a
    restart). The caller closes the connection; ending the transaction ends the snapshot. Raises `RetryableError`
    when the server is unreachable.
    """
    with translate_errors("cannot open a snapshot session"):
        conn: psycopg.Connection[TextRow] = psycopg.connect(dsn, autocommit=True)
    try:
        with translate_errors("cannot open a snapshot session"):
            settings = [
                sql.SQL("SET {} = {}").format(sql.Identifier(name), sql.Literal(value))
                for name, value in TEXT_FORMAT_SETTINGS.items()
            ]
            # No parameters: psycopg sends this as one simple query, one round trip.
            conn.execute(sql.SQL("; ").join(settings))
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        if snapshot_name is not None:
            with translate_errors(f"cannot import snapshot `{snapshot_name}`"):
                conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot_name)))
    except BaseException:
        conn.close()
        raise
    return conn


_ROW = "r"  # the relation's alias: a bare `ORDER BY "id"` would sort by the `"id"::text` output column


def _select_list(names: Sequence[str]) -> sql.Composed:
    # concat() prints with the type's output function, as pgoutput sends values: a `::text` cast would trim
    # char(n)'s padding and give inet its netmask (`::1/128`). It prints NULL as '', hence the CASE.
    return sql.SQL(", ").join(
        sql.SQL("CASE WHEN {c} IS NULL THEN NULL ELSE concat({c}) END").format(c=sql.Identifier(_ROW, name))
        for name in names
    )


def _source(schema: str, table: str, snapshot_sql: str | None) -> sql.Composable:
    if snapshot_sql is None:
        return sql.SQL("{} AS {}").format(sql.Identifier(schema, table), sql.Identifier(_ROW))
    # The user's SELECT is inserted verbatim; its `%` must not be taken for placeholders.
    body = snapshot_sql.strip().rstrip(";").replace("%", "%%")
    return sql.SQL("({}) AS {}").format(sql.SQL(body), sql.Identifier(_ROW))


def read_chunk(
    conn: psycopg.Connection[TextRow],
    *,
    schema: str,
    table: str,
    columns: Sequence[str],
    key_columns: Sequence[str],
    after: Sequence[str] | None,
    limit: int,
    snapshot_sql: str | None = None,
) -> SnapshotChunk:
    """The next ``limit`` rows after key ``after`` (None: from the start), ordered by ``key_columns``.

    Every value is printed as text in the database by its type's output function (as pgoutput sends it),
    NULL stays None. Key columns need not be among
    ``columns``. With ``snapshot_sql`` the rows come from that SELECT (it must output the key columns and
    ``columns``): ``SELECT ... FROM (<snapshot_sql>) AS r WHERE keys > after ORDER BY keys LIMIT n``.
    ``after`` is a previous chunk's ``last_key``; the text reads back as the column's type. Deterministic for a
    given snapshot, so a chunk re-read after a crash returns the same rows. Raises `ConfigError` when a key value is
    NULL, `FatalError` for SQL errors (unknown column, bad ``snapshot_sql``).
    """
    if not key_columns:
        raise ValueError("read_chunk() needs key columns; use read_table() for a table without a key")
    extra = [k for k in key_columns if k not in columns]
    selected = [*columns, *extra]
    key_at = [selected.index(k) for k in key_columns]
    keys = sql.SQL(", ").join(sql.Identifier(_ROW, k) for k in key_columns)
    where: sql.Composable = sql.SQL("")
    params: list[str | int] = []
    if after is not None:
        where = sql.SQL("WHERE ({}) > ({})").format(keys, sql.SQL(", ").join(sql.Placeholder() * len(after)))
        params.extend(after)
    params.append(limit)
    query = sql.SQL("SELECT {} FROM {} {} ORDER BY {} LIMIT %s").format(
        _select_list(selected), _source(schema, table, snapshot_sql), where, keys
    )
    with translate_errors(f"cannot read a snapshot chunk of `{schema}.{table}`"):
        rows = conn.execute(query, params, prepare=True).fetchall()
    if not rows:
        return SnapshotChunk([], None)
    last = rows[-1]
    last_key = tuple(last[i] for i in key_at)
    if any(value is None for value in last_key):
        names = ", ".join(f"`{k}`" for k in key_columns)
        raise ConfigError(
            f"table `{schema}.{table}`: a row has NULL in key column(s) {names}; snapshot chunks need NOT NULL keys"
        )
    if extra:
        width = len(columns)
        rows = [row[:width] for row in rows]
    return SnapshotChunk(rows, last_key)  # type: ignore[arg-type]


def read_table(
    conn: psycopg.Connection[TextRow],
    *,
    schema: str,
    table: str,
    columns: Sequence[str],
    batch_size: int,
    snapshot_sql: str | None = None,
) -> Iterator[list[TextRow]]:
    """All rows of a table without a usable key, in batches of up to ``batch_size``, in one pass.

    Uses a server-side cursor inside the session's transaction, so memory stays flat; the order is the server's
    and cannot be resumed: after an interruption, read the table again from the start. Values as in `read_chunk`.
    """
    query = sql.SQL("SELECT {} FROM {}").format(_select_list(columns), _source(schema, table, snapshot_sql))
    what = f"cannot read snapshot rows of `{schema}.{table}`"
    with translate_errors(what), conn.cursor(name=f"rdi_snapshot_{schema}_{table}"[:63]) as cursor:
        cursor.itersize = batch_size
        cursor.execute(query)
        while batch := cursor.fetchmany(batch_size):
            yield batch


def estimate_rows(conn: psycopg.Connection[TextRow], schema: str, table: str) -> int:
    """The planner's row estimate (``pg_class.reltuples``), 0 when unknown or never analysed; for progress only."""
    query = """
        SELECT greatest(c.reltuples, 0)::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %s AND c.relname = %s"""
    with translate_errors(f"cannot estimate the rows of `{schema}.{table}`"):
        row = conn.execute(query, (schema, table)).fetchone()
    return 0 if row is None or row[0] is None else int(row[0])
