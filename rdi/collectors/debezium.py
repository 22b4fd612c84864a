"""Debezium Server's ``application.properties`` for a `sources.<name>` entry, with RDI's defaults (pure).

:func:`debezium_properties` maps the source (connection, include lists, `tables`, `advanced`) to an ordered
property map; :func:`render_properties` writes it as a properties file. Secrets never reach the file: every
value that is a secret field (`password`, `connection_string`, …) or holds a `${NAME}` reference is written as
the expression ``${DEBEZIUM_SOURCE_DATABASE_PASSWORD}`` (the property name in Quarkus' environment-variable
form), and the value *as written in config.yaml* goes to :attr:`DebeziumConfig.secret_env` under that name;
the process that starts Debezium Server resolves it into the child's environment only.

RDI's defaults (rdi-compat-spec §1.4, cdc-notes §2.6): Redis sink with ``message.format=extended``, streams
``data:<topic>`` (a RegexRouter transform), key/value converters without schemas, ``decimal.handling.mode=
string``, no tombstones and no schema-change events, offsets (``RedisOffsetBackingStore``) and schema history
(``RedisSchemaHistory``) in the RDI database under :data:`rdi.keys.DEBEZIUM_OFFSETS` (one field per source)
and :func:`rdi.keys.schema_history` (one stream per source), ``memory.limit.mb=80``.
`advanced.source|sink|quarkus` override any of them (``rdi.*`` keys of `advanced.source` are rdi's
native-collector settings and are left out).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import unquote, urlsplit

from pydantic import SecretStr

from rdi import keys
from rdi.config._types import REFERENCE
from rdi.config.sources import MongoConnection, Source, SqlSourceConnection, TableSpec
from rdi.errors import ConfigError, ConfigIssue

__all__ = [
    "CONNECTOR_CLASSES",
    "DebeziumConfig",
    "debezium_properties",
    "env_name",
    "render_properties",
]

CONNECTOR_CLASSES: Final[Mapping[str, str]] = {
    "postgresql": "io.debezium.connector.postgresql.PostgresConnector",
    "mysql": "io.debezium.connector.mysql.MySqlConnector",
    "mariadb": "io.debezium.connector.mariadb.MariaDbConnector",
    "sqlserver": "io.debezium.connector.sqlserver.SqlServerConnector",
    "oracle": "io.debezium.connector.oracle.OracleConnector",
    "db2": "io.debezium.connector.db2.Db2Connector",
    "mongodb": "io.debezium.connector.mongodb.MongoDbConnector",
}
"""Debezium connector class per `connection.type`."""

_SCHEMA_HISTORY: Final = frozenset({"mysql", "mariadb", "sqlserver", "oracle", "db2"})
_BY_DATABASE: Final = frozenset({"mysql", "mariadb", "mongodb"})  # tables are `<db>.<table>`, include list of dbs
_LOG_LEVELS: Final = {"trace": "TRACE", "debug": "DEBUG", "info": "INFO", "warn": "WARN", "error": "ERROR"}


@dataclass(frozen=True, slots=True)
class DebeziumConfig:
    """What Debezium Server needs for one source.

    ``properties``: property → value, in file order, free of secrets. ``secret_env``: environment variable →
    value as written in config.yaml (a literal or text with ``${NAME}`` references, resolved by the caller).
    ``java_options``: `advanced.java_options` (the child's ``JAVA_OPTS``), or None.
    """

    properties: dict[str, str]
    secret_env: dict[str, str] = field(default_factory=dict, repr=False)
    java_options: str | None = None


def env_name(prop: str) -> str:
    """The environment-variable form of a property, as MicroProfile Config maps it: ``debezium.source.x-y`` →
    ``DEBEZIUM_SOURCE_X_Y``."""
    return re.sub(r"[^A-Za-z0-9]", "_", prop).upper()


def debezium_properties(name: str, source: Source, rdi_url: str) -> DebeziumConfig:
    """The Debezium Server configuration of source ``name``, writing to the RDI database at ``rdi_url``.

    ``source`` may be validated with references kept (``resolve_secrets=False``) or resolved; either way no
    secret value lands in ``properties``. Deterministic. Raises ``ConfigError`` (paths under `sources.<name>`)
    for a source Debezium Server can't capture (no `connection`, or a type without a connector).
    """
    conn = source.connection
    if not isinstance(conn, SqlSourceConnection | MongoConnection) or conn.type not in CONNECTOR_CLASSES:
        raise _issue(name, "connection.type", f"Debezium Server has no connector for `{getattr(conn, 'type', None)}`")
    kind: str = conn.type
    out = _Builder()
    adv = source.advanced
    advanced_source = dict(adv.source or {}) if adv else {}
    topic = str(advanced_source.get("topic.prefix", name))

    out.sink("type", "redis")
    _sink_connection(out, rdi_url, name, kind)
    out.sink("redis.message.format", "extended")
    out.sink("redis.memory.limit.mb", "80")

    out.source("connector.class", CONNECTOR_CLASSES[kind])
    out.source("topic.prefix", topic)
    if isinstance(conn, SqlSourceConnection):
        out.source("database.hostname", conn.host)
        out.source("database.port", str(conn.port))
        if conn.user is not None:
            out.secret_or_plain("debezium.source.database.user", conn.user)
        if conn.password is not None:
            out.secret("debezium.source.database.password", conn.password)
        if conn.database and kind == "sqlserver":
            out.source("database.names", conn.database)
        elif conn.database and kind not in _BY_DATABASE:
            out.source("database.dbname", conn.database)
    else:
        out.secret("debezium.source.mongodb.connection.string", conn.connection_string)
        if conn.user is not None:
            out.secret_or_plain("debezium.source.mongodb.user", conn.user)
        if conn.password is not None:
            out.secret("debezium.source.mongodb.password", conn.password)
    if kind == "postgresql":
        out.source("plugin.name", "pgoutput")
    if kind in ("mysql", "mariadb"):
        out.source("database.server.id", str(5400 + zlib.crc32(topic.encode()) % 1000))

    out.source("offset.storage", "io.debezium.storage.redis.offset.RedisOffsetBackingStore")
    out.source("offset.storage.redis.key", keys.DEBEZIUM_OFFSETS)
    out.source("offset.flush.interval.ms", "1000")
    if kind in _SCHEMA_HISTORY:
        out.source("schema.history.internal", "io.debezium.storage.redis.history.RedisSchemaHistory")
        out.source("schema.history.internal.redis.key", keys.schema_history(topic))
        out.source("schema.history.internal.store.only.captured.tables.ddl", "true")
    out.source("include.schema.changes", "false")
    out.source("tombstones.on.delete", "false")
    out.source("skip.messages.without.change", "true")
    if kind != "mongodb":
        out.source("decimal.handling.mode", "string")
    out.source("key.converter.schemas.enable", "false")
    out.source("value.converter.schemas.enable", "false")
    out.put("debezium.format.key.schemas.enable", "false")
    out.put("debezium.format.value.schemas.enable", "false")

    _include_lists(out, source, kind, conn)
    _tables(out, name, source, kind, conn)

    out.put("debezium.transforms", "AddPrefix")
    out.put("debezium.transforms.AddPrefix.type", "org.apache.kafka.connect.transforms.RegexRouter")
    out.put("debezium.transforms.AddPrefix.regex", ".*")
    out.put("debezium.transforms.AddPrefix.replacement", "data:$0")

    out.put("quarkus.log.level", _LOG_LEVELS[source.logging.level])
    out.put("quarkus.log.console.json.enabled", "false")
    out.put("quarkus.log.console.format", "%-5p [%c{2.}] (%t) %s%e%n")  # rdi's log line carries the time
    out.put("quarkus.http.port", "8088")

    if adv is not None:
        for key, value in (adv.source or {}).items():
            if not key.startswith("rdi."):
                out.secret_or_plain(f"debezium.source.{key}", value)
        for key, value in (adv.sink or {}).items():
            out.secret_or_plain(f"debezium.sink.{key}", value)
        for key, value in (adv.quarkus or {}).items():
            out.secret_or_plain(f"quarkus.{key}", value)
    return DebeziumConfig(out.props, out.env, adv.java_options if adv else None)


def render_properties(properties: Mapping[str, str]) -> str:
    """A ``.properties`` file of ``properties`` in order (keys and values escaped; ends with a newline)."""
    lines = ["# Generated by rdi from config.yaml; secrets are ${...} environment references."]
    lines += [f"{_escape(k, key=True)}={_escape(v, key=False)}" for k, v in properties.items()]
    return "\n".join(lines) + "\n"


class _Builder:
    def __init__(self) -> None:
        self.props: dict[str, str] = {}
        self.env: dict[str, str] = {}

    def put(self, prop: str, value: str) -> None:
        self.props[prop] = value
        self.env.pop(env_name(prop), None)

    def source(self, prop: str, value: str) -> None:
        self.secret_or_plain(f"debezium.source.{prop}", value)

    def sink(self, prop: str, value: str) -> None:
        self.secret_or_plain(f"debezium.sink.{prop}", value)

    def secret(self, prop: str, value: SecretStr | str) -> None:
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        var = env_name(prop)
        self.props[prop] = "${" + var + "}"
        self.env[var] = text

    def secret_or_plain(self, prop: str, value: object) -> None:
        text = _text(value)
        if isinstance(value, SecretStr) or REFERENCE.search(text):
            self.secret(prop, text)
        else:
            self.put(prop, text)


def _text(value: object) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _sink_connection(out: _Builder, rdi_url: str, name: str, kind: str) -> None:
    """The RDI database for the sink, the offset store and the schema history: Debezium Server copies only some
    of the sink's `redis.*` settings to the stores (not `db.index`), so each gets them all."""
    url = urlsplit(rdi_url)
    if url.scheme not in ("redis", "rediss"):
        raise _issue(name, "connection", f"the RDI database URL must be redis:// or rediss://, got `{url.scheme}://`")
    prefixes = ["debezium.sink.", "debezium.source.offset.storage."]
    if kind in _SCHEMA_HISTORY:
        prefixes.append("debezium.source.schema.history.internal.")
    db = url.path.strip("/") or "0"
    for prefix in prefixes:
        out.secret_or_plain(f"{prefix}redis.address", f"{url.hostname or 'localhost'}:{url.port or 6379}")
        if url.username:
            out.secret_or_plain(f"{prefix}redis.user", unquote(url.username))
        if url.password:
            out.secret(f"{prefix}redis.password", unquote(url.password))
        if url.scheme == "rediss":
            out.secret_or_plain(f"{prefix}redis.ssl.enabled", "true")
        if db != "0":
            out.secret_or_plain(f"{prefix}redis.db.index", db)


def _include_lists(out: _Builder, source: Source, kind: str, conn: SqlSourceConnection | MongoConnection) -> None:
    if kind in _BY_DATABASE:
        databases = source.databases or source.schemas
        if not databases and conn.database:
            databases = [d.strip() for d in conn.database.split(",") if d.strip()]
        if databases:
            out.source("database.include.list", ",".join(databases))
    elif source.schemas:
        out.source("schema.include.list", ",".join(source.schemas))


def _tables(out: _Builder, name: str, source: Source, kind: str, conn: SqlSourceConnection | MongoConnection) -> None:
    if not source.tables:
        return
    namespaces = (source.databases or source.schemas) if kind in _BY_DATABASE else source.schemas
    if kind in _BY_DATABASE and not namespaces and conn.database and "," not in conn.database:
        namespaces = [conn.database]
    default_ns = namespaces[0] if namespaces and len(namespaces) == 1 else None
    qualified: list[tuple[str, TableSpec | None]] = []
    for table, spec in source.tables.items():
        if "." not in table:
            if default_ns is None:
                message = "a table without its schema/database needs exactly one configured schema/database"
                raise _issue(name, f"tables.{table}", message)
            table = f"{default_ns}.{table}"
        qualified.append((table, spec))
    include = "collection.include.list" if kind == "mongodb" else "table.include.list"
    out.source(include, ",".join(t for t, _ in qualified))
    specs = [(t, s) for t, s in qualified if s is not None]
    if kind == "mongodb":
        excluded = [f"{t}.{c}" for t, s in specs for c in (s.exclude_columns or [])]
        if excluded:
            out.source("field.exclude.list", ",".join(excluded))
        return
    if any(s.columns for _, s in specs):
        columns: list[str] = []
        for table, spec in qualified:
            if spec is not None and spec.columns:
                wanted = [*spec.columns, *(c for c in spec.keys or [] if c not in spec.columns)]
                columns += (f"{table}.{c}" for c in wanted)
            else:
                columns.append(f"{table}..*")
        out.source("column.include.list", ",".join(columns))
    key_columns = [f"{t}:{','.join(s.keys)}" for t, s in specs if s.keys]
    if key_columns:
        out.source("message.key.columns", ";".join(key_columns))
    overrides = [(t, s.snapshot_sql) for t, s in specs if s.snapshot_sql]
    if overrides:
        out.source("snapshot.select.statement.overrides", ",".join(t for t, _ in overrides))
        for table, sql in overrides:
            out.source(f"snapshot.select.statement.overrides.{table}", sql.strip())


_KEY_SPECIAL = re.compile(r"([\\:=\s#!])")


def _escape(text: str, *, key: bool) -> str:
    if key:
        return _KEY_SPECIAL.sub(r"\\\1", text)
    out = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return "\\" + out if out.startswith((" ", "#", "!")) else out


def _issue(source: str, path: str, message: str) -> ConfigError:
    return ConfigError([ConfigIssue("config.yaml", 0, f"sources.{source}.{path}", message)])
