"""``validate_tables``: connect to each SQL source and check that the tables the pipeline names exist.

Named tables are the keys of ``sources.<name>.tables`` and the ``source.table`` of every job (wildcards
skipped). PostgreSQL, MySQL and MariaDB sources are checked; any other source type is an issue that says so
(deploy with ``validate_tables=false``). Names compare case-insensitively, as jobs match tables.
"""

from __future__ import annotations

from collections.abc import Iterable

import psycopg
import pymysql

from rdi.collectors.settings import MySqlCollectorSettings, PgCollectorSettings
from rdi.config import Pipeline, Source
from rdi.config.sources import SqlSourceConnection
from rdi.errors import ConfigError, ConfigIssue

__all__ = ["check_tables"]

_TIMEOUT_S = 5
_PG_TABLES = (
    "SELECT table_schema, table_name FROM information_schema.tables "
    "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
)
_MYSQL_TABLES = (
    "SELECT table_schema, table_name FROM information_schema.tables "
    "WHERE table_schema NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')"
)
Catalog = set[tuple[str, str]]


def check_tables(pipeline: Pipeline) -> list[ConfigIssue]:
    """One issue per missing table, per unreachable source and per source type that cannot be checked.

    ``pipeline`` must have its secrets resolved (the checks log in as the collectors would).
    """
    issues: list[ConfigIssue] = []
    catalogs: dict[str, tuple[Catalog, tuple[str, ...]]] = {}
    for name, source in pipeline.config.sources.items():
        if not source.active or source.type == "external" or source.is_redis:
            continue
        conn = source.connection
        field = f"sources.{name}.connection"
        if not isinstance(conn, SqlSourceConnection) or conn.type not in ("postgresql", "mysql", "mariadb"):
            kind = getattr(conn, "type", source.type)
            message = f"validate_tables: cannot check tables of a `{kind}` source (postgresql, mysql, mariadb only); "
            issues.append(ConfigIssue("config.yaml", 0, f"{field}.type", message + "deploy with validate_tables=false"))
            continue
        try:
            catalogs[name] = _catalog(name, source, conn.type)
        except ConfigError as exc:
            issues.extend(exc.issues)
        except (psycopg.Error, pymysql.MySQLError, OSError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            message = f"validate_tables: cannot connect to {conn.type} at {conn.host}:{conn.port}: {first}"
            issues.append(ConfigIssue("config.yaml", 0, field, message))
    for name, (tables, schemas) in catalogs.items():
        for table in pipeline.config.sources[name].tables or {}:
            if "*" not in table and not _exists(tables, schemas, table):
                message = f"table `{table}` does not exist in source `{name}`"
                issues.append(ConfigIssue("config.yaml", 0, f"sources.{name}.tables.{table}", message))
    if catalogs:
        issues.extend(_job_issues(pipeline, catalogs))
    return issues


def _job_issues(pipeline: Pipeline, catalogs: dict[str, tuple[Catalog, tuple[str, ...]]]) -> Iterable[ConfigIssue]:
    for job_name, job in pipeline.jobs.items():
        table = job.source.table
        if job.source.redis is not None or table is None or "*" in table:
            continue
        schema = job.source.schema_ or job.source.db
        wanted = f"{schema}.{table}" if schema else table
        if not any(_exists(tables, schemas, wanted) for tables, schemas in catalogs.values()):
            where = ", ".join(f"`{n}`" for n in sorted(catalogs))
            yield ConfigIssue(f"jobs/{job_name}.yaml", 0, "source.table", f"table `{wanted}` does not exist in {where}")


def _exists(tables: Catalog, schemas: tuple[str, ...], name: str) -> bool:
    schema, dot, table = name.lower().rpartition(".")
    if dot:
        return (schema, table) in tables
    return any((s, table) in tables for s in schemas) if schemas else any(t == table for _, t in tables)


def _catalog(name: str, source: Source, kind: str) -> tuple[Catalog, tuple[str, ...]]:
    if kind == "postgresql":
        pg = PgCollectorSettings.from_source(name, source)
        with psycopg.connect(pg.dsn(), connect_timeout=_TIMEOUT_S, autocommit=True) as conn:
            rows = conn.execute(_PG_TABLES).fetchall()
        schemas = tuple(s.lower() for s in (pg.schemas or ("public",)))
    else:
        my = MySqlCollectorSettings.from_source(name, source)
        args = {**my.connect_args(), "connect_timeout": _TIMEOUT_S}
        connection = pymysql.connect(**args)
        try:
            with connection.cursor() as cursor:
                cursor.execute(_MYSQL_TABLES)
                rows = list(cursor.fetchall())
        finally:
            connection.close()
        schemas = tuple(s.lower() for s in (my.databases or ()))
    return {(str(s).lower(), str(t).lower()) for s, t in rows}, schemas
