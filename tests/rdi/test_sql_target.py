"""`SqlTarget` against real PostgreSQL, MariaDB and SQLite: load strategies on real tables, replays, bad rows
isolated, a connection killed mid-batch, and the one-line errors of a wrong password or a missing driver."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pymysql  # type: ignore[import-untyped]
import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from rdi.config.job import RelationalWriteSettings
from rdi.config.targets import SqlConnection
from rdi.connections import RetryPolicy
from rdi.errors import FatalError
from rdi.events.event import Record
from rdi.sql_target import SqlTarget, sql_error_kind
from rdi.writers.sql import RelationalPlanner, SqlWrite

QUICK = RetryPolicy(max_attempts=3, initial_delay_ms=10, max_delay_ms=50)


@dataclass
class Db:
    kind: str
    connection: SqlConnection
    engine: sa.Engine  # for setting up and reading tables, apart from the target's own

    def run(self, *statements: str) -> None:
        with self.engine.begin() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        with self.engine.connect() as conn:
            return [tuple(row) for row in conn.exec_driver_sql(query).all()]

    def target(self, **kw: Any) -> SqlTarget:
        return SqlTarget(self.kind, self.connection, kw.get("retry", QUICK))


def _server(kind: str, url: str) -> SqlConnection:
    parts = urlsplit(url)
    return SqlConnection(
        type=kind,  # type: ignore[arg-type]
        host=parts.hostname,
        port=parts.port,
        database=parts.path.lstrip("/"),
        user=parts.username,
        password=SecretStr(parts.password or ""),
    )


@pytest.fixture(params=["postgresql", "mariadb", "sqlite"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    kind: str = request.param
    if kind == "sqlite":
        connection = SqlConnection(type="sqlite", database=str(tmp_path / "target.db"))
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'target.db'}")
    else:
        url = request.getfixturevalue("pg_dsn" if kind == "postgresql" else "mysql_url")
        connection = _server(kind, url)
        scheme = "postgresql+psycopg" if kind == "postgresql" else "mariadb+pymysql"
        engine = sa.create_engine(url.replace(urlsplit(url).scheme, scheme, 1))
    yield Db(kind, connection, engine)
    engine.dispose()


def record(op: str, data: dict[str, Any]) -> Record:
    return Record(data=data, key={"key": f"customer:{data.get('id')}"}, row_format="partial", op=op,  # type: ignore[arg-type]
                  server_name="app", db="0", schema=None, table="customer:*")  # fmt: skip


def order(op: str, key: str, before: list[str] | None, after: list[str] | None) -> Record:
    def doc(codes: list[str] | None) -> dict[str, Any] | None:
        return None if codes is None else {"lines": [{"code": c, "qty": str(len(c))} for c in codes]}

    data = {"key": {"key": key}, "before": doc(before), "after": doc(after), "opcode": op, "db": "0",
            "schema": None, "table": "order:*"}  # fmt: skip
    return Record(data=data, key={"key": key}, row_format="full", op=op,  # type: ignore[arg-type]
                  server_name="app", db="0", schema=None, table="order:*")  # fmt: skip


def plan(
    planner: RelationalPlanner, records: list[Record], previous: list[Record | None] | None = None
) -> list[tuple[int, SqlWrite]]:
    previous = previous or [None] * len(records)
    return [(i, w) for i, (r, p) in enumerate(zip(records, previous, strict=True)) for w in planner.plan(r, p)]


def planner(**with_: Any) -> RelationalPlanner:
    return RelationalPlanner(RelationalWriteSettings.model_validate({"connection": "t", "schema": "", **with_}))


CUSTOMERS = ("DROP TABLE IF EXISTS customers",
             "CREATE TABLE customers (id INTEGER PRIMARY KEY, name VARCHAR(20) NOT NULL, email VARCHAR(40), "
             "note VARCHAR(20) DEFAULT 'none')")  # fmt: skip
CHANGES = [
    record("c", {"id": "1", "name": "Ann", "email": "ann@x.io"}),
    record("c", {"id": "2", "name": "Bob"}),
    record("u", {"id": "1", "name": "Anne", "email": "anne@x.io"}),
    record("c", {"id": "3", "name": "Cid"}),
    record("d", {"id": "2", "name": "Bob"}),
]


@pytest.mark.postgres
@pytest.mark.mysql
@pytest.mark.parametrize("strategy", ["UPSERT", "REPLACE"])
def test_upsert_and_replace_mirror_the_records(db: Db, strategy: str) -> None:
    db.run(*CUSTOMERS, "INSERT INTO customers (id, name, note) VALUES (1, 'Old', 'kept?')")
    target = db.target()
    rejected = target.write(plan(planner(table="customers", keys=["id"], mapping=["name", "email"],
                                         load_strategy=strategy), CHANGES))  # fmt: skip
    target.close()
    note = "kept?" if strategy == "UPSERT" else "none"  # REPLACE re-inserts: unwritten columns get their default
    assert (rejected, db.rows("SELECT id, name, email, note FROM customers ORDER BY id")) == (
        {},
        [(1, "Anne", "anne@x.io", note), (3, "Cid", None, "none")],
    )


@pytest.mark.postgres
@pytest.mark.mysql
def test_append_inserts_updates_and_deletes_by_keys(db: Db) -> None:
    db.run(*CUSTOMERS)
    target = db.target()
    rejected = target.write(plan(planner(table="customers", keys=["id"], mapping=["name", "email"]), CHANGES))
    target.close()
    assert (rejected, db.rows("SELECT id, name, email FROM customers ORDER BY id")) == (
        {},
        [(1, "Anne", "anne@x.io"), (3, "Cid", None)],
    )


@pytest.mark.postgres
@pytest.mark.mysql
def test_append_without_keys_logs_every_write(db: Db) -> None:
    db.run("DROP TABLE IF EXISTS events", "CREATE TABLE events (id INTEGER, name VARCHAR(20))")
    target = db.target()
    rejected = target.write(plan(planner(table="events", mapping=["id", "name"]), CHANGES))
    target.close()
    assert (rejected, db.rows("SELECT id, name FROM events ORDER BY id, name")) == (
        {},
        [(1, "Ann"), (1, "Anne"), (2, "Bob"), (3, "Cid")],
    )


@pytest.mark.postgres
@pytest.mark.mysql
def test_type2_keeps_history_and_one_active_row(db: Db) -> None:
    ddl = "CREATE TABLE customers_history (id INTEGER NOT NULL, name VARCHAR(20), valid_to TIMESTAMP NULL)"
    db.run("DROP TABLE IF EXISTS customers_history", ddl)
    p = planner(table="customers_history", keys=["id"], mapping=["name"], load_strategy="TYPE2",
                active_record_indicator="valid_to IS NULL",
                inactive_record_mapping=[{"source": "CURRENT_TIMESTAMP", "target": "valid_to"}])  # fmt: skip
    target = db.target()
    rejected = target.write(plan(p, CHANGES))
    target.close()
    query = "SELECT id, name, CASE WHEN valid_to IS NULL THEN 1 ELSE 0 END FROM customers_history ORDER BY id, name"
    assert (rejected, db.rows(query)) == (
        {},
        [(1, "Ann", 0), (1, "Anne", 1), (2, "Bob", 0), (3, "Cid", 1)],
    )


LINES = ("DROP TABLE IF EXISTS order_lines",
         "CREATE TABLE order_lines (order_key VARCHAR(40) NOT NULL, code VARCHAR(10) NOT NULL, qty INTEGER, "
         "PRIMARY KEY (order_key, code))")  # fmt: skip


@pytest.mark.postgres
@pytest.mark.mysql
@pytest.mark.parametrize("strategy", ["UPSERT", "REPLACE"])
def test_replaying_a_batch_gives_the_same_table(db: Db, strategy: str) -> None:
    db.run(*LINES)
    p = planner(table="order_lines", foreach="line: lines[]", keys=[{"order_key": "key.key"}, {"code": "line.code"}],
                mapping=[{"qty": "line.qty"}], load_strategy=strategy)  # fmt: skip
    records = [
        order("c", "order:1", None, ["a", "bb", "ccc"]),
        order("c", "order:2", None, ["a"]),
        order("u", "order:1", ["a", "bb", "ccc"], ["bb", "dddd"]),
        order("d", "order:2", ["a"], None),
    ]
    batch = plan(p, records, previous=[None, None, order("c", "order:1", None, ["a", "bb", "ccc"]), None])
    target = db.target()
    tables = []
    for _ in range(2):
        assert target.write(batch) == {}
        tables.append(db.rows("SELECT order_key, code, qty FROM order_lines ORDER BY order_key, code"))
    target.close()
    assert tables == [[("order:1", "bb", 2), ("order:1", "dddd", 4)]] * 2


def _strict_table(db: Db) -> tuple[str, ...]:
    if db.kind == "sqlite":
        ddl = ("CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL CHECK (length(name) <= 5), "
               "age INTEGER) STRICT")  # fmt: skip
    else:
        ddl = "CREATE TABLE people (id INTEGER PRIMARY KEY, name VARCHAR(5) NOT NULL, age INTEGER)"
    return ("DROP TABLE IF EXISTS people", ddl)


@pytest.mark.postgres
@pytest.mark.mysql
def test_a_bad_row_is_rejected_alone_and_the_rest_commits(db: Db) -> None:
    db.run(*_strict_table(db))
    records = [
        record("c", {"id": "1", "name": "Ann", "age": "30"}),
        record("c", {"id": "2", "age": "40"}),  # NOT NULL
        record("c", {"id": "3", "name": "Bartholomew", "age": "50"}),  # too long
        record("c", {"id": "4", "name": "Dee", "age": "old"}),  # wrong type
        record("u", {"id": "1", "name": "Anne", "age": "31"}),
        record("c", {"id": "5", "name": "Eve", "age": "20"}),
    ]
    target = db.target()
    rejected = target.write(plan(planner(table="people", keys=["id"], mapping=["name", "age"],
                                         load_strategy="UPSERT"), records))  # fmt: skip
    target.close()
    assert (sorted(rejected), db.rows("SELECT id, name, age FROM people ORDER BY id")) == (
        [1, 2, 3],
        [(1, "Anne", 31), (5, "Eve", 20)],
    )


def test_the_reasons_of_bad_rows_are_one_line_from_the_database(tmp_path: Path) -> None:
    db = Db("sqlite", SqlConnection(type="sqlite", database=str(tmp_path / "t.db")),
            sa.create_engine(f"sqlite:///{tmp_path / 't.db'}"))  # fmt: skip
    db.run(*_strict_table(db))
    writes = [(0, SqlWrite(None, "people", "upsert", {"id": 1}, {"name": None, "age": 1})),
              (1, SqlWrite(None, "people", "upsert", {"id": 2}, {"name": "Ann", "age": "x"}))]  # fmt: skip
    target = db.target()
    assert target.write(writes) == {
        0: "NOT NULL constraint failed: people.name",
        1: "cannot store TEXT value in INTEGER column people.age",
    }
    target.close()
    db.engine.dispose()


def test_an_entry_is_left_out_whole_when_one_of_its_writes_fails(tmp_path: Path) -> None:
    db = Db("sqlite", SqlConnection(type="sqlite", database=str(tmp_path / "t.db")),
            sa.create_engine(f"sqlite:///{tmp_path / 't.db'}"))  # fmt: skip
    db.run(*_strict_table(db))
    writes = [
        (0, SqlWrite(None, "people", "upsert", {"id": 1}, {"name": "Ann", "age": 1})),
        (1, SqlWrite(None, "people", "upsert", {"id": 2}, {"name": "Bob", "age": 2})),
        (1, SqlWrite(None, "people", "upsert", {"id": 3}, {"name": None, "age": 3})),
        (2, SqlWrite(None, "people", "upsert", {"id": 4}, {"name": "Dee", "age": 4})),
    ]
    target = db.target()
    rejected = target.write(writes)
    target.close()
    assert (list(rejected), db.rows("SELECT id FROM people ORDER BY id")) == ([1], [(1,), (4,)])
    db.engine.dispose()


# ---- a connection killed mid-batch ---------------------------------------------------------------


def _killer(db: Db, url: str) -> tuple[Callable[[], None], Callable[[], bool]]:
    """Holds a row lock the batch waits for; a thread kills the waiting session, then releases the lock."""
    if db.kind == "postgresql":
        locker: Any = psycopg.connect(url)
        locker.execute("SELECT v FROM lock_row WHERE id = 1 FOR UPDATE")
        waiting = ("SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database() "
                   "AND pid <> pg_backend_pid()")  # fmt: skip
        kill = "SELECT pg_terminate_backend({})"
        admin: Any = psycopg.connect(url, autocommit=True)
    else:
        params = urlsplit(url)
        args = {"host": params.hostname, "port": params.port, "user": params.username, "password": params.password,
                "database": params.path.lstrip("/")}  # fmt: skip
        locker = pymysql.connect(**args)
        locker.begin()
        locker.cursor().execute("SELECT v FROM lock_row WHERE id = 1 FOR UPDATE")
        waiting = "SELECT id FROM information_schema.processlist WHERE info LIKE 'INSERT INTO lock_row%%'"
        kill = "KILL CONNECTION {}"
        admin = pymysql.connect(**args, autocommit=True)
    killed = threading.Event()

    def run() -> None:
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline:
                cursor = admin.cursor()
                cursor.execute(waiting)
                found = cursor.fetchall()
                if found:
                    cursor.execute(kill.format(int(found[0][0])))
                    killed.set()
                    return
                time.sleep(0.02)
        finally:
            locker.commit()
            locker.close()
            admin.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread.join, killed.is_set


@pytest.mark.postgres
@pytest.mark.mysql
@pytest.mark.parametrize("kind", ["postgresql", "mariadb"])
def test_a_connection_killed_mid_batch_is_retried_without_loss_or_double(
    kind: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("pg_dsn" if kind == "postgresql" else "mysql_url")
    scheme = "postgresql+psycopg" if kind == "postgresql" else "mariadb+pymysql"
    db = Db(kind, _server(kind, url), sa.create_engine(url.replace(urlsplit(url).scheme, scheme, 1)))
    db.run("DROP TABLE IF EXISTS appended", "DROP TABLE IF EXISTS lock_row",
           "CREATE TABLE appended (n INTEGER)", "CREATE TABLE lock_row (id INTEGER PRIMARY KEY, v VARCHAR(10))",
           "INSERT INTO lock_row VALUES (1, 'old')")  # fmt: skip
    writes = [(i, SqlWrite(None, "appended", "insert", {}, {"n": i})) for i in range(500)]
    writes.append((500, SqlWrite(None, "lock_row", "upsert", {"id": 1}, {"v": "new"})))
    join, was_killed = _killer(db, url)
    target = db.target()
    try:
        rejected = target.write(writes)
    finally:
        join()
        target.close()
    counts = db.rows("SELECT COUNT(*), COUNT(DISTINCT n) FROM appended") + db.rows("SELECT v FROM lock_row")
    db.engine.dispose()
    assert (was_killed(), rejected, counts) == (True, {}, [(500, 500), ("new",)])


# ---- setup errors -------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.mysql
@pytest.mark.parametrize("kind", ["postgresql", "mariadb"])
def test_a_wrong_password_is_one_fatal_line_without_the_password(kind: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("pg_dsn" if kind == "postgresql" else "mysql_url")
    connection = _server(kind, url).model_copy(update={"password": SecretStr("Wr0ng-s3cret")})
    target = SqlTarget("out", connection, QUICK)
    with pytest.raises(FatalError) as caught:
        target.write([(0, SqlWrite(None, "t", "delete", {"id": 1}, {}))])
    target.close()
    message = str(caught.value)
    assert (message.startswith(f"SQL target `out` ({kind} 127.0.0.1:"), "refused the login" in message,
            message.endswith("check `targets.out.connection.user` and `password`"), "\n" in message,
            "Wr0ng-s3cret" in message) == (True, True, True, False, False)  # fmt: skip


@pytest.mark.postgres
@pytest.mark.mysql
@pytest.mark.parametrize("kind", ["postgresql", "mariadb"])
def test_an_unknown_database_is_one_fatal_line(kind: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("pg_dsn" if kind == "postgresql" else "mysql_url")
    connection = _server(kind, url).model_copy(update={"database": "no_such_db"})
    target = SqlTarget("out", connection, QUICK)
    with pytest.raises(
        FatalError, match=r"^SQL target `out` \(.*no_such_db.*check `targets\.out\.connection\.database`$"
    ):
        target.write([(0, SqlWrite(None, "t", "delete", {"id": 1}, {}))])
    target.close()


@pytest.mark.parametrize(("kind", "package"), [("sqlserver", "pyodbc"), ("oracle", "oracledb")])
def test_a_missing_driver_is_one_line_naming_the_package(kind: str, package: str) -> None:
    connection = SqlConnection(type=kind, host="db.internal", database="app", user="u", password=SecretStr("pw"))  # type: ignore[arg-type]
    message = (f"SQL target `out` ({kind} db.internal/app): the `{kind}` driver `{package}` is not installed; "
               f"install it with `pip install {package}`")  # fmt: skip
    with pytest.raises(FatalError, match=f"^{re.escape(message)}$"):
        SqlTarget("out", connection)


# ---- error classification (driver exception values, no server) --------------------------------------


def _wrapped(orig: Exception) -> sa.exc.DBAPIError:
    return sa.exc.DBAPIError.instance("SELECT 1", None, orig, type(orig))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("orig", "kind"),
    [
        (psycopg.errors.lookup("40P01")("deadlock detected"), "transient"),
        (psycopg.errors.lookup("40001")("could not serialize access"), "transient"),
        (psycopg.errors.lookup("57P01")("terminating connection due to administrator command"), "transient"),
        (psycopg.errors.lookup("28P01")("password authentication failed"), "fatal"),
        (psycopg.errors.lookup("3D000")("database does not exist"), "fatal"),
        (psycopg.errors.lookup("42501")("permission denied for table t"), "fatal"),
        (psycopg.errors.lookup("23505")("duplicate key value"), "entry"),
        (psycopg.errors.lookup("22001")("value too long"), "entry"),
        (psycopg.errors.lookup("42703")("column does not exist"), "entry"),
        (pymysql.err.OperationalError(1213, "Deadlock found"), "transient"),
        (pymysql.err.OperationalError(1205, "Lock wait timeout exceeded"), "transient"),
        (pymysql.err.OperationalError(2013, "Lost connection to server during query"), "transient"),
        (pymysql.err.OperationalError(1045, "Access denied"), "fatal"),
        (pymysql.err.OperationalError(1049, "Unknown database"), "fatal"),
        (pymysql.err.IntegrityError(1062, "Duplicate entry"), "entry"),
        (pymysql.err.DataError(1406, "Data too long"), "entry"),
        (pymysql.err.OperationalError(1054, "Unknown column"), "entry"),
    ],
)
def test_driver_errors_are_sorted_by_what_the_writer_does_next(orig: Exception, kind: str) -> None:
    assert sql_error_kind(_wrapped(orig)) == kind
