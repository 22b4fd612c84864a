"""Debezium Server's application.properties generated from config.yaml (pure: literal config in, properties out)."""

from __future__ import annotations

import re

import pytest

from rdi.collectors.debezium import DebeziumConfig, debezium_properties, env_name, render_properties
from rdi.config import load_config_text
from rdi.errors import ConfigError

RDI_URL = "redis://127.0.0.1:6379/0"


def generate(source_yaml: str, name: str = "src", rdi_url: str = RDI_URL) -> DebeziumConfig:
    text = f"sources:\n  {name}:\n" + "\n".join("    " + line for line in source_yaml.strip().splitlines())
    text += "\ntargets:\n  target:\n    connection: {type: redis, host: cache, port: 6379}\n"
    config = load_config_text(text, env={}, resolve_secrets=False)
    return debezium_properties(name, config.sources[name], rdi_url)


def only(props: dict[str, str], prefix: str) -> dict[str, str]:
    return {k: v for k, v in props.items() if k.startswith(prefix)}


RDI_DEFAULTS = {
    "debezium.sink.type": "redis",
    "debezium.sink.redis.address": "127.0.0.1:6379",
    "debezium.sink.redis.message.format": "extended",
    "debezium.sink.redis.memory.limit.mb": "80",
    "debezium.source.offset.storage": "io.debezium.storage.redis.offset.RedisOffsetBackingStore",
    "debezium.source.offset.storage.redis.key": "metadata:debezium:offsets",
    "debezium.source.offset.flush.interval.ms": "1000",
    "debezium.source.include.schema.changes": "false",
    "debezium.source.tombstones.on.delete": "false",
    "debezium.source.skip.messages.without.change": "true",
    "debezium.source.decimal.handling.mode": "string",
    "debezium.source.key.converter.schemas.enable": "false",
    "debezium.source.value.converter.schemas.enable": "false",
    "debezium.format.key.schemas.enable": "false",
    "debezium.format.value.schemas.enable": "false",
    "debezium.transforms": "AddPrefix",
    "debezium.transforms.AddPrefix.type": "org.apache.kafka.connect.transforms.RegexRouter",
    "debezium.transforms.AddPrefix.regex": ".*",
    "debezium.transforms.AddPrefix.replacement": "data:$0",
    "quarkus.log.level": "INFO",
    "quarkus.http.port": "8088",
}

SCHEMA_HISTORY = {
    "debezium.source.schema.history.internal": "io.debezium.storage.redis.history.RedisSchemaHistory",
    "debezium.source.schema.history.internal.redis.key": "metadata:debezium:schema_history:src",
    "debezium.source.schema.history.internal.store.only.captured.tables.ddl": "true",
}


def test_postgresql_source_gets_the_connector_connection_and_rdi_defaults() -> None:
    config = generate("""
connection: {type: postgresql, host: db, port: 5432, database: shop, user: rdi, password: "${SOURCE_DB_PASSWORD}"}
schemas: [public, sales]
""")
    expected = {
        **RDI_DEFAULTS,
        "debezium.source.connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "debezium.source.topic.prefix": "src",
        "debezium.source.database.hostname": "db",
        "debezium.source.database.port": "5432",
        "debezium.source.database.user": "rdi",
        "debezium.source.database.password": "${DEBEZIUM_SOURCE_DATABASE_PASSWORD}",
        "debezium.source.database.dbname": "shop",
        "debezium.source.plugin.name": "pgoutput",
        "debezium.source.schema.include.list": "public,sales",
    }
    assert {k: config.properties.get(k) for k in expected} == expected
    assert "debezium.source.schema.history.internal" not in config.properties
    assert config.secret_env == {"DEBEZIUM_SOURCE_DATABASE_PASSWORD": "${SOURCE_DB_PASSWORD}"}


