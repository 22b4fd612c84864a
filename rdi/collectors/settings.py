"""A collector's settings, read from its `sources.<name>` entry (rdi-compat-spec §1.4) with RDI's defaults.

Pure. Debezium connector properties live in `advanced.source` (without the `debezium.source.` prefix) and
Redis-sink properties in `advanced.sink`; rdi's own extensions use the `rdi.` prefix there:
`rdi.partitions` (N staging streams per table, by primary-key hash; default 1), `rdi.partitions.<schema>.<table>`
(per table), `rdi.snapshot.chunk.size` (rows per snapshot chunk, 10 000), `rdi.snapshot.parallelism` (tables read
at once, from `snapshot.max.threads`, default 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from rdi.config.sources import Source, SqlSourceConnection, TableSpec
from rdi.errors import ConfigError, ConfigIssue

__all__ = ["PgCollectorSettings", "PublicationMode", "SnapshotMode", "TableSelection"]

PublicationMode: TypeAlias = Literal["all_tables", "filtered", "disabled"]
SnapshotMode: TypeAlias = Literal["initial", "never", "initial_only", "no_data", "always"]


@dataclass(frozen=True, slots=True)
class TableSelection:
    """One configured table: `schema` may be None when the config names a bare table."""

    schema: str | None
    table: str
    spec: TableSpec | None


@dataclass(frozen=True, slots=True)
class PgCollectorSettings:
    source: str
    server_name: str
    host: str
    port: int
    database: str
    user: str | None
    password: str | None = field(repr=False)
    schemas: tuple[str, ...] | None
    tables: tuple[TableSelection, ...] | None
    slot: str = "debezium"
    publication: str = "dbz_publication"
    publication_mode: PublicationMode = "all_tables"
    snapshot_mode: SnapshotMode = "initial"
    heartbeat_interval_ms: int = 0
    heartbeat_query: str | None = None
    chunk_size: int = 10_000
    parallelism: int = 1
    partitions: int = 1
    table_partitions: Mapping[str, int] = field(default_factory=dict)
    memory_limit_mb: int = 0
    memory_threshold_pct: int = 85
    placeholder: str = "__debezium_unavailable_value"

    @classmethod
    def from_source(cls, name: str, source: Source) -> PgCollectorSettings:
        """Raises ``ConfigError`` (field paths under `sources.<name>`) for a source this collector can't run."""
        conn = source.connection
        if not isinstance(conn, SqlSourceConnection) or conn.type != "postgresql":
            kind = getattr(conn, "type", None)
            raise _issue(name, "connection.type", f"the PostgreSQL collector needs `postgresql`, got `{kind}`")
        if not conn.database:
            raise _issue(name, "connection.database", "missing required key `database`")
        adv = dict((source.advanced.source if source.advanced and source.advanced.source else {}) or {})
        sink = dict((source.advanced.sink if source.advanced and source.advanced.sink else {}) or {})

        def text(key: str, default: str) -> str:
            return str(adv.get(key, default))

        def number(props: Mapping[str, object], key: str, default: int, section: str) -> int:
            value = props.get(key, default)
            try:
                return int(str(value))
            except ValueError:
                raise _issue(name, f"advanced.{section}.{key}", f"expected an integer, got {value!r}") from None

        mode = text("publication.autocreate.mode", "all_tables")
        if mode not in ("all_tables", "filtered", "disabled"):
            raise _issue(name, "advanced.source.publication.autocreate.mode",
                         f"'{mode}' is not one of all_tables, filtered, disabled")  # fmt: skip
        snapshot = text("snapshot.mode", "initial")
        if snapshot not in ("initial", "never", "initial_only", "no_data", "always"):
            raise _issue(name, "advanced.source.snapshot.mode",
                         f"'{snapshot}' is not one of initial, never, initial_only, no_data, always")  # fmt: skip
        prefix = "rdi.partitions."
        table_partitions = {k[len(prefix) :]: number(adv, k, 1, "source") for k in adv if k.startswith(prefix)}
        tables = None
        if source.tables:
            tables = tuple(_selection(t, spec) for t, spec in source.tables.items())
        return cls(
            source=name,
            server_name=text("topic.prefix", name),
            host=conn.host,
            port=int(conn.port),
            database=conn.database,
            user=conn.user,
            password=conn.password.get_secret_value() if conn.password else None,
            schemas=tuple(source.schemas) if source.schemas else None,
            tables=tables,
            slot=text("slot.name", "debezium"),
            publication=text("publication.name", "dbz_publication"),
            publication_mode=mode,  # type: ignore[arg-type]
            snapshot_mode=snapshot,  # type: ignore[arg-type]
            heartbeat_interval_ms=number(adv, "heartbeat.interval.ms", 0, "source"),
            heartbeat_query=str(adv["heartbeat.action.query"]) if "heartbeat.action.query" in adv else None,
            chunk_size=number(adv, "rdi.snapshot.chunk.size", 10_000, "source"),
            parallelism=max(1, number(adv, "snapshot.max.threads", 1, "source")),
            partitions=max(1, number(adv, "rdi.partitions", 1, "source")),
            table_partitions=table_partitions,
            memory_limit_mb=number(sink, "redis.memory.limit.mb", 0, "sink"),
            memory_threshold_pct=number(sink, "redis.memory.threshold.percentage", 85, "sink"),
            placeholder=text("unavailable.value.placeholder", "__debezium_unavailable_value"),
        )

    def dsn(self, **options: str) -> str:
        """A libpq connection string; ``options`` become ``-c name=value`` session settings."""
        from psycopg.conninfo import make_conninfo  # local: keeps this module importable without psycopg

        opts = " ".join(f"-c {k}={v}" for k, v in options.items())
        return make_conninfo(
            host=self.host, port=self.port, dbname=self.database, user=self.user or "", password=self.password or "",
            options=opts, application_name=f"rdi-collector-{self.source}",
        )  # fmt: skip

    def partitions_of(self, schema: str, table: str) -> int:
        return self.table_partitions.get(f"{schema}.{table}", self.partitions)


def _selection(name: str, spec: TableSpec | None) -> TableSelection:
    schema, dot, table = name.partition(".")
    return TableSelection(schema, table, spec) if dot else TableSelection(None, name, spec)


def _issue(source: str, path: str, message: str) -> ConfigError:
    return ConfigError([ConfigIssue("config.yaml", 0, f"sources.{source}.{path}", message)])
