"""The SQL targets of write-behind (`relational.write`): engines, and batches applied in one transaction.

:func:`sql_engine` makes the SQLAlchemy engine of a `targets.<name>.connection` of a SQL type (drivers:
psycopg 3, PyMySQL, sqlite3; pyodbc and oracledb when installed). :class:`SqlTarget` applies the
:class:`~rdi.writers.sql.SqlWrite` values of a batch (planned by :class:`~rdi.writers.sql.RelationalPlanner`)
in one transaction, with the statements :func:`~rdi.writers.sql.compile_writes` groups.

Driver errors are translated in one place, :func:`sql_error_kind` / :func:`translate_sql_error`:

* the entry's fault (a constraint, a value that does not fit its column, an unknown column or table):
  that entry is left out, with its one-line reason, and the rest of the batch is committed;
* a lost, refused or killed connection, a deadlock, a lock or statement timeout, a busy SQLite file:
  retried with backoff (:class:`~rdi.connections.RetryPolicy`), then :class:`~rdi.errors.RetryableError`;
* a refused login, an unknown database, a missing privilege or driver: :class:`~rdi.errors.FatalError`.

Messages are one line naming the target and never hold the password; statement parameters are hidden from
SQLAlchemy's own messages and logs (``hide_parameters``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any, Final, Literal, TypeAlias

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import DBAPIError, NoSuchModuleError, StatementError

from rdi.config.targets import SqlConnection
from rdi.connections import RetryPolicy
from rdi.errors import FatalError, RdiError, RetryableError, one_line
from rdi.writers._sql_compile import compile_statements
from rdi.writers.sql import SqlWrite

__all__ = ["SqlErrorKind", "SqlTarget", "sql_engine", "sql_error_kind", "translate_sql_error"]

log = logging.getLogger("rdi.sql_target")

SqlErrorKind: TypeAlias = Literal["entry", "transient", "fatal"]
"""What a driver error means: the entry's data, a passing state (retry), or a setup problem (stop)."""

# connection type -> (SQLAlchemy driver name, pip package of the driver)
_DRIVERS: Final = {
    "postgresql": ("postgresql+psycopg", "psycopg[binary]"),
    "mysql": ("mysql+pymysql", "pymysql"),
    "mariadb": ("mariadb+pymysql", "pymysql"),
    "sqlite": ("sqlite", ""),
    "sqlserver": ("mssql+pyodbc", "pyodbc"),
    "oracle": ("oracle+oracledb", "oracledb"),
}

_PG_TRANSIENT: Final = ("08", "53", "40001", "40P01", "55P03", "57P01", "57P02", "57P03", "57014")
_PG_FATAL: Final = ("28", "3D000", "42501")
_PG_LOGIN_TEXT: Final = ("password authentication failed", "no pg_hba.conf entry", "role ")
_MY_FATAL: Final = frozenset({1044, 1045, 1049, 1142, 1143, 1227, 1698, 1251})
_MY_TRANSIENT: Final = frozenset(
    {1040, 1053, 1205, 1213, 1158, 1159, 1160, 1161, 1927, 2002, 2003, 2005, 2006, 2013, 2014, 2055}
)
_LITE_TRANSIENT: Final = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR")
_LITE_FATAL: Final = (
    "SQLITE_CANTOPEN",
    "SQLITE_PERM",
    "SQLITE_READONLY",
    "SQLITE_NOTADB",
    "SQLITE_CORRUPT",
    "SQLITE_AUTH",
)


def _where(name: str, conn: SqlConnection) -> str:
    if conn.type == "sqlite":
        return f"SQL target `{name}` (sqlite {conn.database})"
    port = f":{conn.port}" if conn.port else ""
    return f"SQL target `{name}` ({conn.type} {conn.host}{port}/{conn.database or ''})"


def _one_line(exc: BaseException, conn: SqlConnection | None = None) -> str:
    orig = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    text = one_line(orig)
    text = text.removeprefix("connection failed: ")
    if conn is not None and conn.password is not None:
        secret = conn.password.get_secret_value()
        if secret:
            text = text.replace(secret, "***")
    return text


