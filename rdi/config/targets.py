"""Models of `targets.<name>` (rdi-compat-spec §1.5, DESIGN §4): Redis targets; SQL targets for write-behind.

The legacy write-behind `connections.<name>` entries are the same connection objects without the
`connection:` wrapper; `PipelineConfig` turns them into targets.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeAlias

from pydantic import Field, model_validator

from rdi.config._types import Closed, Port, Secret

__all__ = [
    "CassandraConnection",
    "RedisConnection",
    "SqlConnection",
    "SqlDialect",
    "Target",
    "TargetConnection",
]

SqlDialect: TypeAlias = Literal["postgresql", "mysql", "mariadb", "sqlite", "sqlserver", "oracle"]


class RedisConnection(Closed):
    """A Redis database: an ingest target, or the application Redis a write-behind source captures from."""

    type: Literal["redis"] = Field(description="Always `redis`.")
    host: str = Field(description="Host name or address.")
    port: Port = Field(description="TCP port, 1–65535, or a `${...}` reference.")
    user: str | None = Field(None, description="ACL user name.", repr=False)
    password: Secret | None = Field(None, description="Password (a `${...}` secret reference).")
    key: str | None = Field(None, description="Client private key (mTLS); needs `cert`.", repr=False)
    key_password: Secret | None = Field(None, description="Passphrase of `key`.")
    cert: str | None = Field(None, description="Client certificate (mTLS); needs `key`.", repr=False)
    cacert: str | None = Field(None, description="CA certificate to verify the server (TLS).", repr=False)

    @model_validator(mode="after")
    def _tls_pairs(self) -> RedisConnection:
        check_tls_pairs(self.key is not None, self.cert is not None, self.key_password is not None)
        return self


def check_tls_pairs(key: bool, cert: bool, key_password: bool) -> None:
    """`key` and `cert` go together; `key_password` needs `key` (spec §1.5). Never echoes values."""
    if key and not cert:
        raise ValueError("`key` needs `cert` (a client key and certificate go together)")
    if cert and not key:
        raise ValueError("`cert` needs `key` (a client key and certificate go together)")
    if key_password and not key:
        raise ValueError("`key_password` needs `key`")


class SqlConnection(Closed):
    """A SQL database written by `relational.write` (write-behind)."""

    type: SqlDialect = Field(description="SQL dialect.")
    host: str | None = Field(None, description="Host name (not for sqlite).")
    port: Port | None = Field(None, description="TCP port; the dialect's default when absent.")
    database: str | None = Field(None, description="Database name (sqlite: file path).")
    user: str | None = Field(None, description="User name.", repr=False)
    password: Secret | None = Field(None, description="Password (a `${...}` secret reference).")
    connect_args: dict[str, Any] = Field(default_factory=dict, description="Driver connect arguments (e.g. TLS).")
    query_args: dict[str, Any] = Field(default_factory=dict, description="URL query arguments (e.g. `sslmode`).")

    @model_validator(mode="after")
    def _host_unless_sqlite(self) -> SqlConnection:
        if self.type != "sqlite" and self.host is None:
            raise ValueError(f"missing required key `host` (needed for {self.type})")
        if self.type == "sqlite" and self.database is None:
            raise ValueError("missing required key `database` (the sqlite file path)")
        return self


class CassandraConnection(Closed):
    """A Cassandra cluster (legacy write-behind `cassandra.write`); accepted, no writer yet."""

    type: Literal["cassandra"]
    hosts: list[str] = Field(min_length=1)
    port: Port = 9042
    database: str | None = None
    user: str | None = Field(None, repr=False)
    password: Secret | None = None


TargetConnection: TypeAlias = Annotated[
    RedisConnection | SqlConnection | CassandraConnection, Field(discriminator="type")
]


class Target(Closed):
    """`targets.<name>`: the one named `target` is the default of every `redis.write`."""

    name: str | None = Field(None, max_length=100, description="Display name.")
    connection: TargetConnection

    @property
    def is_redis(self) -> bool:
        """True for a Redis target (ingest outputs, `redis.lookup`)."""
        return isinstance(self.connection, RedisConnection)

    @property
    def is_sql(self) -> bool:
        """True for a SQL target (`relational.write`)."""
        return isinstance(self.connection, SqlConnection)
