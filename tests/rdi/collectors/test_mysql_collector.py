"""The MySQL/MariaDB collector end to end: real MariaDB, real Redis, the real collector."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from rdi import keys
from rdi.collectors.mysql import MySqlCollector
from rdi.collectors.mysql_binlog import GtidState, binlog_has
from rdi.collectors.mysql_snapshot import current_position
from rdi.collectors.settings import MySqlCollectorSettings
from rdi.config import load_pipeline
from rdi.errors import FatalError, RetryableError

from ._mysql_pipeline import connect, execute, write_pipeline
from ._pg_pipeline import replay, staged, wait_for

pytestmark = [pytest.mark.mysql, pytest.mark.redis]


@pytest.fixture
def rdi_db(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


def fill(mysql_url: str, db: str, rows: int) -> None:
    execute(
        mysql_url,
        f"CREATE TABLE `{db}`.orders (id int PRIMARY KEY, v bigint NOT NULL, note varchar(100))",
        f"INSERT INTO `{db}`.orders SELECT seq, 0, repeat('x', 50) FROM seq_1_to_{rows}",
        database=db,
    )


def table_state(mysql_url: str, db: str) -> dict[int, dict[str, object]]:
    conn = connect(mysql_url, db)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id, v, note FROM orders")
            return {r[0]: {"id": r[0], "v": r[1], "note": r[2]} for r in cur.fetchall()}
    finally:
        conn.close()


def settings_for(folder: Path, mysql_url: str, db: str, **kwargs: Any) -> MySqlCollectorSettings:
    write_pipeline(folder, mysql_url, database=db, **kwargs)
    pipeline = load_pipeline(folder, env={"SOURCE_DB_PASSWORD": "root"})
    return MySqlCollectorSettings.from_source("my", pipeline.config.sources["my"])


class Load:
    """One writer: transactions that update a row to a fresh counter value, insert rows and delete rows."""

    def __init__(self, mysql_url: str, db: str, first_new_id: int, rows: int, bulk_every: int = 0) -> None:
        self.url, self.db, self.next_id, self.rows, self.bulk_every = mysql_url, db, first_new_id, rows, bulk_every
        self.counters: list[int] = []  # committed counter values, in commit order
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.rng = random.Random(7)

    def _run(self) -> None:
        counter = txns = 0
        conn = connect(self.url, self.db, autocommit=False)
        try:
            with conn.cursor() as cur:
                while not self.stop.is_set():
                    written: list[int] = []
                    txns += 1
                    for _ in range(self.rng.randint(1, 5)):
                        counter += 1
                        action = self.rng.random()
                        if self.bulk_every and txns % self.bulk_every == 0:  # larger than a staging chunk
                            cur.execute(f"INSERT INTO orders SELECT {self.next_id} + seq, {counter} + seq, 'bulk' "
                                        "FROM seq_1_to_2500 ORDER BY seq")  # fmt: skip
                            written += range(counter + 1, counter + 2501)
                            self.next_id += 2500
                            counter += 2500
                        elif action < 0.7:
                            n = cur.execute("UPDATE orders SET v = %s WHERE id = %s",
                                            (counter, self.rng.randint(1, self.rows)))  # fmt: skip
                            if n == 1:
                                written.append(counter)
                        elif action < 0.9:
                            self.next_id += 1
                            cur.execute("INSERT INTO orders VALUES (%s, %s, 'new')", (self.next_id, counter))
                            written.append(counter)
                        else:
                            cur.execute("DELETE FROM orders WHERE id = %s", (self.rng.randint(1, self.rows),))
                    conn.commit()
                    # An UPDATE of a deleted row changes nothing: only counters MariaDB actually wrote count.
                    self.counters.extend(written)
                    time.sleep(0.002)
        finally:
            conn.close()

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join()


def streamed_counters(events: list[dict[str, Any]]) -> list[int]:
    return [e["value"]["after"]["v"] for e in events if e["value"]["op"] in ("c", "u")]


def test_writes_during_the_snapshot_are_staged_exactly_once_in_commit_order(
    tmp_path: Path, mysql_url: str, mysql_db: str, rdi_db: redis.Redis
) -> None:
    fill(mysql_url, mysql_db, 20_000)
    settings = settings_for(tmp_path, mysql_url, mysql_db, chunk=500)
    stop = threading.Event()
    runner = threading.Thread(target=MySqlCollector(settings, rdi_db, stop=stop).run, daemon=True)
    stream = f"data:my.{mysql_db}.orders"
    try:
        runner.start()
        wait_for(lambda: rdi_db.exists(stream) == 1, 30, "the snapshot to start")
        with Load(mysql_url, mysql_db, first_new_id=100_000, rows=20_000) as load:  # writes during the snapshot
            time.sleep(2)
        final = table_state(mysql_url, mysql_db)
        wait_for(lambda: replay(staged(rdi_db, stream)) == final, 60, "staging to reach the table's state")
        events = staged(rdi_db, stream)
    finally:
        stop.set()
        runner.join(timeout=30)
    snapshot_keys = [e["key"]["id"] for e in events if e["value"]["op"] == "r"]
    assert (
        len(snapshot_keys) == len(set(snapshot_keys)) == 20_000,
        streamed_counters(events) == load.counters,
        len(load.counters) > 50,
    ) == (True, True, True)


def test_ddl_mid_stream_changes_the_events_and_the_published_schema(
    tmp_path: Path, mysql_url: str, mysql_db: str, rdi_db: redis.Redis
) -> None:
    execute(mysql_url, f"CREATE TABLE `{mysql_db}`.items (id int PRIMARY KEY, v int)")
    settings = settings_for(tmp_path, mysql_url, mysql_db)
    stop = threading.Event()
    runner = threading.Thread(target=MySqlCollector(settings, rdi_db, stop=stop).run, daemon=True)
    stream = f"data:my.{mysql_db}.items"
    try:
        runner.start()
        wait_for(lambda: rdi_db.hget("rdi:collector:my:snapshot", "__state__"), 30, "the snapshot")
        execute(
            mysql_url,
            "INSERT INTO items VALUES (1, 1)",
            "ALTER TABLE items ADD COLUMN c json",
            """INSERT INTO items VALUES (2, 2, '{"k": 1}')""",
            "ALTER TABLE items DROP COLUMN v",
            "INSERT INTO items VALUES (3, '[]')",
            database=mysql_db,
        )
        events = wait_for(lambda: (e := staged(rdi_db, stream)) and len(e) == 3 and e, 30, "three inserts")
    finally:
        stop.set()
        runner.join(timeout=30)
    schema = {k.decode(): orjson.loads(v)["name"] for k, v in rdi_db.hgetall(f"rdi:schema:{stream}").items()}
    assert ([e["value"]["after"] for e in events], schema) == (
        [{"id": 1, "v": 1}, {"id": 2, "v": 2, "c": '{"k": 1}'}, {"id": 3, "c": "[]"}],
        {"id": None, "c": "io.debezium.data.Json"},
    )


def test_configured_keys_and_columns_of_a_table_without_a_primary_key(
    tmp_path: Path, mysql_url: str, mysql_db: str, rdi_db: redis.Redis
) -> None:
    execute(mysql_url, "CREATE TABLE nopk (code varchar(10) NOT NULL, v int, secret varchar(10))",
            "INSERT INTO nopk VALUES ('b', 2, 's'), ('a', 1, 's')", database=mysql_db)  # fmt: skip
    tables = f"    tables:\n      {mysql_db}.nopk:\n        columns: [code, v]\n        keys: [code]\n"
    settings = settings_for(tmp_path, mysql_url, mysql_db, tables=tables, chunk=1)
    stop = threading.Event()
    runner = threading.Thread(target=MySqlCollector(settings, rdi_db, stop=stop).run, daemon=True)
    stream = f"data:my.{mysql_db}.nopk"
    try:
        runner.start()
        wait_for(lambda: rdi_db.hget("rdi:collector:my:snapshot", "__state__") and rdi_db.xlen(stream) == 2, 30,
                 "the snapshot")  # fmt: skip
        execute(mysql_url, "UPDATE nopk SET v = 3 WHERE code = 'a'", database=mysql_db)
        events = wait_for(lambda: (e := staged(rdi_db, stream)) and len(e) == 3 and e, 30, "the update")
    finally:
        stop.set()
        runner.join(timeout=30)
    assert [(e["key"], e["value"]["op"], e["value"]["after"]) for e in events] == [
        ({"code": "a"}, "r", {"code": "a", "v": 1}),
        ({"code": "b"}, "r", {"code": "b", "v": 2}),
        ({"code": "a"}, "u", {"code": "a", "v": 3}),
    ]


def test_a_table_without_any_key_is_snapshotted_in_one_pass_with_null_keys(
    tmp_path: Path, mysql_url: str, mysql_db: str, rdi_db: redis.Redis
) -> None:
    execute(mysql_url, "CREATE TABLE logs (line int)", "INSERT INTO logs VALUES (1), (2), (3), (4)",
            database=mysql_db)  # fmt: skip
    settings = settings_for(tmp_path, mysql_url, mysql_db, chunk=2, options={"snapshot.mode": "initial_only"})
    MySqlCollector(settings, rdi_db).run()
    events = staged(rdi_db, f"data:my.{mysql_db}.logs")
    progress = orjson.loads(rdi_db.hget("rdi:collector:my:snapshot", f"{mysql_db}.logs") or b"{}")
    assert ([(e["key"], e["value"]["after"]) for e in events], progress["done"]) == (
        [(None, {"line": 1}), (None, {"line": 2}), (None, {"line": 3}), (None, {"line": 4})],
        True,
    )


def test_the_collectors_own_server_id_is_refused(
    tmp_path: Path, mysql_url: str, mysql_db: str, rdi_db: redis.Redis
) -> None:
    settings = settings_for(tmp_path, mysql_url, mysql_db, options={"database.server.id": 1})
    address = f"{settings.host}:{settings.port}"
    with pytest.raises(FatalError, match=re.escape(
        f"the MariaDB server at {address} is not set up for change capture: `server_id` 1 is the collector's own "
        "`database.server.id`; choose another one (set them in the server's configuration and restart it)"
    )):  # fmt: skip
        MySqlCollector(settings, rdi_db).run()


def test_compressed_binlog_events_stop_the_collector_instead_of_being_dropped(
    tmp_path: Path, mysql_url: str, mysql_db: str, rdi_db: redis.Redis
) -> None:
    execute(mysql_url, f"CREATE TABLE `{mysql_db}`.blobs (id int PRIMARY KEY, b text)")
    settings = settings_for(tmp_path, mysql_url, mysql_db)
    errors: list[BaseException] = []
    stop = threading.Event()

    def run() -> None:
        try:
            MySqlCollector(settings, rdi_db, stop=stop).run()
        except BaseException as exc:
            errors.append(exc)

    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    try:
        wait_for(lambda: rdi_db.hget("rdi:collector:my:snapshot", "__state__"), 30, "the snapshot")
        execute(mysql_url, "SET GLOBAL log_bin_compress = ON")
        try:  # a new session: it compresses events above log_bin_compress_min_len (256 bytes)
            execute(mysql_url, "INSERT INTO blobs VALUES (1, repeat('x', 5000))", database=mysql_db)
        finally:
            execute(mysql_url, "SET GLOBAL log_bin_compress = OFF")
        runner.join(timeout=30)
    finally:
        stop.set()
        runner.join(timeout=30)
    assert [str(e) for e in errors] == [
        "the binlog holds a compressed event WRITE_ROWS_COMPRESSED_EVENT_V1 (log_bin_compress=ON), which the "
        "collector cannot read; turn binlog compression off and take a new snapshot (changes in compressed events "
        "are not captured)"
    ]


def binlog_dumps(mysql_url: str, *, kill: bool = False) -> int:
    """How many binlog dump connections the server has; ``kill`` ends them (as a network cut would)."""
    conn = connect(mysql_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%%'")
            ids = [row[0] for row in cur.fetchall()]
            for thread in ids if kill else ():
                cur.execute(f"KILL {int(thread)}")
        return len(ids)
    finally:
        conn.close()


def test_a_lost_binlog_connection_is_reopened_from_the_last_staged_position(
    tmp_path: Path, mysql_url: str, mysql_db: str, rdi_db: redis.Redis
) -> None:
    fill(mysql_url, mysql_db, 10)
    settings = settings_for(tmp_path, mysql_url, mysql_db)
    stop = threading.Event()
    runner = threading.Thread(target=MySqlCollector(settings, rdi_db, stop=stop).run, daemon=True)
    stream = f"data:my.{mysql_db}.orders"
    try:
        runner.start()
        wait_for(lambda: rdi_db.hget("rdi:collector:my:snapshot", "__state__"), 30, "the snapshot")
        with Load(mysql_url, mysql_db, first_new_id=1000, rows=10, bulk_every=150) as load:
            for _ in range(3):
                wait_for(lambda: binlog_dumps(mysql_url), 30, "the collector's binlog connection")
                time.sleep(1.0)  # it streams for a while, then the connection breaks
                binlog_dumps(mysql_url, kill=True)
        final = table_state(mysql_url, mysql_db)
        wait_for(lambda: replay(staged(rdi_db, stream)) == final, 60, "staging to reach the table's state")
        events = staged(rdi_db, stream)
    finally:
        stop.set()
        runner.join(timeout=30)
    assert (streamed_counters(events) == load.counters, len(load.counters) > 100) == (True, True)


def purge_binlogs(mysql_url: str) -> None:
    """Starts a new binlog file and purges every older one."""
    conn = connect(mysql_url)
    try:
        with conn.cursor() as cur:
            cur.execute("FLUSH BINARY LOGS")
            cur.execute("SHOW MASTER STATUS")
            current = cur.fetchone()[0]

            def purged() -> bool:  # MariaDB keeps a file until its binlog checkpoint moved on: retry
                cur.execute(f"PURGE BINARY LOGS TO '{current}'")
                cur.execute("SHOW BINARY LOGS")
                return [row[0] for row in cur.fetchall()] == [current]

            wait_for(purged, 30, "the binlogs to be purged")
    finally:
        conn.close()


def test_a_purged_binlog_position_is_replaced_by_a_new_snapshot(
    tmp_path: Path, mysql_url: str, mysql_db: str, rdi_db: redis.Redis
) -> None:
    fill(mysql_url, mysql_db, 10)
    settings = settings_for(tmp_path, mysql_url, mysql_db, options={"snapshot.mode": "initial_only"})
    MySqlCollector(settings, rdi_db).run()  # snapshot, and the offset at its position
    execute(mysql_url, "INSERT INTO orders VALUES (11, 1, 'lost')", database=mysql_db)
    purge_binlogs(mysql_url)
    settings = settings_for(tmp_path, mysql_url, mysql_db)
    stop = threading.Event()
    runner = threading.Thread(target=MySqlCollector(settings, rdi_db, stop=stop).run, daemon=True)
    stream = f"data:my.{mysql_db}.orders"
    try:
        runner.start()
        events = wait_for(lambda: (e := staged(rdi_db, stream)) and len(e) >= 21 and e, 30, "a second snapshot")
    finally:
        stop.set()
        runner.join(timeout=30)
    assert ([e["key"]["id"] for e in events[10:]], replay(events)) == (
        list(range(1, 12)),
        table_state(mysql_url, mysql_db),
    )


@pytest.mark.slow
def test_an_error_1236_while_the_binlog_still_holds_the_position_is_retried_not_resnapshotted(
    tmp_path: Path, mysql_url: str, mysql_db: str, rdi_db: redis.Redis
) -> None:
    """A stored GTID ahead of the server (restored server, another primary) gets error 1236 like a purge; the
    binlog still holds everything after it, so a new snapshot would be wrong: the error is raised to retry."""
    fill(mysql_url, mysql_db, 10)
    settings = settings_for(tmp_path, mysql_url, mysql_db, options={"snapshot.mode": "initial_only"})
    first = MySqlCollector(settings, rdi_db)
    first.run()
    field = first.offset_field
    offset = orjson.loads(rdi_db.hget(keys.DEBEZIUM_OFFSETS, field))
    offset["gtids"] = _ahead(offset["gtids"])
    rdi_db.hset(keys.DEBEZIUM_OFFSETS, field, orjson.dumps(offset))
    stream = f"data:my.{mysql_db}.orders"
    stop = threading.Event()
    raised: list[BaseException] = []

    def run() -> None:
        try:
            MySqlCollector(settings_for(tmp_path, mysql_url, mysql_db), rdi_db, stop=stop).run()
        except BaseException as exc:
            raised.append(exc)

    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    try:
        wait_for(lambda: raised or len(staged(rdi_db, stream)) > 10, 30, "the error or a second snapshot")
    finally:
        stop.set()
        runner.join(timeout=30)
    assert len(staged(rdi_db, stream)) == 10  # no second snapshot
    assert isinstance(raised[0], RetryableError) and "1236" in str(raised[0]), raised


def test_binlog_has_tells_a_purged_position_from_a_kept_one(mysql_url: str, mysql_db: str) -> None:
    fill(mysql_url, mysql_db, 1)
    conn = connect(mysql_url)
    try:
        text = current_position(conn, mariadb=True).gtids
        before = GtidState.parse(text, mariadb=True)
        execute(mysql_url, "INSERT INTO orders VALUES (2, 1, 'purged')", database=mysql_db)
        kept = (binlog_has(conn, before), binlog_has(conn, GtidState.parse(_ahead(text), mariadb=True)))
        purge_binlogs(mysql_url)
        assert (*kept, binlog_has(conn, before)) == (True, True, False)
    finally:
        conn.close()


def _ahead(gtids: str) -> str:
    domain, server, seq = gtids.split("-")
    return f"{domain}-{server}-{int(seq) + 1_000_000}"


def test_sigkill_at_random_points_loses_and_duplicates_nothing(
    tmp_path: Path, mysql_url: str, mysql_db: str, rdi_db: redis.Redis, redis_url: str
) -> None:
    fill(mysql_url, mysql_db, 100_000)
    write_pipeline(tmp_path, mysql_url, database=mysql_db, chunk=200)
    command = [sys.executable, "-m", "rdi", "--rdi-url", redis_url, "collector", "--dir", str(tmp_path),
               "--source", "my"]  # fmt: skip
    env = {**os.environ, "SOURCE_DB_PASSWORD": "root"}
    rng = random.Random(20261128)
    stream = f"data:my.{mysql_db}.orders"
    kills = 0
    process: subprocess.Popen[bytes] | None = None
    log = tmp_path / "collector.log"
    load = Load(mysql_url, mysql_db, first_new_id=1_000_000, rows=100_000, bulk_every=300)
    try:
        with log.open("ab") as out:
            while kills < 22:
                process = subprocess.Popen(command, env=env, stdout=out, stderr=out)
                if kills == 0:  # the load starts once the snapshot's position is fixed: all it commits is streamed
                    wait_for(lambda: rdi_db.hget("rdi:collector:my:snapshot", "__state__"), 30, "the snapshot")
                    load.__enter__()
                time.sleep(rng.uniform(0.3, 3.0))  # startup takes ~0.5 s: kills land in snapshot and in streaming
                process.send_signal(signal.SIGKILL)
                process.wait()
                kills += 1
        load.__exit__()
        final = table_state(mysql_url, mysql_db)
        with log.open("ab") as out:
            process = subprocess.Popen(command, env=env, stdout=out, stderr=out)
            wait_for(lambda: replay(staged(rdi_db, stream)) == final, 120, "staging to reach the table's state")
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
        events = staged(rdi_db, stream)
        snapshot_keys = [e["key"]["id"] for e in events if e["value"]["op"] == "r"]
        assert (
            len(snapshot_keys) == len(set(snapshot_keys)),
            set(range(1, 100_001)) <= set(snapshot_keys) | {e["key"]["id"] for e in events},
            streamed_counters(events) == load.counters,
            "resuming the interrupted snapshot" in log.read_text(),  # some kills did land inside the snapshot
            len(load.counters) - len(set(load.counters)),
            any(e["value"]["after"] and e["value"]["after"]["note"] == "bulk" for e in events),
        ) == (True, True, True, True, 0, True), log.read_text()[-3000:]
    finally:
        load.__exit__()
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
