"""The column types of each staging stream, kept in the RDI database by the collectors for the processor.

Staging events have schemas disabled (RDI's setting), so an event alone does not say that a number is a
``date`` (days → epoch ms) or that a string is ``jsonb`` text (→ parsed). Our collectors therefore publish the
Debezium type of every captured column in the hash :func:`rdi.keys.stream_schema` of each stream: field =
column name, value = :meth:`ColumnType.to_json` (``{"type": …, "name": …, "scale": …}``). A collector
publishes a table's types before it stages that table's events, and again after DDL; the processor reads them
through :class:`StreamTypes` and passes them to :func:`rdi.events.decode_event` as ``types``.

The hash describes the table as the collector saw it last; entries staged before a DDL are decoded with the
types after it. Adding or dropping columns is harmless (a type for an absent column is not used); changing a
column's type may make older entries of that column decode differently.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import redis
from redis.client import Pipeline

from rdi import keys
from rdi.errors import FatalError
from rdi.events.types import ColumnType

__all__ = ["PUBLISH_SCRIPT", "StreamTypes", "publish_types", "read_types"]

# KEYS[1] the schema hash; ARGV: column, type JSON, column, type JSON, ...
# Deletes the fields not in ARGV and sets the others, atomically: a reader never sees a half-updated hash.
PUBLISH_SCRIPT = """\
local keep = {}
for i = 1, #ARGV, 2 do keep[ARGV[i]] = true end
local gone = {}
for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
  if not keep[f] then gone[#gone + 1] = f end
end
for i = 1, #gone, 500 do
  redis.call('HDEL', KEYS[1], unpack(gone, i, math.min(i + 499, #gone)))
end
for i = 1, #ARGV, 1000 do
  redis.call('HSET', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
return #gone
"""


def publish_types(pipe_or_client: redis.Redis | Pipeline, stream: str, types: Mapping[str, ColumnType]) -> None:
    """Make the schema hash of ``stream`` hold exactly ``types``: set every column, delete the others.

    One atomic script call (``EVAL``), so readers see the old or the new map, never a mix. With a pipeline
    the call is queued (the caller executes it); with a client it runs now. Idempotent. An empty ``types``
    deletes the hash (:func:`read_types` then gives ``None``). Raises what the Redis client raises.
    """
    args: list[str | bytes] = []
    for column, ctype in types.items():
        args += (column, ctype.to_json())
    pipe_or_client.eval(PUBLISH_SCRIPT, 1, keys.stream_schema(stream), *args)


def read_types(client: redis.Redis, stream: str) -> dict[str, ColumnType] | None:
    """The column types published for ``stream``, by column name; ``None`` when nothing is published.

    ``client`` may decode responses or not. Raises :class:`FatalError` (one line, naming the key and field)
    when a stored value is not a column type — only a foreign writer can cause that — and what the Redis
    client raises.
    """
    key = keys.stream_schema(stream)
    raw: Mapping[Any, Any] = client.hgetall(key)
    if not raw:
        return None
    types: dict[str, ColumnType] = {}
    for field, value in raw.items():
        column = field.decode() if isinstance(field, bytes) else str(field)
        try:
            types[column] = ColumnType.from_json(value)
        except ValueError as exc:
            msg = f"`{key}` field `{column}`: {exc}; the stream's collector rewrites it when it restarts"
            raise FatalError(msg) from exc
    return types


class StreamTypes:
    """The processor's cache of :func:`read_types`: each stream's hash is read at most once every ``ttl_s``.

    ``clock`` (monotonic seconds) is the cache's only notion of time. Not thread-safe (one per worker).
    """

    def __init__(self, client: redis.Redis, ttl_s: float = 5.0, *, clock: Callable[[], float] = time.monotonic) -> None:
        if ttl_s < 0:
            msg = f"`ttl_s` must be zero or more, got {ttl_s} instead"
            raise ValueError(msg)
        self._client = client
        self._ttl = ttl_s
        self._clock = clock
        self._cached: dict[str, tuple[float, Mapping[str, ColumnType] | None]] = {}

    def get(self, stream: str) -> Mapping[str, ColumnType] | None:
        """The column types of ``stream`` (``None``: none published), at most ``ttl_s`` old.

        Raises what :func:`read_types` raises (the next call reads again).
        """
        now = self._clock()
        hit = self._cached.get(stream)
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        types = read_types(self._client, stream)
        self._cached[stream] = (now, types)
        return types

    def invalidate(self, stream: str | None = None) -> None:
        """Forget ``stream`` (every stream when ``None``): the next :meth:`get` reads Redis."""
        if stream is None:
            self._cached.clear()
        else:
            self._cached.pop(stream, None)