@pytest.mark.parametrize(
    ("kind", "connector", "database_props"),
    [
        ("mysql", "io.debezium.connector.mysql.MySqlConnector", {"debezium.source.database.include.list": "shop"}),
        (
            "mariadb",
            "io.debezium.connector.mariadb.MariaDbConnector",
            {"debezium.source.database.include.list": "shop"},
        ),
        ("sqlserver", "io.debezium.connector.sqlserver.SqlServerConnector", {"debezium.source.database.names": "shop"}),
        ("oracle", "io.debezium.connector.oracle.OracleConnector", {"debezium.source.database.dbname": "shop"}),
        ("db2", "io.debezium.connector.db2.Db2Connector", {"debezium.source.database.dbname": "shop"}),
    ],
)
def test_each_sql_type_gets_its_connector_database_and_schema_history(
    kind: str, connector: str, database_props: dict[str, str]
) -> None:
    config = generate(f"connection: {{type: {kind}, host: db, port: 1234, database: shop, user: u, password: p}}")
    props = config.properties
    wanted = {"debezium.source.connector.class": connector, **database_props, **SCHEMA_HISTORY}
    assert {k: props.get(k) for k in wanted} == wanted
    assert ("debezium.source.database.server.id" in props) == (kind in ("mysql", "mariadb"))
    assert config.secret_env == {"DEBEZIUM_SOURCE_DATABASE_PASSWORD": "p"}


def test_mongodb_connection_string_is_a_secret_and_databases_become_the_include_list() -> None:
    config = generate("""
connection:
  type: mongodb
  connection_string: "mongodb://${MONGO_USER}@m1:27017/?replicaSet=rs0"
  database: "shop, crm"
tables:
  shop.orders: {exclude_columns: [card, notes]}
  shop.customers:
""")
    props = config.properties
    assert only(props, "debezium.source.mongodb.") == {
        "debezium.source.mongodb.connection.string": "${DEBEZIUM_SOURCE_MONGODB_CONNECTION_STRING}"
    }
    assert props["debezium.source.connector.class"] == "io.debezium.connector.mongodb.MongoDbConnector"
    assert props["debezium.source.database.include.list"] == "shop,crm"
    assert props["debezium.source.collection.include.list"] == "shop.orders,shop.customers"
    assert props["debezium.source.field.exclude.list"] == "shop.orders.card,shop.orders.notes"
    assert "debezium.source.decimal.handling.mode" not in props
    assert config.secret_env == {
        "DEBEZIUM_SOURCE_MONGODB_CONNECTION_STRING": "mongodb://${MONGO_USER}@m1:27017/?replicaSet=rs0"
    }


def test_tables_map_to_include_lists_columns_message_keys_and_snapshot_overrides() -> None:
    config = generate("""
connection: {type: postgresql, host: db, port: 5432, database: shop}
schemas: [sales]
tables:
  orders:
    columns: [id, total]
    keys: [order_no]
    snapshot_sql: |
      SELECT * FROM sales.orders
      WHERE total > 0
  public.audit:
""")
    props = config.properties
    assert only(props, "debezium.source.table.") | only(props, "debezium.source.column.") == {
        "debezium.source.table.include.list": "sales.orders,public.audit",
        "debezium.source.column.include.list": (
            "sales.orders.id,sales.orders.total,sales.orders.order_no,public.audit..*"
        ),
    }
    assert config.properties["debezium.source.message.key.columns"] == "sales.orders:order_no"
    assert only(config.properties, "debezium.source.snapshot.select") == {
        "debezium.source.snapshot.select.statement.overrides": "sales.orders",
        "debezium.source.snapshot.select.statement.overrides.sales.orders": (
            "SELECT * FROM sales.orders\nWHERE total > 0"
        ),
    }


def test_mysql_tables_are_qualified_by_the_one_database() -> None:
    config = generate("""
connection: {type: mysql, host: db, port: 3306}
databases: [inventory]
tables:
  products: {keys: [sku, region]}
  customers: {keys: [email]}
""")
    assert config.properties["debezium.source.database.include.list"] == "inventory"
    assert config.properties["debezium.source.table.include.list"] == "inventory.products,inventory.customers"
    assert config.properties["debezium.source.message.key.columns"] == (
        "inventory.products:sku,region;inventory.customers:email"
    )


