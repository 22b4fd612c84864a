"""Models of `sources.<name>` (rdi-compat-spec §1.4): change collectors and their connections.

A source with a `type: redis` connection is the application Redis write-behind captures from (DESIGN §4).
"""

from __future__ import annotations

from typing import Annotated, Literal, TypeAlias

from pydantic import Field, model_validator

from rdi.config._types import Closed, FreeValue, IntOrRef, LogLevel, Port, PositiveIntOrRef, Secret
from rdi.config.targets import RedisConnection, check_tls_pairs

__all__ = [
    "NATIVE_TYPES",
    "ChangeStream",
    "CollectorKind",
    "LoggingSettings",
    "MongoConnection",
    "RiotxSettings",
    "SnowflakeConnection",
    "Source",
    "SourceAdvanced",
    "SourceConnection",
    "SourceResources",
    "SpannerConnection",
    "SqlSourceConnection",
    "TableSpec",
]


NATIVE_TYPES = frozenset({"postgresql", "mysql", "mariadb"})
"""`connection.type`s rdi has its own collector for (`rdi/collectors/postgres.py`, `mysql.py`)."""


class LoggingSettings(Closed):
    level: LogLevel = Field("info", description="trace, debug, info, warn or error.")


class SqlSourceConnection(Closed):
    """A relational source read by Debezium (`db2` only through Debezium Server: rdi has no native collector)."""

    type: Literal["mariadb", "mysql", "oracle", "postgresql", "sqlserver", "db2"]
    host: str
    port: Port
    database: str | None = None
    user: str | None = Field(None, repr=False)
    password: Secret | None = None
    # 1.0-era TLS keys inside `connection` (today they go through `advanced` and secrets)
    key: str | None = Field(None, repr=False)
    cert: str | None = Field(None, repr=False)
    cacert: str | None = Field(None, repr=False)
    key_password: Secret | None = None

    @model_validator(mode="after")
    def _tls_pairs(self) -> SqlSourceConnection:
        check_tls_pairs(self.key is not None, self.cert is not None, self.key_password is not None)
        return self


class MongoConnection(Closed):
    type: Literal["mongodb"]
    connection_string: Secret
    user: str | None = Field(None, repr=False)
    password: Secret | None = None
    database: str | None = Field(None, description="Comma-separated database names.")


class ChangeStream(Closed):
    retention_period_hours: PositiveIntOrRef | None = None


class SpannerConnection(Closed):
    type: Literal["spanner"]
    project_id: str
    instance_id: str
    database_id: str
    emulator_host: str | None = None
    use_credentials_file: bool = Field(False, description="False: application default credentials.")
    change_streams: dict[str, ChangeStream] | None = Field(None, min_length=1)


class SnowflakeConnection(Closed):
    type: Literal["snowflake"]
    url: str = Field(description="JDBC URL.")
    user: str | None = Field(None, repr=False)
    password: Secret | None = Field(None, description="Omit for key-pair authentication.")
    database: str | None = None
    warehouse: str | None = None
    role: str | None = None
    cdcDatabase: str | None = None
    cdcSchema: str | None = None


SourceConnection: TypeAlias = Annotated[
    SqlSourceConnection | MongoConnection | SpannerConnection | SnowflakeConnection | RedisConnection,
    Field(discriminator="type"),
]


class TableSpec(Closed):
    """`tables.<schema.table>`: what to capture of one table."""

    columns: list[str] | None = Field(None, description="Columns to capture (default all).")
    exclude_columns: list[str] | None = Field(None, description="MongoDB only.")
    keys: list[str] | None = Field(None, description="Unique key columns of a table without a primary key.")
    snapshot_sql: str | None = Field(None, description="Custom SELECT for the initial snapshot.")


class SourceResources(Closed):
    cpu: str | int | float | None = None
    memory: str | int | None = None


class RiotxSettings(Closed):
    poll: str = "30s"
    snapshot: Literal["INITIAL", "NEVER"] = "INITIAL"
    streamPrefix: str = "data:"
    streamLimit: PositiveIntOrRef | None = None
    keyColumns: list[str] | None = Field(None, description="Deprecated.")
    clearOffset: bool = False
    count: IntOrRef = Field(0, ge=0, description="0 = unlimited.")


class SourceAdvanced(Closed):
    """Engine overrides; `sink`/`source`/`quarkus`/`flink` take property names without their prefix."""

    sink: dict[str, FreeValue] | None = None
    source: dict[str, FreeValue] | None = None
    quarkus: dict[str, FreeValue] | None = None
    flink: dict[str, FreeValue] | None = None
    resources: SourceResources | None = None
    riotx: RiotxSettings | None = None
    java_options: str | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> SourceAdvanced:
        if not self.model_fields_set:
            raise ValueError(
                "`advanced` needs at least one of sink, source, quarkus, flink, resources, riotx, java_options"
            )
        return self


SourceType: TypeAlias = Literal["cdc", "flink", "riotx", "external"]
CollectorKind: TypeAlias = Literal["auto", "native", "debezium"]


class Source(Closed):
    """`sources.<name>`: one change collector (with `type: external`, something else feeds the streams)."""

    type: SourceType = Field("cdc", description="cdc (Debezium), flink (Spanner), riotx (Snowflake), external.")
    name: str | None = Field(None, max_length=100, description="Display name.")
    active: bool = Field(True, description="False disables the collector.")
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    connection: SourceConnection | None = None
    databases: list[str] | None = Field(None, description="Databases to capture (MySQL, MariaDB, MongoDB).")
    schemas: list[str] | None = Field(None, description="Schemas to capture.")
    tables: dict[str, TableSpec | None] | None = Field(None, min_length=1, description="Tables to capture.")
    advanced: SourceAdvanced | None = None
    collector: CollectorKind = Field(
        "auto",
        description="rdi extension, `type: cdc` only: `native` (rdi's own PostgreSQL/MySQL/MariaDB collector), "
        "`debezium` (a Debezium Server process), `auto` (native when rdi has one for the database, else debezium).",
    )

    @model_validator(mode="after")
    def _connection_unless_external(self) -> Source:
        if self.connection is None and self.type != "external":
            raise ValueError("missing required key `connection`")
        return self

    @model_validator(mode="after")
    def _collector_for_cdc(self) -> Source:
        if self.collector != "auto" and self.type != "cdc":
            raise ValueError(f"`collector: {self.collector}` needs `type: cdc`, got `type: {self.type}`")
        native = isinstance(self.connection, SqlSourceConnection) and self.connection.type in NATIVE_TYPES
        if self.collector == "native" and not native:
            kind = getattr(self.connection, "type", None)
            raise ValueError(
                f"`collector: native` needs a postgresql, mysql or mariadb connection, got `{kind}` "
                "(use `collector: debezium`)"
            )
        return self

    @property
    def uses_debezium_server(self) -> bool:
        """True when `rdi collector` runs Debezium Server for this source (see `collector`)."""
        if self.type != "cdc" or self.collector == "native" or self.is_redis:
            return False
        native = isinstance(self.connection, SqlSourceConnection) and self.connection.type in NATIVE_TYPES
        return self.collector == "debezium" or not native

    @property
    def is_redis(self) -> bool:
        """True for the application Redis captured by write-behind."""
        return isinstance(self.connection, RedisConnection)