def sql_error_kind(exc: BaseException) -> SqlErrorKind:
    """Sorts a driver error (as SQLAlchemy raises it) by what the writer does next."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return "transient"
    orig = exc.orig if isinstance(exc, DBAPIError) else None
    if orig is None:
        return "entry" if isinstance(exc, StatementError) else "fatal"
    module = type(orig).__module__.split(".")[0]
    if module == "psycopg":
        state: str | None = getattr(orig, "sqlstate", None)
        if state is None:  # raised while connecting: the server's text says why
            text = str(orig)
            if any(t in text for t in _PG_LOGIN_TEXT) or ("database" in text and "does not exist" in text):
                return "fatal"
            return "transient"
        if state.startswith(_PG_TRANSIENT):
            return "transient"
        if state.startswith(_PG_FATAL):
            return "fatal"
        return "entry"
    if module == "pymysql":
        code = orig.args[0] if orig.args and isinstance(orig.args[0], int) else 0
        if code in _MY_FATAL:
            return "fatal"
        if code in _MY_TRANSIENT or code == 0 or code >= 2000:
            return "transient"
        return "entry"
    if module == "sqlite3":
        errname = str(getattr(orig, "sqlite_errorname", ""))
        if errname.startswith(_LITE_TRANSIENT):
            return "transient"
        if errname.startswith(_LITE_FATAL):
            return "fatal"
        return "entry"
    if isinstance(exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError):
        return "transient"
    if isinstance(exc, sqlalchemy.exc.IntegrityError | sqlalchemy.exc.DataError | sqlalchemy.exc.ProgrammingError):
        return "entry"
    return "fatal"


def translate_sql_error(exc: BaseException, name: str, conn: SqlConnection) -> RdiError:
    """The rdi error for a driver error met on SQL target ``name`` that is not one entry's fault: one line,
    naming the target and the setting to check, never the password."""
    where = _where(name, conn)
    text = _one_line(exc, conn)
    kind = sql_error_kind(exc)
    if kind == "transient":
        return RetryableError(f"{where} failed for now ({text}); check that it runs and is reachable")
    lowered = text.lower()
    if "password" in lowered or "access denied" in lowered or "authentication" in lowered or "role " in lowered:
        return FatalError(f"{where} refused the login ({text}); check `targets.{name}.connection.user` and `password`")
    if "database" in lowered and ("does not exist" in lowered or "unknown" in lowered):
        return FatalError(f"{where}: {text}; check `targets.{name}.connection.database`")
    return FatalError(f"{where} failed ({text})")


def sql_engine(connection: SqlConnection, name: str) -> Engine:
    """The engine of SQL target ``name``: its driver, host, port, database, user and (resolved) password,
    ``query_args`` as URL query arguments and ``connect_args`` as driver connect arguments; connections are
    checked before use (``pool_pre_ping``). SQLite: ``database`` is the file path, opened in WAL mode, with
    transactions begun by rdi (so savepoints work). Connects lazily: a wrong password shows on the first write.

    Raises :class:`~rdi.errors.FatalError` (one line, naming the pip package) when the driver is not installed.
    """
    drivername, package = _DRIVERS[connection.type]
    password = connection.password.get_secret_value() if connection.password is not None else None
    if connection.type == "sqlite":
        url = URL.create(drivername, database=connection.database)
    else:
        url = URL.create(
            drivername,
            username=connection.user,
            password=password,
            host=connection.host,
            port=connection.port,
            database=connection.database,
            query={str(k): str(v) for k, v in connection.query_args.items()},
        )
    connect_args = dict(connection.connect_args)
    if connection.type in ("postgresql", "mysql", "mariadb"):
        connect_args.setdefault("connect_timeout", 10)
    try:
        engine = sqlalchemy.create_engine(
            url, pool_pre_ping=True, connect_args=connect_args, hide_parameters=True, logging_name=name
        )
    except (ImportError, NoSuchModuleError) as exc:
        missing = getattr(exc, "name", None) or package
        raise FatalError(
            f"{_where(name, connection)}: the `{connection.type}` driver `{missing}` is not installed; "
            f"install it with `pip install {package}`"
        ) from None
    if connection.type == "sqlite":
        _sqlite_transactions(engine)
    return engine


def _sqlite_transactions(engine: Engine) -> None:
    # sqlite3 (Python < 3.12) begins transactions itself, lazily, which breaks SAVEPOINT; rdi begins them.
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN")


class SqlTarget:
    """One SQL target: applies batches of row changes, each batch in one transaction.

    ``retry`` says how often a lost connection, a deadlock or a timeout is retried (default
    :class:`~rdi.connections.RetryPolicy`). Threads may share one: each :meth:`write` takes its own pooled
    connection.
    """

    def __init__(self, name: str, connection: SqlConnection, retry: RetryPolicy | None = None) -> None:
        self.name = name
        self.connection = connection
        self.retry = retry or RetryPolicy()
        self._engine = sql_engine(connection, name)

    def write(self, writes: Sequence[tuple[int, SqlWrite]]) -> dict[int, str]:
        """Apply all ``writes`` (tagged with the entry index that produced them) in ONE transaction and commit.

        Returns ``{entry index: one-line reason}`` for entries whose writes the database refused as bad data
        (constraint, type, too long, unknown column or table…): those entries' writes are all left out and the
        rest is committed, with the same effect as applying the writes one by one, in order. A lost connection,
        a deadlock or a timeout retries the whole batch with backoff (nothing was committed), then raises
        :class:`~rdi.errors.RetryableError`; a refused login, an unknown database or a missing privilege raises
        :class:`~rdi.errors.FatalError`. Idempotent under replay when the plans are (see ``rdi.writers.sql``):
        a connection lost during ``COMMIT`` leaves it unknown whether the batch committed, and the retry
        applies it again — harmless for UPSERT, REPLACE and deletes, a second copy for APPEND inserts.
        """
        writes = list(writes)
        bad: dict[int, str] = {}
        failures = 0
        while True:
            try:
                self._commit(writes, bad)
                return bad
            except (DBAPIError, StatementError) as exc:
                error = translate_sql_error(exc, self.name, self.connection)
                if isinstance(error, FatalError):
                    raise error from exc
                failures += 1
                if failures >= self.retry.max_attempts:
                    raise RetryableError(f"{error} (gave up after {failures} attempts)") from exc
                log.warning("%s; retrying (attempt %d of %d)", error, failures + 1, self.retry.max_attempts)
                time.sleep(self.retry.delay_s(failures))

    def close(self) -> None:
        """Closes the pooled connections; a later :meth:`write` connects again."""
        self._engine.dispose()

    # ---- private -----------------------------------------------------------------------------------

    def _commit(self, writes: list[tuple[int, SqlWrite]], bad: dict[int, str]) -> None:
        """Commits the writes of the entries not in ``bad``, adding to ``bad`` the entries the database refuses."""
        dialect = self.connection.type
        good = [(i, w) for i, w in writes if i not in bad]
        if not good:
            return
        with self._engine.connect() as conn:
            try:
                with conn.begin():
                    for statement in compile_statements(good, dialect):
                        _execute(conn, statement.sql, statement.params)
                return
            except (DBAPIError, StatementError) as exc:
                if sql_error_kind(exc) != "entry":
                    raise
            while not self._isolate(conn, good, bad):
                good = [(i, w) for i, w in good if i not in bad]

    def _isolate(self, conn: Connection, writes: list[tuple[int, SqlWrite]], bad: dict[int, str]) -> bool:
        """One pass with a savepoint per write: finds the refused entries. Commits, and returns True, unless an
        entry refused later had writes applied earlier in the pass (then rolls back: the next pass skips it)."""
        dialect = self.connection.type
        applied: set[int] = set()
        found: dict[int, str] = {}
        with conn.begin() as tx:
            for entry, w in writes:
                if entry in bad or entry in found:
                    continue
                savepoint = conn.begin_nested()
                try:
                    for statement in compile_statements([(entry, w)], dialect):
                        _execute(conn, statement.sql, statement.params)
                except (DBAPIError, StatementError) as exc:
                    if sql_error_kind(exc) != "entry":
                        raise
                    savepoint.rollback()
                    found[entry] = _one_line(exc, self.connection)
                    continue
                savepoint.commit()
                applied.add(entry)
            bad.update(found)
            if applied & found.keys():
                tx.rollback()
                return False
        return True


def _execute(conn: Connection, sql: str, params: list[Any]) -> None:
    conn.exec_driver_sql(sql, params if len(params) > 1 else params[0])