def test_advanced_properties_pass_through_and_override_the_defaults() -> None:
    config = generate("""
connection: {type: postgresql, host: db, port: 5432, database: shop}
logging: {level: debug}
advanced:
  source:
    decimal.handling.mode: precise
    topic.prefix: chinook
    snapshot.mode: never
    rdi.partitions: 4
    database.sslpassword: "${SSL_KEY_PASSWORD}"
  sink:
    redis.memory.limit.mb: 0
    redis.wait.enabled: true
  quarkus:
    http.port: 0
  java_options: -Xmx2g
""")
    props = config.properties
    assert {
        k: props[k]
        for k in (
            "debezium.source.decimal.handling.mode",
            "debezium.source.topic.prefix",
            "debezium.source.snapshot.mode",
            "debezium.source.database.sslpassword",
            "debezium.sink.redis.memory.limit.mb",
            "debezium.sink.redis.wait.enabled",
            "quarkus.http.port",
            "quarkus.log.level",
        )
    } == {
        "debezium.source.decimal.handling.mode": "precise",
        "debezium.source.topic.prefix": "chinook",
        "debezium.source.snapshot.mode": "never",
        "debezium.source.database.sslpassword": "${DEBEZIUM_SOURCE_DATABASE_SSLPASSWORD}",
        "debezium.sink.redis.memory.limit.mb": "0",
        "debezium.sink.redis.wait.enabled": "true",
        "quarkus.http.port": "0",
        "quarkus.log.level": "DEBUG",
    }
    assert not any(k.startswith("debezium.source.rdi.") for k in props)
    assert config.java_options == "-Xmx2g"
    assert config.secret_env == {"DEBEZIUM_SOURCE_DATABASE_SSLPASSWORD": "${SSL_KEY_PASSWORD}"}


def test_rdi_database_credentials_and_tls_come_from_the_url_and_the_password_stays_out_of_the_file() -> None:
    config = generate(
        "connection: {type: oracle, host: db, port: 1521, database: ORCLPDB1}",
        rdi_url="rediss://rdi:hunter2@rdi-db:12001/3",
    )
    connection = {
        "redis.address": "rdi-db:12001",
        "redis.user": "rdi",
        "redis.password": "${DEBEZIUM_%s_REDIS_PASSWORD}",
        "redis.ssl.enabled": "true",
        "redis.db.index": "3",
    }
    stores = {"sink": "debezium.sink.", "source_offset_storage": "debezium.source.offset.storage.",
              "source_schema_history_internal": "debezium.source.schema.history.internal."}  # fmt: skip
    expected = {
        prefix + k: v.replace("%s", env.upper()) for env, prefix in stores.items() for k, v in connection.items()
    }
    assert {k: v for k, v in config.properties.items() if k in expected} == expected
    assert config.secret_env == {f"DEBEZIUM_{env.upper()}_REDIS_PASSWORD": "hunter2" for env in stores}
    assert "hunter2" not in render_properties(config.properties)


def test_literal_secrets_never_reach_the_rendered_file() -> None:
    config = generate(
        "connection: {type: sqlserver, host: db, port: 1433, database: shop, user: sa, password: Pa55w0rd!}"
    )
    text = render_properties(config.properties)
    assert "Pa55w0rd!" not in text
    assert "debezium.source.database.password=${DEBEZIUM_SOURCE_DATABASE_PASSWORD}\n" in text


def test_rendering_escapes_what_a_properties_reader_would_misread() -> None:
    text = render_properties({"a.b": "data:$0", "c d": " lead\\ing\nnext", "k=v": "#x"})
    assert text.splitlines()[1:] == ["a.b=data:$0", "c\\ d=\\ lead\\\\ing\\nnext", "k\\=v=\\#x"]


def test_env_name_is_the_microprofile_environment_form() -> None:
    assert env_name("debezium.source.database.password") == "DEBEZIUM_SOURCE_DATABASE_PASSWORD"
    assert env_name("quarkus.http.ssl-port") == "QUARKUS_HTTP_SSL_PORT"


def test_a_source_without_a_debezium_connector_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=re.escape("sources.src.connection.type: Debezium Server has no connector")):
        generate("""
type: flink
connection: {type: spanner, project_id: p, instance_id: i, database_id: d}
""")


def test_a_bare_table_name_needs_one_schema() -> None:
    with pytest.raises(ConfigError, match=re.escape("sources.src.tables.orders: a table without its schema")):
        generate("""
connection: {type: postgresql, host: db, port: 5432, database: shop}
schemas: [a, b]
tables: {orders: }
""")
