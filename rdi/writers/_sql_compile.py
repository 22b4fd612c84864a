"""SQL text of :class:`~rdi.writers.sql.SqlWrite` batches per dialect, built with SQLAlchemy Core (no engine).

Tables are lightweight ``table()``/``column()`` clauses (no reflection). Upserts use the dialects' own
constructs: ``INSERT … ON CONFLICT (keys) DO UPDATE`` (postgresql, sqlite), ``INSERT … ON DUPLICATE KEY UPDATE``
(mysql, mariadb); SQL Server and Oracle get a ``MERGE`` built here as text, identifiers quoted by the dialect's
``identifier_preparer``. Bind names are positional (``k0``… key columns, ``v0``… other columns), so any column
name works. Text is compiled with dialect objects that never connected, so it does not depend on a server's
version (MySQL gets ``VALUES(col)``, which MariaDB and MySQL 8 both accept).

Grouping: consecutive writes of one shape (op, table, columns, TYPE2 settings) share a statement executed with
executemany, which runs its parameter sets in order. A ``replace`` or ``type2`` group runs as two statements
(all deletes/closes, then all inserts), so a key seen twice starts a new group (``replace``: the later write
replaces the earlier one in place instead, which has the same effect).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Final

from sqlalchemy import and_, bindparam, column, delete, insert, literal_column, table, update
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement, TableClause

from rdi.writers.sql import SqlWrite

__all__ = ["Statement", "compile_statements", "dialect_for"]

_DIALECTS: Final = {
    "postgresql": "postgresql",
    "mysql": "mysql",
    "mariadb": "mysql",
    "sqlite": "sqlite",
    "sqlserver": "mssql",
    "mssql": "mssql",
    "oracle": "oracle",
}


@dataclass(slots=True)
class Statement:
    """One SQL text and its executemany parameter sets, each tagged with the entry index that produced it."""

    sql: str
    params: list[Any] = field(default_factory=list)
    entries: list[int] = field(default_factory=list)


@cache
def dialect_for(name: str) -> Dialect:
    """The SQLAlchemy dialect object (of the driver rdi connects with) for a connection type; ``ValueError``
    for an unknown one."""
    kind = _DIALECTS.get(name)
    # the paramstyle each driver takes: exec_driver_sql hands parameters to the driver as they are
    made: Any
    if kind == "postgresql":
        from sqlalchemy.dialects.postgresql.psycopg import dialect as pg

        made = pg(paramstyle="pyformat")  # type: ignore[no-untyped-call]
    elif kind == "mysql":
        from sqlalchemy.dialects.mysql.pymysql import dialect as my

        made = my(paramstyle="pyformat")
    elif kind == "sqlite":
        from sqlalchemy.dialects.sqlite.pysqlite import dialect as lite

        made = lite(paramstyle="named")
    elif kind == "mssql":
        from sqlalchemy.dialects.mssql.pyodbc import dialect as ms

        made = ms(paramstyle="qmark")  # type: ignore[no-untyped-call]
    elif kind == "oracle":
        from sqlalchemy.dialects.oracle.oracledb import dialect as ora

        made = ora(paramstyle="named")  # type: ignore[no-untyped-call]
    if kind is not None:
        dialect: Dialect = made
        return dialect
    known = ", ".join(sorted(_DIALECTS))
    raise ValueError(f"unknown SQL dialect `{name}`, expected one of {known}")


_Shape = tuple[str, str | None, str, tuple[str, ...], tuple[str, ...], tuple[tuple[str, str], ...], str | None]


def _shape(w: SqlWrite) -> _Shape:
    return (w.op, w.schema, w.table, tuple(w.keys), tuple(w.values), w.close, w.active)


@dataclass(slots=True)
class _Group:
    shape: _Shape
    writes: list[tuple[int, SqlWrite]] = field(default_factory=list)
    seen: dict[tuple[Any, ...], int] = field(default_factory=dict)


def _groups(writes: Sequence[tuple[int, SqlWrite]]) -> list[_Group]:
    groups: list[_Group] = []
    current: _Group | None = None
    for entry, w in writes:
        shape = _shape(w)
        if current is not None and current.shape == shape:
            if w.op not in ("replace", "type2"):
                current.writes.append((entry, w))
                continue
            key = tuple(w.keys.values())
            at = current.seen.get(key)
            if at is None:
                current.seen[key] = len(current.writes)
                current.writes.append((entry, w))
                continue
            if w.op == "replace":
                current.writes[at] = (entry, w)
                continue
        current = _Group(shape)
        current.seen[tuple(w.keys.values())] = 0
        current.writes.append((entry, w))
        groups.append(current)
    return groups


def compile_statements(writes: Sequence[tuple[int, SqlWrite]], dialect: str) -> list[Statement]:
    """The statements that apply ``writes`` (tagged with their entry index) in ``dialect``, in order."""
    d = dialect_for(dialect)
    out: list[Statement] = []
    for group in _groups(writes):
        first = group.writes[0][1]
        nk, nv = len(first.keys), len(first.values)
        for sql, order, kinds in _texts(first, d):
            statement = Statement(sql, entries=[entry for entry, _ in group.writes])
            if order is not None:  # positional: values in the order the binds appear in the text
                for _, w in group.writes:
                    params = _params(w, kinds, nk, nv)
                    statement.params.append(tuple(params[name] for name in order))
            else:
                statement.params = [_params(w, kinds, nk, nv) for _, w in group.writes]
            out.append(statement)
    return out


@cache
def _names(prefix: str, n: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{i}" for i in range(n))


def _params(w: SqlWrite, kinds: str, nk: int, nv: int) -> dict[str, Any]:
    params = dict(zip(_names("k", nk), w.keys.values(), strict=True))
    if kinds != "k":
        params.update(zip(_names("v", nv), w.values.values(), strict=True))
    return params


# (SQL text, positional bind order or None, which binds it takes: "k", "v" or "kv")
_Text = tuple[str, tuple[str, ...] | None, str]


@cache
def _texts_cached(shape: _Shape, dialect: Dialect) -> tuple[_Text, ...]:
    op, schema, name, keys, values, close, active = shape
    extra = tuple(c for c, _ in close if c not in keys and c not in values)
    t = table(name, *(column(c) for c in (*keys, *values, *extra)), schema=schema)
    kb: dict[str, Any] = {c: bindparam(f"k{i}") for i, c in enumerate(keys)}
    vb: dict[str, Any] = {c: bindparam(f"v{i}") for i, c in enumerate(values)}
    if op == "insert":
        return (_compiled(insert(t).values({**kb, **vb}), dialect, "kv"),)
    if op == "delete":
        return (_compiled(delete(t).where(_match(t, kb)), dialect, "k"),)
    if op == "update":
        return (_compiled(update(t).where(_match(t, kb)).values(vb), dialect, "kv"),)
    if op == "upsert":
        return (_upsert(t, kb, vb, dialect),)
    if op == "replace":
        return (
            _compiled(delete(t).where(_match(t, kb)), dialect, "k"),
            _compiled(insert(t).values({**kb, **vb}), dialect, "kv"),
        )
    close_stmt = _compiled(_close(t, kb, close, active), dialect, "k")
    if op == "close":
        return (close_stmt,)
    if op == "type2":
        return (close_stmt, _compiled(insert(t).values({**kb, **vb}), dialect, "kv"))
    raise ValueError(f"unknown SQL write op `{op}`")


def _texts(w: SqlWrite, dialect: Dialect) -> tuple[_Text, ...]:
    return _texts_cached(_shape(w), dialect)


def _match(t: TableClause, kb: dict[str, Any]) -> Any:
    return and_(*(t.c[c] == b for c, b in kb.items()))


def _close(t: TableClause, kb: dict[str, Any], close: tuple[tuple[str, str], ...], active: str | None) -> Any:
    where = _match(t, kb)
    if active:
        where = and_(where, literal_column(f"({active})"))
    return update(t).where(where).values({c: literal_column(source) for c, source in close})


def _compiled(stmt: ClauseElement, dialect: Dialect, kinds: str) -> _Text:
    compiled: Any = stmt.compile(dialect=dialect)
    order = tuple(compiled.positiontup or ()) if dialect.positional else None
    return str(compiled), order, kinds


def _upsert(t: TableClause, kb: dict[str, Any], vb: dict[str, Any], dialect: Dialect) -> _Text:
    name = dialect.name
    keys = list(kb)
    if name in ("postgresql", "sqlite"):
        from sqlalchemy.dialects.postgresql import insert as pg_insert
        from sqlalchemy.dialects.sqlite import insert as lite_insert

        stmt: Any = (pg_insert if name == "postgresql" else lite_insert)(t).values({**kb, **vb})
        if vb:
            upsert = stmt.on_conflict_do_update(index_elements=keys, set_={c: stmt.excluded[c] for c in vb})
        else:
            upsert = stmt.on_conflict_do_nothing(index_elements=keys)
        return _compiled(upsert, dialect, "kv")
    if name == "mysql":
        from sqlalchemy.dialects.mysql import insert as mysql_insert

        my = mysql_insert(t).values({**kb, **vb})
        # with nothing to update, setting a key column to itself turns the duplicate into a no-op
        updated = list(vb) or keys[:1]
        return _compiled(my.on_duplicate_key_update({c: my.inserted[c] for c in updated}), dialect, "kv")
    return _merge(t, list(kb), list(vb), dialect)


def _merge(t: TableClause, keys: list[str], values: list[str], dialect: Dialect) -> _Text:
    """``MERGE`` (SQL Server, Oracle): the row as a one-row source, matched on the key columns."""
    q = dialect.identifier_preparer
    target = q.format_table(t)
    names = [*keys, *values]
    binds = [*(f"k{i}" for i in range(len(keys))), *(f"v{i}" for i in range(len(values)))]
    if dialect.positional:
        marks = ["?"] * len(binds)
        order: tuple[str, ...] | None = tuple(binds)
    else:
        marks = [f":{b}" for b in binds]
        order = None
    oracle = dialect.name == "oracle"
    select = ", ".join(f"{m} AS {q.quote(c)}" for m, c in zip(marks, names, strict=True))
    source = f"(SELECT {select} FROM dual)" if oracle else f"(SELECT {select})"
    # SQL Server: HOLDLOCK keeps two concurrent MERGEs of a new key from both inserting it
    into = f"{target} tgt" if oracle else f"{target} WITH (HOLDLOCK) AS tgt"
    alias = " " if oracle else " AS "
    on = " AND ".join(f"tgt.{q.quote(c)} = src.{q.quote(c)}" for c in keys)
    sql = f"MERGE INTO {into} USING {source}{alias}src ON ({on})"
    if values:
        sets = ", ".join(f"tgt.{q.quote(c)} = src.{q.quote(c)}" for c in values)
        sql += f" WHEN MATCHED THEN UPDATE SET {sets}"
    columns = ", ".join(q.quote(c) for c in names)
    sources = ", ".join(f"src.{q.quote(c)}" for c in names)
    sql += f" WHEN NOT MATCHED THEN INSERT ({columns}) VALUES ({sources})"
    return (sql if oracle else sql + ";"), order, "kv"
