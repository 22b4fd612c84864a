"""The Debezium change-event envelope, serialised as Debezium Server's Redis sink writes it (schemas disabled).

Pure; shared by the collectors. Key and value are compact JSON (orjson) with Debezium's field order
(cdc-notes §1.1–1.3): the value is ``before, after, source, transaction (null), op, ts_ms, ts_us, ts_ns``;
a PostgreSQL ``source`` block is ``version, connector, name, ts_ms, snapshot, db, sequence, ts_us, ts_ns,
schema, table, txId, lsn, xmin``; a MySQL one ``version, connector, name, ts_ms, snapshot, db, sequence, ts_us,
ts_ns, table, server_id, gtid, file, pos, row, thread, query``. A keyless record's key is the sink's ``null.key``
text ``default``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal, TypeAlias

import orjson

__all__ = [
    "CONNECTOR_VERSION",
    "NULL_KEY",
    "SnapshotFlag",
    "encode_key",
    "encode_value",
    "mysql_source",
    "pg_sequence",
    "pg_source",
]

CONNECTOR_VERSION: Final = "rdi-0.1.0"
"""``source.version`` of the events rdi's collectors write (Debezium writes its own version there)."""

NULL_KEY: Final = b"default"
"""What Debezium Server's Redis sink writes for a record without a key (``null.key``)."""

SnapshotFlag: TypeAlias = Literal[
    "true", "first", "first_in_data_collection", "last_in_data_collection", "last", "false", "incremental"
]


def encode_key(key: Mapping[str, Any] | None) -> bytes:
    """The stream entry's ``key`` field: ``{"id":1}`` (every primary-key column), or ``default`` when None."""
    if key is None:
        return NULL_KEY
    return orjson.dumps(key)


def encode_value(
    *,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    source: Mapping[str, Any],
    op: str,
    ts_ms: int,
    ts_us: int | None = None,
) -> bytes:
    """The stream entry's ``value`` field: the envelope with ``transaction: null``.

    ``ts_ms`` (or the more precise ``ts_us``, which wins when given) is when the collector processed the
    change, from its own clock; ``ts_us``/``ts_ns`` are derived from it. Values must already be in their
    Debezium JSON form (see :mod:`rdi.collectors.pg_types`). Deterministic: same arguments, same bytes.
    """
    if ts_us is None:
        ts_us = ts_ms * 1000
    else:
        ts_ms = ts_us // 1000
    return orjson.dumps(
        {
            "before": before,
            "after": after,
            "source": source,
            "transaction": None,
            "op": op,
            "ts_ms": ts_ms,
            "ts_us": ts_us,
            "ts_ns": ts_us * 1000,
        }
    )


def pg_source(
    *,
    server_name: str,
    db: str,
    schema: str,
    table: str,
    ts_ms: int,
    snapshot: SnapshotFlag = "false",
    tx_id: int | None,
    lsn: int | None,
    last_commit_lsn: int | None,
    version: str = CONNECTOR_VERSION,
    ts_us: int | None = None,
) -> dict[str, Any]:
    """A PostgreSQL ``source`` block (``io.debezium.connector.postgresql.Source``) as a fresh dict.

    ``ts_ms`` is the transaction's commit time (the snapshot's read time for ``r`` events); pass the
    commit's µs as ``ts_us`` to keep its precision (``ts_ms`` is then derived from it). ``sequence`` is the
    JSON-array string ``["<last commit LSN>","<this LSN>"]`` with ``null`` for an unknown element; ``xmin``
    is always null. Callers building many blocks for one table may build one and ``dict.copy()``/``update`` it.
    """
    if ts_us is None:
        ts_us = ts_ms * 1000
    else:
        ts_ms = ts_us // 1000
    return {
        "version": version,
        "connector": "postgresql",
        "name": server_name,
        "ts_ms": ts_ms,
        "snapshot": snapshot,
        "db": db,
        "sequence": pg_sequence(last_commit_lsn, lsn),
        "ts_us": ts_us,
        "ts_ns": ts_us * 1000,
        "schema": schema,
        "table": table,
        "txId": tx_id,
        "lsn": lsn,
        "xmin": None,
    }


def pg_sequence(last_commit_lsn: int | None, lsn: int | None) -> str:
    """``source.sequence``: ``'["22681000","22681576"]'`` (Jackson's compact output; ``null`` for None)."""
    first = "null" if last_commit_lsn is None else f'"{last_commit_lsn}"'
    second = "null" if lsn is None else f'"{lsn}"'
    return f"[{first},{second}]"


def mysql_source(
    *,
    server_name: str,
    db: str,
    table: str,
    ts_ms: int,
    snapshot: SnapshotFlag = "false",
    server_id: int = 0,
    gtid: str | None = None,
    file: str = "",
    pos: int = 0,
    row: int = 0,
    version: str = CONNECTOR_VERSION,
) -> dict[str, Any]:
    """A MySQL ``source`` block (``io.debezium.connector.mysql.Source``; RDI runs MariaDB with the MySQL
    connector, so ``connector`` is ``mysql`` for both) as a fresh dict.

    ``ts_ms`` is the binlog event's time (one-second resolution), the snapshot's read time for ``r`` events;
    ``file``/``pos`` the binlog coordinates of the rows event, ``row`` the row's index in it; ``gtid`` the
    transaction's GTID (None in a snapshot). ``sequence``, ``thread`` and ``query`` are null.
    """
    return {
        "version": version,
        "connector": "mysql",
        "name": server_name,
        "ts_ms": ts_ms,
        "snapshot": snapshot,
        "db": db,
        "sequence": None,
        "ts_us": ts_ms * 1000,
        "ts_ns": ts_ms * 1_000_000,
        "table": table,
        "server_id": server_id,
        "gtid": gtid,
        "file": file,
        "pos": pos,
        "row": row,
        "thread": None,
        "query": None,
    }
