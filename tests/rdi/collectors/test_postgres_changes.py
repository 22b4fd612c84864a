"""What the PostgreSQL collector stages for each kind of change, on a real PostgreSQL (collector in-process)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from rdi import keys
from rdi.collectors.postgres import PostgresCollector

from ._pg_pipeline import Running, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
PLACEHOLDER = "__debezium_unavailable_value"


def ops(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(e["value"]["op"], e["key"], e["value"]["before"], e["value"]["after"]) for e in events]


def test_primary_key_change_is_a_delete_then_a_create(running: Callable[..., Running]) -> None:
    r = running("rdi_pk", "CREATE TABLE {s}.t (id int PRIMARY KEY, v int); INSERT INTO {s}.t VALUES (1, 10);")
    r.sql("UPDATE {s}.t SET id = 2 WHERE id = 1")
    assert ops(r.wait_events("t", 3)[1:]) == [
        ("d", {"id": 1}, {"id": 1, "v": None}, None),
        ("c", {"id": 2}, None, {"id": 2, "v": 10}),
    ]


def test_unchanged_toast_is_the_placeholder_unless_replica_identity_full(running: Callable[..., Running]) -> None:
    r = running(
        "rdi_toast",
        "CREATE TABLE {s}.t (id int PRIMARY KEY, v int, big text);"
        "INSERT INTO {s}.t SELECT 1, 0, string_agg(md5(i::text), '') FROM generate_series(1, 4000) AS i;",
    )
    r.sql("UPDATE {s}.t SET v = 1 WHERE id = 1")
    r.sql("ALTER TABLE {s}.t REPLICA IDENTITY FULL; UPDATE {s}.t SET v = 2 WHERE id = 1")
    snapshot, default_identity, full_identity = r.wait_events("t", 3)
    big = snapshot["value"]["after"]["big"]
    assert (
        len(big),
        ops([default_identity]),
        ops([full_identity]),
    ) == (
        128_000,
        [("u", {"id": 1}, None, {"id": 1, "v": 1, "big": PLACEHOLDER})],
        [("u", {"id": 1}, {"id": 1, "v": 1, "big": big}, {"id": 1, "v": 2, "big": big})],
    )


def test_truncate_is_staged_with_a_null_key(running: Callable[..., Running]) -> None:
    r = running("rdi_trunc", "CREATE TABLE {s}.t (id int PRIMARY KEY); INSERT INTO {s}.t VALUES (1);")
    r.sql("TRUNCATE {s}.t")
    truncate = r.wait_events("t", 2)[1]
    assert (truncate["key"], truncate["value"]["op"], truncate["value"]["source"]["table"]) == (None, "t", "t")


def test_new_column_and_new_table_are_picked_up_while_running(running: Callable[..., Running]) -> None:
    r = running("rdi_new", "CREATE TABLE {s}.t (id int PRIMARY KEY);")
    r.sql("ALTER TABLE {s}.t ADD COLUMN note text; INSERT INTO {s}.t VALUES (1, 'hi')")
    r.sql("CREATE TABLE {s}.n (id int PRIMARY KEY); INSERT INTO {s}.n VALUES (7)")
    t_events = r.wait_events("t", 1)
    n_events = r.wait_events("n", 1)  # rows written before it joined the publication come from its snapshot
    r.sql("INSERT INTO {s}.n VALUES (8)")
    n_events = r.wait_events("n", 2)
    assert (ops(t_events), [(e["value"]["op"], e["key"]) for e in n_events]) == (
        [("c", {"id": 1}, None, {"id": 1, "note": "hi"})],
        [("r", {"id": 7}), ("c", {"id": 8})],
    )


def test_a_table_split_into_partitions_keeps_each_key_in_one_stream(running: Callable[..., Running]) -> None:
    setup = (
        "CREATE TABLE {s}.t (id int PRIMARY KEY, v int); INSERT INTO {s}.t SELECT i, 0 FROM generate_series(1, 200) i;"
    )
    r = running("rdi_part", setup, **{"rdi.partitions": 2})
    r.sql("UPDATE {s}.t SET v = 1")
    wait_for(lambda: len(r.events("t", 0)) + len(r.events("t", 1)) == 400, 30, "400 events")
    by_stream = [{e["key"]["id"] for e in r.events("t", p)} for p in (0, 1)]
    counts = [len(r.events("t", p)) for p in (0, 1)]
    assert (by_stream[0] & by_stream[1], by_stream[0] | by_stream[1] == set(range(1, 201)), min(counts) > 100) == (
        set(),
        True,
        True,
    )


def test_snapshot_progress_is_in_the_status_hash(running: Callable[..., Running]) -> None:
    r = running("rdi_prog", "CREATE TABLE {s}.t (id int PRIMARY KEY); INSERT INTO {s}.t SELECT generate_series(1, 50);"
                "ANALYZE {s}.t;")  # fmt: skip
    assert r.rdi.hget(keys.collector_status("pg"), f"snapshot:{r.schema}.t") == b"50/50"


def test_idle_slot_follows_the_server_when_nothing_captured_changes(
    running: Callable[..., Running], pg_dsn: str
) -> None:
    r = running("rdi_idle", "CREATE TABLE {s}.t (id int PRIMARY KEY); CREATE TABLE public.rdi_idle_other (x int);")

    def confirmed() -> int:
        with psycopg.connect(pg_dsn) as conn:
            row = conn.execute("SELECT confirmed_flush_lsn - '0/0' FROM pg_replication_slots WHERE slot_name = %s",
                               [r.name]).fetchone()  # fmt: skip
            return int(row[0]) if row else 0

    before = confirmed()
    try:
        for _ in range(20):  # WAL the publication does not carry
            r.sql("INSERT INTO public.rdi_idle_other SELECT generate_series(1, 1000)")
        wait_for(lambda: confirmed() > before + 100_000, 30, "the slot's confirmed position to advance")
    finally:
        r.sql("DROP TABLE public.rdi_idle_other")
    assert confirmed() > before


def test_table_settings_columns_keys_and_snapshot_sql(running: Callable[..., Running]) -> None:
    tables = """    tables:
      rdi_cfg.a:
        columns: [id, shown]
      rdi_cfg.nokey:
        keys: [code]
      rdi_cfg.b:
        snapshot_sql: SELECT id, v FROM rdi_cfg.b WHERE v > 1
