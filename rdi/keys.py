"""Names of every key rdi keeps in the RDI database — the only place they are spelled (DESIGN §5).

Layout:
  * ``data:<server_name>.<schema-or-db>.<table>`` — staging stream of a table (Debezium Server Redis sink,
    ``extended`` format); a hot table may be split into ``...:<n>`` partitions by primary-key hash.
  * ``dlq:<stream>`` — rejected records of a staging stream.
  * ``metadata:debezium:offsets`` — collector positions, as Debezium's Redis offset store keeps them.
  * ``metadata:debezium:schema_history:<server_name>`` — Debezium Server's schema history of one source.
  * ``wb:<source>.<db>.<key_pattern>`` — write-behind staging stream of one tracked key pattern (the capture of
    an application Redis writes it; a distinct prefix so ingest never reads it and vice versa).
  * ``rdi:...`` — everything else of ours: consumer groups, pipeline config/status, HA lock, counters.

In a *target* Redis, beside the documents it writes, rdi keeps one thing: the rows of ``nest`` child tables,
``rdi:nest:<table>:rows|parent|kids:<parent id>`` — spelled by the Lua script in ``rdi.writers.nest``, which
must build them on the server (it walks parent links while it patches a document).

When the RDI DB is a Redis Cluster, a source's streams and its offset key must share a slot so that a
collector can write "events + position" atomically: :func:`hash_tag` gives the ``{...}`` tag to embed.
"""

from __future__ import annotations

__all__ = [
    "DEBEZIUM_OFFSETS",
    "DEBEZIUM_SCHEMA_HISTORY",
    "HA_FENCE",
    "HA_LOCK",
    "STAGING_PATTERNS",
    "STREAM_PATTERN",
    "WB_STREAM_PATTERN",
    "capture_known",
    "capture_offset",
    "collector_snapshot",
    "collector_status",
    "consumer_group",
    "dlq_stream",
    "hash_tag",
    "offset_field",
    "offset_key",
    "pipeline_config",
    "pipeline_meta",
    "pipeline_secrets",
    "pipeline_status",
    "pipelines_index",
    "processor_applied",
    "processor_consumer",
    "schema_history",
    "staging_stream",
    "stream_schema",
    "write_behind_stream",
]

STREAM_PATTERN = "data:*"
WB_STREAM_PATTERN = "wb:*"
STAGING_PATTERNS = (STREAM_PATTERN, WB_STREAM_PATTERN)
"""Every staging stream: ingest (``flows.ingest`` reads them) and write-behind (``flows.write_behind``)."""
DEBEZIUM_OFFSETS = "metadata:debezium:offsets"
DEBEZIUM_SCHEMA_HISTORY = "metadata:debezium:schema_history"
HA_LOCK = "rdi:ha:lock"
# INCR'd at every leader acquisition: the value is the new leader's fencing token.
HA_FENCE = "rdi:ha:fence"


def hash_tag(server_name: str) -> str:
    """``{<server_name>}``: keeps a source's streams and offsets in one Redis Cluster slot."""
    return "{" + server_name + "}"


def staging_stream(server_name: str, namespace: str | None, table: str, partition: int | None = None) -> str:
    """``data:<server_name>.<schema-or-db>.<table>[:<n>]``, the stream Debezium Server would write."""
    name = f"data:{server_name}.{namespace}.{table}" if namespace else f"data:{server_name}.{table}"
    return name if partition is None else f"{name}:{partition}"


def write_behind_stream(source: str, db: int, key_pattern: str) -> str:
    """``wb:<source>.<db>.<key_pattern>``: changes of the keys matching ``key_pattern`` in database ``db`` of the
    application Redis ``source`` (one stream per tracked key pattern, as RDI)."""
    return f"wb:{source}.{db}.{key_pattern}"


def capture_offset(source: str) -> str:
    """Hash ``{replid, offset, mode}`` of the write-behind capture of ``source``: ``offset`` is the last
    replication byte processed (resume with ``PSYNC <replid> <offset+1>``); ``mode`` is ``psync`` or ``keyspace``."""
    return f"rdi:capture:{source}:offset"


def capture_known(source: str) -> str:
    """Hash Redis key → JSON ``{"t": type, "v": last emitted value, "x": expire-at ms or -1}`` of the keys the
    write-behind capture of ``source`` has emitted and not deleted."""
    return f"rdi:capture:{source}:known"


def dlq_stream(stream: str) -> str:
    """``dlq:<stream>``: where records rejected while processing ``stream`` go."""
    return f"dlq:{stream}"


def offset_key(server_name: str | None = None) -> str:
    """The hash holding collector positions; per-source tagged form when ``server_name`` is given."""
    return DEBEZIUM_OFFSETS if server_name is None else f"metadata:debezium:offsets:{hash_tag(server_name)}"


def offset_field(server_name: str) -> str:
    """The offsets-hash field of one source, as Debezium Server names it: ``["redis",{"server":..}]``."""
    return '["redis",{"server":"' + server_name + '"}]'


def schema_history(server_name: str) -> str:
    """The stream Debezium Server keeps the schema history of source ``server_name`` in (MySQL, MariaDB, SQL
    Server, Oracle, Db2): one per source, as two sources replaying each other's DDL would break both."""
    return f"{DEBEZIUM_SCHEMA_HISTORY}:{server_name}"


def collector_snapshot(source: str) -> str:
    """Hash of a collector's snapshot progress: one field per table (chunk, rows, last key) plus its state."""
    return f"rdi:collector:{source}:snapshot"


def collector_status(source: str) -> str:
    """Status hash of the collector of ``source``: phase, snapshot progress, last position, ``updated_at``."""
    return f"rdi:collector:{source}:status"


def consumer_group(pipeline: str = "default") -> str:
    """Consumer group the processor of ``pipeline`` reads staging streams with."""
    return f"rdi:processor:{pipeline}"


def processor_consumer(stream: str) -> str:
    """The consumer (of the pipeline's group) that reads ``stream``: one per stream, stable across restarts
    and rescaling, so a restarted processor finds its pending entries wherever the stream is now read."""
    return f"rdi:consumer:{stream}"


def stream_schema(stream: str) -> str:
    """Hash of column name → Debezium column type (JSON) of the table ``stream`` carries, written by our
    collectors (events have schemas disabled, so the processor needs this to apply the RDI type table)."""
    return f"rdi:schema:{stream}"


def pipeline_config(pipeline: str = "default") -> str:
    return f"rdi:pipeline:{pipeline}:config"


def pipeline_status(pipeline: str = "default") -> str:
    return f"rdi:pipeline:{pipeline}:status"


def pipelines_index() -> str:
    """Set of the names of the deployed pipelines."""
    return "rdi:pipelines"


def pipeline_meta(pipeline: str = "default") -> str:
    """Hash of a deployment: ``version``, ``active``, ``reset``, ``deployed_at_ms``, ``updated_at_ms``."""
    return f"rdi:pipeline:{pipeline}:meta"


def pipeline_secrets(pipeline: str = "default") -> str:
    """Hash of secret NAME → Fernet token; the key is never stored in the RDI DB."""
    return f"rdi:pipeline:{pipeline}:secrets"


def processor_applied(pipeline: str = "default") -> str:
    """Hash of Bytewax process id → ``<version> <pid>``: the deployed version whose jobs that processor process
    applies now (written by the processor when it loads or hot-reloads jobs; read by the controller, which trusts
    it only from the PID it started, for ``observed_version``)."""
    return f"rdi:pipeline:{pipeline}:applied"
