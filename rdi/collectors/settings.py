"""A collector's settings, read from its `sources.<name>` entry (rdi-compat-spec §1.4) with RDI's defaults.

Pure. Debezium connector properties live in `advanced.source` (without the `debezium.source.` prefix) and
Redis-sink properties in `advanced.sink`; rdi's own extensions use the `rdi.` prefix there:
`rdi.partitions` (N staging streams per table, by primary-key hash; default 1), `rdi.partitions.<schema>.<table>`
(per table), `rdi.snapshot.chunk.size` (rows per snapshot chunk, 10 000), `rdi.snapshot.parallelism` (tables read
at once, from `snapshot.max.threads`, default 1).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias
from urllib.parse import unquote, urlsplit

from rdi.config.sources import Source, SqlSourceConnection, TableSpec
from rdi.errors import ConfigError, ConfigIssue

__all__ = [
    "LEGACY_CAPTURE_SOURCE",
    "OWN_KEY_PREFIXES",
    "BigintUnsignedMode",
    "CaptureMode",
    "CapturePattern",
    "DecimalMode",
    "MySqlCollectorSettings",
    "MySqlFlavor",
    "PgCollectorSettings",
    "PublicationMode",
    "RedisCaptureSettings",
    "SnapshotMode",
    "TableSelection",
    "capture_patterns",
]

PublicationMode: TypeAlias = Literal["all_tables", "filtered", "disabled"]
SnapshotMode: TypeAlias = Literal["initial", "never", "initial_only", "no_data", "always"]
MySqlFlavor: TypeAlias = Literal["mysql", "mariadb"]
DecimalMode: TypeAlias = Literal["string", "precise", "double"]
BigintUnsignedMode: TypeAlias = Literal["precise", "long"]


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


@dataclass(frozen=True, slots=True)
class MySqlCollectorSettings:
    """A MySQL or MariaDB source (`connection.type: mysql | mariadb`).

    Databases captured: `databases`, else `schemas`, else `connection.database`, else every non-system database.
    Debezium properties read from `advanced.source`: `topic.prefix`, `database.server.id` (default: a stable
    number in 5400–6399 derived from the server name, like Debezium's random default but the same on every start),
    `snapshot.mode`, `decimal.handling.mode` (RDI: `string`), `bigint.unsigned.handling.mode` (rdi default
    `precise`: the exact value as a JSON number; Debezium's `long` wraps values above 2^63−1 to negative),
    `heartbeat.interval.ms`, `connect.timeout.ms`; rdi's `rdi.snapshot.chunk.size` and `rdi.partitions[.<db>.<table>]`.
    """

    source: str
    flavor: MySqlFlavor
    server_name: str
    host: str
    port: int
    user: str | None
    password: str | None = field(repr=False)
    databases: tuple[str, ...] | None
    tables: tuple[TableSelection, ...] | None
    server_id: int = 5400
    snapshot_mode: SnapshotMode = "initial"
    decimal_mode: DecimalMode = "string"
    bigint_unsigned_mode: BigintUnsignedMode = "precise"
    heartbeat_interval_ms: int = 0
    connect_timeout_s: float = 30.0
    chunk_size: int = 10_000
    partitions: int = 1
    table_partitions: Mapping[str, int] = field(default_factory=dict)
    memory_limit_mb: int = 0
    memory_threshold_pct: int = 85

    @classmethod
    def from_source(cls, name: str, source: Source) -> MySqlCollectorSettings:
        """Raises ``ConfigError`` (field paths under `sources.<name>`) for a source this collector can't run."""
        conn = source.connection
        if not isinstance(conn, SqlSourceConnection) or conn.type not in ("mysql", "mariadb"):
            kind = getattr(conn, "type", None)
            raise _issue(name, "connection.type", f"the MySQL collector needs `mysql` or `mariadb`, got `{kind}`")
        adv = dict((source.advanced.source if source.advanced and source.advanced.source else {}) or {})
        sink = dict((source.advanced.sink if source.advanced and source.advanced.sink else {}) or {})

        def number(props: Mapping[str, object], key: str, default: int, section: str) -> int:
            value = props.get(key, default)
            try:
                return int(str(value))
            except ValueError:
                raise _issue(name, f"advanced.{section}.{key}", f"expected an integer, got {value!r}") from None

        def choice(key: str, default: str, allowed: tuple[str, ...]) -> str:
            value = str(adv.get(key, default))
            if value not in allowed:
                raise _issue(name, f"advanced.source.{key}", f"'{value}' is not one of {', '.join(allowed)}")
            return value

        server_name = str(adv.get("topic.prefix", name))
        snapshot = choice("snapshot.mode", "initial", ("initial", "never", "initial_only", "no_data", "always"))
        databases = source.databases or source.schemas or ([conn.database] if conn.database else None)
        prefix = "rdi.partitions."
        table_partitions = {k[len(prefix) :]: number(adv, k, 1, "source") for k in adv if k.startswith(prefix)}
        tables = tuple(_selection(t, spec) for t, spec in source.tables.items()) if source.tables else None
        server_id = number(adv, "database.server.id", 5400 + zlib.crc32(server_name.encode()) % 1000, "source")
        if not 0 < server_id < 2**32:
            message = f"must be between 1 and 4294967295, got {server_id}"
            raise _issue(name, "advanced.source.database.server.id", message)
        return cls(
            source=name,
            flavor=conn.type,
            server_name=server_name,
            host=conn.host,
            port=int(conn.port),
            user=conn.user,
            password=conn.password.get_secret_value() if conn.password else None,
            databases=tuple(databases) if databases else None,
            tables=tables,
            server_id=server_id,
            snapshot_mode=snapshot,  # type: ignore[arg-type]
            decimal_mode=choice("decimal.handling.mode", "string", ("string", "precise", "double")),  # type: ignore[arg-type]
            bigint_unsigned_mode=choice("bigint.unsigned.handling.mode", "precise", ("precise", "long")),  # type: ignore[arg-type]
            heartbeat_interval_ms=number(adv, "heartbeat.interval.ms", 0, "source"),
            connect_timeout_s=number(adv, "connect.timeout.ms", 30_000, "source") / 1000,
            chunk_size=max(1, number(adv, "rdi.snapshot.chunk.size", 10_000, "source")),
            partitions=max(1, number(adv, "rdi.partitions", 1, "source")),
            table_partitions=table_partitions,
            memory_limit_mb=number(sink, "redis.memory.limit.mb", 0, "sink"),
            memory_threshold_pct=number(sink, "redis.memory.threshold.percentage", 85, "sink"),
        )

    def connect_args(self) -> dict[str, Any]:
        """`pymysql.connect` keyword arguments (no database selected; every query names its tables)."""
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user or "",
            "password": self.password or "",
            "connect_timeout": self.connect_timeout_s,
            "charset": "utf8mb4",
        }

    def partitions_of(self, database: str, table: str) -> int:
        return self.table_partitions.get(f"{database}.{table}", self.partitions)


def _selection(name: str, spec: TableSpec | None) -> TableSelection:
    schema, dot, table = name.partition(".")
    return TableSelection(schema, table, spec) if dot else TableSelection(None, name, spec)


def _issue(source: str, path: str, message: str) -> ConfigError:
    return ConfigError([ConfigIssue("config.yaml", 0, f"sources.{source}.{path}", message)])


CaptureMode: TypeAlias = Literal["auto", "psync", "keyspace"]

LEGACY_CAPTURE_SOURCE = "rdi"
"""The source name the controller gives the capture of a legacy write-behind pipeline (`connections:`, no Redis
source), which captures the RDI DB itself: its offsets, known keys and streams are named after it."""
OWN_KEY_PREFIXES = ("data:", "wb:", "dlq:", "rdi:", "metadata:")
"""Keys of rdi's own in an RDI DB: never captured when the application Redis is the RDI DB (legacy form)."""


@dataclass(frozen=True, slots=True)
class CapturePattern:
    """One tracked key pattern and the commands that do not trigger an emission for it (lower-case)."""

    pattern: str
    exclude: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class RedisCaptureSettings:
    """The write-behind capture of an application Redis (`sources.<name>` with a `type: redis` connection).

    Patterns: `source.redis.key_pattern` of every write-behind job that belongs to this source — every one when
    the pipeline has a single Redis source, else those whose `source.server_name` names it. A pattern's
    `exclude_commands` is what all of its jobs exclude. rdi's own settings in `advanced.source`:
    `rdi.capture` (`auto`: follow the replication stream, falling back to keyspace notifications when the server
    refuses replication; `psync`; `keyspace`), `rdi.capture.db` (database captured, 0),
    `rdi.capture.reconcile.interval.s` (keyspace mode: full reconciliation period, 60), `rdi.capture.chunk.keys`
    (keys read and written per atomic write, 1000).
    """

    source: str
    host: str
    port: int
    user: str | None
    password: str | None = field(repr=False)
    patterns: tuple[CapturePattern, ...]
    db: int = 0
    mode: CaptureMode = "auto"
    reconcile_interval_s: float = 60.0
    chunk_keys: int = 1000
    cacert: str | None = None
    cert: str | None = None
    key: str | None = field(default=None, repr=False)
    key_password: str | None = field(default=None, repr=False)
    tls: bool = False  # TLS without client certificates (`rediss://`); `cacert`/`cert` imply it
    own_keys_excluded: bool = False  # the application Redis is the RDI DB

    @classmethod
    def from_source(
        cls, name: str, source: Source, jobs: Mapping[str, Any], *, redis_sources: int = 1
    ) -> RedisCaptureSettings:
        """Raises ``ConfigError`` (field paths under `sources.<name>`) for settings the capture can't use.
        ``jobs`` maps job name → :class:`rdi.config.job.Job`; ``redis_sources`` counts the pipeline's Redis
        sources (with more than one, a job must name its source in `source.server_name`)."""
        from rdi.config.targets import RedisConnection

        conn = source.connection
        if not isinstance(conn, RedisConnection):
            kind = getattr(conn, "type", None)
            raise _issue(name, "connection.type", f"the write-behind capture needs `redis`, got `{kind}`")
        adv = dict((source.advanced.source if source.advanced and source.advanced.source else {}) or {})

        def number(key: str, default: float) -> float:
            value = adv.get(key, default)
            try:
                return float(str(value))
            except ValueError:
                raise _issue(name, f"advanced.source.{key}", f"expected a number, got {value!r}") from None

        mode = str(adv.get("rdi.capture", "auto"))
        if mode not in ("auto", "psync", "keyspace"):
            raise _issue(name, "advanced.source.rdi.capture", f"'{mode}' is not one of auto, psync, keyspace")
        return cls(
            source=name,
            host=conn.host,
            port=int(conn.port),
            user=conn.user,
            password=conn.password.get_secret_value() if conn.password else None,
            patterns=capture_patterns(jobs, name if redis_sources > 1 else None),
            db=int(number("rdi.capture.db", 0)),
            mode=mode,  # type: ignore[arg-type]
            reconcile_interval_s=max(0.1, number("rdi.capture.reconcile.interval.s", 60.0)),
            chunk_keys=max(1, int(number("rdi.capture.chunk.keys", 1000))),
            cacert=conn.cacert,
            cert=conn.cert,
            key=conn.key,
            key_password=conn.key_password.get_secret_value() if conn.key_password else None,
        )

    @classmethod
    def for_rdi_db(cls, name: str, rdi_url: str, jobs: Mapping[str, Any]) -> RedisCaptureSettings:
        """The legacy form (`connections:`, no Redis source): the application Redis is the RDI DB at ``rdi_url``
        (as RDI's Gears engine ran inside the application database); rdi's own keys are never captured."""
        url = urlsplit(rdi_url)
        path = url.path.strip("/")
        return cls(
            source=name,
            host=url.hostname or "localhost",
            port=url.port or 6379,
            user=unquote(url.username) if url.username else None,
            password=unquote(url.password) if url.password else None,
            patterns=capture_patterns(jobs, None),
            db=int(path) if path.isdigit() else 0,
            tls=url.scheme == "rediss",
            own_keys_excluded=True,
        )


def capture_patterns(jobs: Mapping[str, Any], source: str | None) -> tuple[CapturePattern, ...]:
    """The key patterns of the write-behind jobs (of ``source`` when given: jobs naming it in
    `source.server_name`), in job-name order; a pattern's exclusions are those all of its jobs share."""
    found: dict[str, frozenset[str] | None] = {}
    for _, job in sorted(jobs.items()):
        spec = job.source.redis
        if spec is None or (source is not None and job.source.server_name != source):
            continue
        exclude = frozenset(c.lower() for c in spec.exclude_commands)
        seen = found.get(spec.key_pattern)
        found[spec.key_pattern] = exclude if seen is None else seen & exclude
    return tuple(CapturePattern(p, e or frozenset()) for p, e in found.items())