"""
    setup = (
        "CREATE TABLE {s}.a (id int PRIMARY KEY, shown text, hidden text); INSERT INTO {s}.a VALUES (1, 'x', 'y');"
        "CREATE TABLE {s}.nokey (code text NOT NULL, n int); ALTER TABLE {s}.nokey REPLICA IDENTITY FULL;"
        "INSERT INTO {s}.nokey VALUES ('k1', 1);"
        "CREATE TABLE {s}.b (id int PRIMARY KEY, v int); INSERT INTO {s}.b VALUES (1, 1), (2, 2);"
    )
    r = running("rdi_cfg", setup, tables)
    r.sql("UPDATE {s}.a SET hidden = 'z', shown = 'w'; UPDATE {s}.nokey SET n = 2")
    assert (ops(r.wait_events("a", 2)), ops(r.wait_events("nokey", 2)), ops(r.wait_events("b", 1))) == (
        [("r", {"id": 1}, None, {"id": 1, "shown": "x"}), ("u", {"id": 1}, None, {"id": 1, "shown": "w"})],
        [("r", {"code": "k1"}, None, {"code": "k1", "n": 1}),
         ("u", {"code": "k1"}, {"code": "k1", "n": 1}, {"code": "k1", "n": 2})],
        [("r", {"id": 2}, None, {"id": 2, "v": 2})],
    )  # fmt: skip


def test_parallel_snapshot_and_heartbeat_query(running: Callable[..., Running]) -> None:
    setup = (
        "CREATE TABLE {s}.x (id int PRIMARY KEY); INSERT INTO {s}.x SELECT generate_series(1, 3000);"
        "CREATE TABLE {s}.y (id int PRIMARY KEY); INSERT INTO {s}.y SELECT generate_series(1, 3000);"
        "CREATE TABLE {s}.beats (id serial PRIMARY KEY);"
    )
    options = {"snapshot.max.threads": 2, "heartbeat.interval.ms": 100,
               "heartbeat.action.query": "'INSERT INTO rdi_par.beats DEFAULT VALUES'"}  # fmt: skip
    r = running("rdi_par", setup, **options)
    wait_for(lambda: len(r.events("beats")) >= 3, 30, "three heartbeats, staged like any change")
    assert (len(r.events("x")), len(r.events("y"))) == (3000, 3000)


def test_a_full_rdi_database_pauses_the_capture_and_nothing_is_lost(running: Callable[..., Running]) -> None:
    r = running("rdi_full", "CREATE TABLE {s}.t (id int PRIMARY KEY);")
    r.rdi.set("ballast", b"x" * 20_000_000)  # so that small swings of used memory do not cross the threshold
    time.sleep(1)  # Redis frees the SET's 20 MB query buffer lazily: measure after that
    used = int(r.rdi.info("memory")["used_memory"])
    r.rdi.config_set("maxmemory", int(used / 0.9))  # 90 % used: above the 85 % threshold
    try:
        r.sql("INSERT INTO {s}.t VALUES (1)")
        time.sleep(1.5)
        staged_while_full = len(r.events("t"))
    finally:
        r.rdi.config_set("maxmemory", 0)
    assert (staged_while_full, ops(r.wait_events("t", 1))) == (0, [("c", {"id": 1}, None, {"id": 1})])


def test_an_invalidated_slot_is_replaced_by_a_new_snapshot(tmp_path: Path, pg_dsn: str, redis_url: str) -> None:
    name = "rdi_lost"

    def admin(text: str) -> None:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(text)  # type: ignore[arg-type]

    first = Running(tmp_path, pg_dsn, redis_url, name, "CREATE TABLE {s}.t (id int PRIMARY KEY, pad text);"
                    "INSERT INTO {s}.t VALUES (1, 'a');")  # fmt: skip
    first.__enter__()
    first.stop.set()
    first.thread.join(timeout=30)
    try:
        admin("ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'")
        admin("SELECT pg_reload_conf()")
        for i in range(2, 40):  # > 1 MB of WAL while the collector is away, then let PostgreSQL drop it
            first.sql(f"INSERT INTO {{s}}.t SELECT {i * 1000} + g, repeat('x', 2000) FROM generate_series(1, 300) g")
            admin("SELECT pg_switch_wal()")
        admin("CHECKPOINT")
        with psycopg.connect(pg_dsn) as conn:
            row = conn.execute("SELECT wal_status FROM pg_replication_slots WHERE slot_name = %s", [name]).fetchone()
        lost = row[0] if row else None
    finally:
        admin("ALTER SYSTEM RESET max_slot_wal_keep_size")
        admin("SELECT pg_reload_conf()")
    first.stop.clear()
    first.thread = threading.Thread(
        target=PostgresCollector(first.settings, first.rdi, stop=first.stop).run, daemon=True
    )
    try:
        first.thread.start()
        wait_for(lambda: len(first.events("t")) >= 1 + 1 + 38 * 300, 60, "the new snapshot")
        ids = [e["key"]["id"] for e in first.events("t") if e["value"]["op"] == "r"]
        assert (lost, len(ids), len(set(ids))) == ("lost", 1 + 1 + 38 * 300, 1 + 38 * 300)
    finally:
        first.__exit__()
