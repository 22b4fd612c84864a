"""What the PostgreSQL catalog says about the captured tables and their column types (psycopg 3).

The primary key comes from ``pg_index`` — never from pgoutput's Relation flags, which mark every column as
key under REPLICA IDENTITY FULL (cdc-notes §3.4). Columns are listed in ``attnum`` order without dropped
and generated columns (pgoutput sends neither). Every function runs read-only catalog queries on the
given connection and leaves its transaction state to the caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from rdi.collectors.pg_types import PgColumn, TypeInfo
from rdi.config.sources import TableSpec

__all__ = ["TableInfo", "load_table", "load_tables", "load_types"]

_SYSTEM_SCHEMAS = ["pg_catalog", "information_schema"]


@dataclass(frozen=True, slots=True)
class TableInfo:
    """One captured table.

    ``primary_key`` is the catalog's primary key in index order, or the configured ``keys`` (which win, as
    Debezium's ``message.key.columns`` does); empty for a keyless table. ``replica_identity`` is
    ``pg_class.relreplident``: ``d`` default, ``n`` nothing, ``f`` full, ``i`` index.
    """

    relid: int
    schema: str
    name: str
    columns: list[PgColumn]
    primary_key: list[str]
    replica_identity: str


_TABLES_SQL = """
SELECT c.oid, n.nspname, c.relname, c.relreplident,
       a.attname, a.atttypid, a.atttypmod, t.typname, a.attnotnull,
       ARRAY(SELECT pa.attname
               FROM pg_index i
               CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
               JOIN pg_attribute pa ON pa.attrelid = i.indrelid AND pa.attnum = k.attnum
              WHERE i.indrelid = c.oid AND i.indisprimary
              ORDER BY k.ord) AS pk
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
  JOIN pg_type t ON t.oid = a.atttypid
 WHERE {where}
 ORDER BY n.nspname, c.relname, a.attnum
"""

_SELECT_TABLES = """c.relkind IN ('r', 'p') AND NOT c.relispartition
   AND n.nspname <> ALL(%(system)s) AND n.nspname !~ '^pg_(toast|temp_)'
   AND (%(schemas)s::text[] IS NULL OR n.nspname = ANY(%(schemas)s::text[]))"""

_TYPES_SQL = """
SELECT t.oid, t.typname, n.nspname, t.typtype, t.typelem, t.typbasetype, t.typtypmod,
       EXISTS (SELECT 1 FROM pg_type e WHERE e.typarray = t.oid) AS is_array
  FROM pg_type t
  JOIN pg_namespace n ON n.oid = t.typnamespace
 WHERE t.oid = ANY(%s::oid[])
"""


def load_tables(
    conn: psycopg.Connection[Any],
    *,
    schemas: Sequence[str] | None = None,
    tables: Mapping[str, TableSpec | None] | None = None,
) -> list[TableInfo]:
    """The ordinary and partitioned tables to capture, sorted by schema and name.

    ``schemas`` limits the search (default: every schema but the system ones). ``tables`` (the config's
    ``sources.<name>.tables``) selects tables by ``schema.table`` or bare ``table`` (a bare name matches in
    every searched schema); None selects all. A configured table that does not exist is left out; leaf
    partitions are left out (their parent is captured). A spec's ``columns`` keeps those columns (plus the
    key's), in table order; its ``keys`` replace the primary key.
    Raises ``ValueError`` (one line) when ``columns`` or ``keys`` name a column the table does not have.
    """
    where = _SELECT_TABLES
    params: dict[str, Any] = {"system": _SYSTEM_SCHEMAS, "schemas": list(schemas) if schemas is not None else None}
    found = _tables(conn, where, params)
    if tables is None:
        return found
    specs: list[TableInfo] = []
    for table in found:
        selected, spec = _lookup(tables, table.schema, table.name)
        if selected:
            specs.append(_apply(table, spec))
    return specs


def load_table(conn: psycopg.Connection[Any], relid: int, spec: TableSpec | None = None) -> TableInfo | None:
    """The table with OID ``relid`` (e.g. from a Relation message of a table seen for the first time), with
    ``spec`` applied as in :func:`load_tables`; None when no such ordinary or partitioned table exists."""
    found = _tables(conn, "c.oid = %(relid)s AND c.relkind IN ('r', 'p')", {"relid": relid})
    return _apply(found[0], spec) if found else None


def load_types(conn: psycopg.Connection[Any], oids: Iterable[int]) -> dict[int, TypeInfo]:
    """``pg_type`` rows for ``oids`` and, recursively, the element types of arrays and base types of domains.

    Arrays get ``typtype`` ``a``. OIDs that do not exist are left out. Idempotent and read-only.
    """
    result: dict[int, TypeInfo] = {}
    pending = {int(oid) for oid in oids}
    while pending:
        rows = conn.execute(_TYPES_SQL, [sorted(pending)]).fetchall()
        pending = set()
        for oid, name, namespace, typtype, elem, base, base_typmod, is_array in rows:
            kind = "a" if is_array and elem else _text(typtype)
            info = TypeInfo(
                oid=int(oid), name=name, typtype=kind, namespace=namespace,
                element_oid=int(elem) if kind == "a" else 0, base_oid=int(base), base_typmod=int(base_typmod),
            )  # fmt: skip
            result[info.oid] = info
            for ref in (info.element_oid, info.base_oid):
                if ref and ref not in result:
                    pending.add(ref)
    return result


def _text(value: Any) -> str:
    # "char" columns arrive as str or bytes depending on the loader
    return value.decode() if isinstance(value, bytes) else str(value)


def _tables(conn: psycopg.Connection[Any], where: str, params: Mapping[str, Any]) -> list[TableInfo]:
    rows = conn.execute(_TABLES_SQL.format(where=where), params).fetchall()
    tables: list[TableInfo] = []
    for relid, schema, name, identity, column, type_oid, typmod, type_name, not_null, pk in rows:
        if not tables or tables[-1].relid != relid:
            tables.append(TableInfo(int(relid), schema, name, [], list(pk), _text(identity)))
        tables[-1].columns.append(PgColumn(column, int(type_oid), int(typmod), type_name, bool(not_null)))
    return tables


def _lookup(tables: Mapping[str, TableSpec | None], schema: str, name: str) -> tuple[bool, TableSpec | None]:
    qualified = f"{schema}.{name}"
    if qualified in tables:
        return True, tables[qualified]
    if name in tables:
        return True, tables[name]
    return False, None


def _apply(table: TableInfo, spec: TableSpec | None) -> TableInfo:
    if spec is None or (spec.columns is None and spec.keys is None):
        return table
    names = {c.name for c in table.columns}
    key = list(spec.keys) if spec.keys else table.primary_key
    for option, listed in (("keys", spec.keys), ("columns", spec.columns)):
        unknown = [c for c in listed or [] if c not in names]
        if unknown:
            msg = f"table `{table.schema}.{table.name}` has no column `{unknown[0]}` (listed in `{option}`)"
            raise ValueError(msg)
    columns = table.columns
    if spec.columns is not None:
        keep = set(spec.columns) | set(key)
        columns = [c for c in table.columns if c.name in keep]
    return TableInfo(table.relid, table.schema, table.name, columns, key, table.replica_identity)
