"""Dead-letter queues as RDI's API shows them: ``dlq:data:<server>.<schema>.<table>`` streams named
``<server>.<schema>.<table>``, their counts, and their records with paging and a field projection.

Entries are the processor's (:func:`rdi.processor.dlq_fields`): ``key``, ``value`` (the original staging entry),
``reason_rejected``, ``source_stream``, ``source_id``, ``rejected_at_ms`` and, when known, ``opcode``, ``db``,
``schema``, ``table``, ``job``.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
import redis

from rdi import keys

__all__ = ["DLQ_FIELDS", "dlq_counts", "dlq_records", "dlq_stream_of"]

DLQ_FIELDS = (
    "__dlq_stream_entry_id",
    "db",
    "opcode",
    "reason_rejected",
    "removed_fields",
    "schema",
    "server_name",
    "source",
    "source_type",
    "table",
    "timestamp",
)
_PREFIX = keys.dlq_stream(keys.STREAM_PATTERN.removesuffix("*"))  # "dlq:data:"
_WB_PREFIX = keys.dlq_stream(keys.WB_STREAM_PATTERN.removesuffix("*"))  # "dlq:wb:"


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def dlq_stream_of(name: str) -> str:
    """The DLQ stream of RDI's full table name ``<server>.<schema>.<table>``, or of a write-behind stream named
    as it is (``wb:<source>.<db>.<key pattern>``)."""
    return keys.dlq_stream(name) if name.startswith(_WB_PREFIX.removeprefix("dlq:")) else _PREFIX + name


def dlq_counts(client: redis.Redis) -> dict[str, int]:
    """DLQ name (see :func:`dlq_stream_of`) → entries in it, for every DLQ stream in the RDI DB (sorted by name)."""
    counts = {}
    for prefix, strip in ((_PREFIX, _PREFIX), (_WB_PREFIX, "dlq:")):
        for raw in client.scan_iter(match=prefix + "*", count=1000, _type="STREAM"):
            stream = _text(raw)
            counts[stream.removeprefix(strip)] = int(client.xlen(stream))
    return dict(sorted(counts.items()))


def dlq_records(
    client: redis.Redis,
    name: str,
    *,
    limit: int = 20,
    offset: int = 0,
    sort_order: Literal["asc", "desc"] = "desc",
    fields: list[str] | None = None,
) -> list[dict[str, Any]] | None:
    """Records ``offset`` to ``offset + limit`` of one DLQ, newest first for ``desc``; None when it does not exist.

    ``fields`` keeps only those of :data:`DLQ_FIELDS` (all when None).
    """
    stream = dlq_stream_of(name)
    if not client.exists(stream):
        return None
    count = offset + limit
    entries: Any = client.xrevrange(stream, count=count) if sort_order == "desc" else client.xrange(stream, count=count)
    records = [_record(name, _text(entry_id), raw) for entry_id, raw in entries[offset:count]]
    if fields is None:
        return records
    return [{f: r[f] for f in fields if f in r} for r in records]


def _record(name: str, entry_id: str, raw: dict[Any, Any]) -> dict[str, Any]:
    entry = {_text(k): _text(v) for k, v in raw.items()}
    value = _json(entry.get("value", ""))
    source = value.get("source") if isinstance(value, dict) else None
    source = source if isinstance(source, dict) else {}
    return {
        "__dlq_stream_entry_id": entry_id,
        "db": entry.get("db") or source.get("db"),
        "opcode": entry.get("opcode") or (value.get("op") if isinstance(value, dict) else None),
        "reason_rejected": entry.get("reason_rejected", ""),
        "removed_fields": [],
        "schema": entry.get("schema") or source.get("schema"),
        "server_name": source.get("name") or name.partition(".")[0],
        "source": {"key": _json(entry.get("key", "")), "value": value},
        "source_type": source.get("connector"),
        "table": entry.get("table") or source.get("table"),
        "timestamp": _ms(entry.get("rejected_at_ms") or entry_id.split("-")[0]),
        "job": entry.get("job"),
        "source_stream": entry.get("source_stream"),
        "source_id": entry.get("source_id"),
    }


def _ms(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def _json(text: str) -> Any:
    if not text:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
