"""Starter pipeline folders, as `rdi scaffold` writes them (RDI's `redis-di scaffold`).

Pure: :func:`scaffold_files` returns ``{relative path: text}``; the CLI writes them. Every template
validates with `rdi validate` as written (secrets are `${NAME}` references, never values).
"""

from __future__ import annotations

from typing import Literal, TypeAlias

__all__ = ["DB_TYPES", "DbType", "Strategy", "scaffold_files"]

DbType: TypeAlias = Literal["postgresql", "mysql", "mariadb", "oracle", "sqlserver", "mongodb", "spanner", "snowflake"]
Strategy: TypeAlias = Literal["ingest", "write_behind"]
DB_TYPES: tuple[DbType, ...] = (
    "postgresql", "mysql", "mariadb", "oracle", "sqlserver", "mongodb", "spanner", "snowflake",
)  # fmt: skip

_SQL_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306, "oracle": 1521, "sqlserver": 1433}

_TARGET = """\
targets:
  # The Redis database the pipeline writes to. Jobs that name no `connection` use `target`.
  target:
    connection:
      type: redis
      host: localhost
      port: 6379
      # user: ${TARGET_DB_USERNAME}
      # password: ${TARGET_DB_PASSWORD}
"""

_PROCESSORS = """\
processors:
  # Every setting below shows its default; uncomment to change it.
  # target_data_type: hash        # hash | json: data type when a job sets no `data_type`
  # read_batch_size: 2000         # records read from the staging streams per batch
  # write_batch_size: 200         # records per write batch to the target
  # error_handling: dlq           # dlq | ignore: where records that fail go
  # dlq_max_messages: 1000        # cap of each dead-letter stream
  # json_update_strategy: replace # replace | merge
"""


def _sql_source(db_type: str) -> str:
    namespace = (
        "    databases:\n      - inventory\n"
        if db_type in ("mysql", "mariadb")
        else "    schemas:\n      - public\n"
        if db_type == "postgresql"
        else "    schemas:\n      - dbo\n"
        if db_type == "sqlserver"
        else "    schemas:\n      - C##DBZUSER\n"
    )
    database = "ORCLPDB1" if db_type == "oracle" else "inventory"
    return f"""\
sources:
  {db_type}:
    type: cdc
    logging:
      level: info
    connection:
      type: {db_type}
      host: localhost
      port: {_SQL_PORTS[db_type]}
      database: {database}
      user: ${{SOURCE_DB_USERNAME}}
      password: ${{SOURCE_DB_PASSWORD}}
{namespace}    # tables:                       # all tables of the schemas/databases when omitted
    #   customers:
    #     columns: [id, name, email]  # capture only these columns
    #     keys: [email]               # for a table without a primary key
"""


_OTHER_SOURCES = {
    "mongodb": """\
sources:
  mongodb:
    type: cdc
    connection:
      type: mongodb
      connection_string: mongodb://localhost:27017/?replicaSet=rs0
      user: ${SOURCE_DB_USERNAME}
      password: ${SOURCE_DB_PASSWORD}
      database: inventory
""",
    "spanner": """\
sources:
  spanner:
    type: flink
    connection:
      type: spanner
      project_id: my-project
      instance_id: my-instance
      database_id: inventory
      change_streams:
        all_changes:
          retention_period_hours: 24
""",
    "snowflake": """\
sources:
  snowflake:
    type: riotx
    connection:
      type: snowflake
      url: jdbc:snowflake://account.snowflakecomputing.com/
      user: ${SOURCE_DB_USERNAME}
      password: ${SOURCE_DB_PASSWORD}
      database: INVENTORY
      warehouse: COMPUTE_WH
""",
}

_DEFAULT_JOB = """\
# The default job applies to every captured table that has no job of its own.
# Without any job, tables are written with the built-in mapping (processors.target_data_type).
name: default-job
source:
  table: "*"
transform:
  - uses: add_field
    with:
      field: _synced_by
      language: jmespath
      expression: "'rdi'"
output:
  - uses: redis.write
    with:
      data_type: hash
"""

_WRITE_BEHIND_CONFIG = """\
sources:
  # The application's Redis, whose changes are written back to the database below.
  app:
    type: cdc
    connection:
      type: redis
      host: localhost
      port: 6379
      # password: ${{SOURCE_DB_PASSWORD}}
targets:
  {db_type}:
    connection:
      type: {db_type}
      host: localhost
      port: {port}
      database: app
      user: ${{TARGET_DB_USERNAME}}
      password: ${{TARGET_DB_PASSWORD}}
"""

_WRITE_BEHIND_JOB = """\
# Write every `customer:*` hash into the `customers` table (insert/update on write, delete on DEL).
name: customers
source:
  redis:
    key_pattern: customer:*
    trigger: write-behind
output:
  - uses: relational.write
    with:
      connection: {db_type}
      schema: ""
      table: customers
      keys: [id]
      mapping: [name, email]
"""


def scaffold_files(db_type: DbType, strategy: Strategy = "ingest") -> dict[str, str]:
    """The files of a starter pipeline for ``db_type``: ``config.yaml`` and one example job.

    Raises ``ValueError`` for a database type the strategy does not support.
    """
    if strategy == "write_behind":
        if db_type not in _SQL_PORTS:
            raise ValueError(f"write-behind targets are SQL databases; `{db_type}` is not one")
        config = _WRITE_BEHIND_CONFIG.format(db_type=db_type, port=_SQL_PORTS[db_type])
        return {"config.yaml": config, "jobs/customers.yaml": _WRITE_BEHIND_JOB.format(db_type=db_type)}
    source = _sql_source(db_type) if db_type in _SQL_PORTS else _OTHER_SOURCES[db_type]
    return {"config.yaml": source + _TARGET + _PROCESSORS, "jobs/default-job.yaml": _DEFAULT_JOB}
