"""End to end, write-behind: an application Redis → the real capture (`rdi collector`) → the real
``flows.write_behind`` dataflow → real PostgreSQL, MariaDB and SQLite tables.

The fault test runs a random workload of every command family on tracked and untracked keys while the capture and
the processor are each SIGKILLed at ten random points or more; at the end each target table must hold exactly the
rows the Redis keys say. The gap test makes the replication backlog too small on purpose.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import pytest
import redis

from rdi.api.dlq import dlq_counts
from rdi.api.observed import stream_counts
from tests.flows._ingest import wait_for
from tests.flows._write_behind import (
    COLUMNS,
    TABLES_SQL,
    AppLoad,
    SqlTargets,
    WriteBehind,
    expected_rows,
    persist_all,
    random_change,
)
from tests.rdi.collectors._redis_capture import AppRedis

TARGETS = ("pg", "maria", "lite")

JOBS = {
    "customers": (
        'redis: {key_pattern: "cust:*", row_format: full, propagate_expired: true}',
        """keys: [{rkey: key.key}]
mapping: [{name: after.name}, {city: after.city}, {visits: after.visits}]
load_strategy: UPSERT""",
    ),
    "docs": (
        'redis: {key_pattern: "doc:*", row_format: full, propagate_expired: true}',
        """keys: [{rkey: key.key}]
mapping: [{title: after.title}, {qty: after.qty}]
load_strategy: UPSERT""",
    ),
    "tags": (
        'redis: {key_pattern: "tag:*", row_format: full, propagate_expired: true}',
        """foreach: "m: after.members"
keys: [{rkey: key.key}, {member: m}]
load_strategy: UPSERT""",
    ),
    "ranks": (
        'redis: {key_pattern: "rank:*", row_format: full, propagate_expired: true}',
        """foreach: "m: after.members"
keys: [{rkey: key.key}, {member: m.member}]
mapping: [{score: m.score}]
load_strategy: UPSERT""",
    ),
}
"""Table → (the job's `source`, the `with` settings of its `relational.write` beside connection/schema/table)."""


def _jobs(targets: SqlTargets) -> dict[str, str]:
    """Every job writes its table in the three targets."""
    return {
        table: f"source:\n  {source}\noutput:\n{targets.outputs(table, settings)}"
        for table, (source, settings) in JOBS.items()
    }


@contextmanager
def running_write_behind(
    tmp_path: Path, redis_url: str, pg_dsn: str, mysql_url: str, app: AppRedis, *, start: bool = True
) -> Iterator[WriteBehind]:
    """The RDI DB is the test Redis (flushed); the pipeline is written to ``tmp_path/pipeline``."""
    rdi = redis.Redis.from_url(redis_url)
    rdi.flushdb()
    schema = f"wb_{uuid.uuid4().hex[:10]}"
    targets = SqlTargets(pg_dsn, mysql_url, tmp_path / f"{schema}.db", schema)
    folder = tmp_path / "pipeline"
    (folder / "jobs").mkdir(parents=True)
    (folder / "config.yaml").write_text(f"""
sources:
  app:
    type: cdc
    connection: {{type: redis, host: 127.0.0.1, port: {app.port}}}
targets:{targets.config()}
processors:
  read_batch_timeout_ms: 20
  write_batch_size: 50
""")
    for name, text in _jobs(targets).items():
        (folder / "jobs" / f"{name}.yaml").write_text(text)
    targets.create(TABLES_SQL)
    run = WriteBehind(folder, redis_url, app, targets)
    try:
        if start:
            run.start_capture()
            run.start_processor()
        yield run
    finally:
        run.stop_all()
        targets.drop()
        rdi.flushdb()
        rdi.close()


def _assert_targets_equal_redis(run: WriteBehind, *, empty: bool = False) -> None:
    """Every table of every target holds exactly the rows the application Redis's keys say (``empty``: none)."""
    client = run.app.decoded()
    expected = expected_rows(client)
    assert any(expected.values()) is not empty, expected
    assert persist_all(client) == 0, "a key with a TTL could expire during the comparison"
    for target in TARGETS:
        for table, columns in COLUMNS.items():
            actual = run.targets.rows(target, table, columns)
            missing, extra = expected[table] - actual, actual - expected[table]
            assert not missing and not extra, (target, table, sorted(missing)[:5], sorted(extra)[:5])


def test_every_command_family_reaches_every_target(tmp_path: Path, redis_url: str, pg_dsn: str, mysql_url: str) -> None:
    with AppRedis(tmp_path / "app") as app, running_write_behind(tmp_path, redis_url, pg_dsn, mysql_url, app) as run:
        client = app.decoded()
        client.hset("cust:1", mapping={"name": "Ada", "city": "Oslo", "visits": "3"})
        client.json().set("doc:1", "$", {"title": "manual", "qty": 7})
        client.sadd("tag:1", "a", "b", "c")
        client.zadd("rank:1", {"x": 1.5, "y": 2.25})
        client.hset("other:1", "name", "untracked")
        run.settle()
        _assert_targets_equal_redis(run)
        client.hdel("cust:1", "city")
        client.json().delete("doc:1", "$.qty")
        client.srem("tag:1", "b")
        client.zrem("rank:1", "x")
        client.rename("cust:1", "cust:2")
        client.rename("tag:1", "other:tag")
        run.settle()
        _assert_targets_equal_redis(run)
        client.flushdb()
        run.settle()
        _assert_targets_equal_redis(run, empty=True)


def test_sigkill_capture_and_processor_at_random_points_converges(
    tmp_path: Path, redis_url: str, pg_dsn: str, mysql_url: str
) -> None:
    rng = random.Random(6)
    kills = {"capture": 0, "processor": 0}
    with AppRedis(tmp_path / "app") as app, running_write_behind(tmp_path, redis_url, pg_dsn, mysql_url, app) as run:
        with AppLoad(app, random_change, seed=6) as load:
            while min(kills.values()) < 10:
                time.sleep(rng.uniform(0.3, 4.0))  # a process needs ~1-3 s to start: kill it early and late
                role = rng.choice([r for r, n in kills.items() if n < 10] or list(kills))
                run.kill(role)
                kills[role] += 1
                if rng.random() < 0.5:
                    time.sleep(rng.uniform(0.0, 0.5))
                (run.start_capture if role == "capture" else run.start_processor)()
        assert load.count > 500
        persist_all(app.decoded())  # no EXPIRE of the workload may fire during the comparison
        run.settle(timeout=180)
        _assert_targets_equal_redis(run)
    assert min(kills.values()) >= 10


def test_replication_backlog_gap_is_reconciled(tmp_path: Path, redis_url: str, pg_dsn: str, mysql_url: str) -> None:
    with (
        AppRedis(tmp_path / "app", "--repl-backlog-size", "16kb") as app,
        running_write_behind(tmp_path, redis_url, pg_dsn, mysql_url, app) as run,
    ):
        client = app.decoded()
        for n in range(20):
            client.hset(f"cust:{n}", mapping={"name": f"before-{n}", "city": "Oslo", "visits": "1"})
        run.settle()
        run.stop("capture")
        rng = random.Random(1)
        for n in range(5):
            client.delete(f"cust:{n}")  # deletes during the outage must come out of the reconciliation
        for _ in range(3000):  # well over 16 KB of replication stream
            random_change(client, rng)
        run.start_capture()
        wait_for(lambda: b"gap" in run.log.read_bytes().lower(), 60, "the capture to report the gap", log=run.log)
        persist_all(client)
        run.settle(timeout=120)
        _assert_targets_equal_redis(run)


@pytest.mark.parametrize("propagate", [False, True])
def test_expired_keys_follow_propagate_expired(
    tmp_path: Path, redis_url: str, pg_dsn: str, mysql_url: str, propagate: bool
) -> None:
    flag = f"propagate_expired: {str(propagate).lower()}"
    with (
        AppRedis(tmp_path / "app") as app,
        running_write_behind(tmp_path, redis_url, pg_dsn, mysql_url, app, start=False) as run,
    ):
        job = run.folder / "jobs" / "customers.yaml"
        job.write_text(job.read_text().replace("propagate_expired: true", flag))
        run.start_capture()
        run.start_processor()
        client = app.decoded()
        client.hset("cust:gone", mapping={"name": "temp", "city": "Oslo", "visits": "1"})
        client.hset("cust:deleted", mapping={"name": "del", "city": "Rome", "visits": "2"})
        run.settle()
        client.pexpire("cust:gone", 300)
        client.delete("cust:deleted")
        wait_for(lambda: not client.exists("cust:gone"), 10, "the key to expire")
        run.settle()
        rows = {r[0] for r in run.targets.rows("pg", "customers", ("rkey",))}
        assert "cust:deleted" not in rows
        assert ("cust:gone" in rows) is (not propagate)


def test_a_refused_row_goes_to_the_dlq_and_a_redis_write_output_copies_the_key(
    tmp_path: Path, redis_url: str, pg_dsn: str, mysql_url: str
) -> None:
    """One job, four outputs: the three SQL tables and a hash in another Redis (`redis.write`, here the test
    Redis). A row PostgreSQL and MariaDB refuse (too long for VARCHAR(100); SQLite does not check) is
    dead-lettered, the rest of the batch commits; the API's status and DLQ listings see the write-behind stream."""
    with (
        AppRedis(tmp_path / "app") as app,
        running_write_behind(tmp_path, redis_url, pg_dsn, mysql_url, app, start=False) as run,
    ):
        config = run.folder / "config.yaml"
        copy = f"  copy:\n    connection: {{type: redis, host: 127.0.0.1, port: {urlparse(redis_url).port}}}\n"
        config.write_text(config.read_text().replace("targets:\n", "targets:\n" + copy))
        source, settings = JOBS["customers"]
        (run.folder / "jobs" / "customers.yaml").write_text(
            f"source:\n  {source}\noutput:\n{run.targets.outputs('customers', settings)}"
            "  - uses: redis.write\n    with:\n      connection: copy\n      data_type: hash\n"
            "      key: {expression: \"concat(['copy:', key.key])\", language: jmespath}\n"
        )
        run.start_capture()
        run.start_processor()
        client = app.decoded()
        client.hset("cust:ok", mapping={"name": "Ada", "city": "Oslo", "visits": "1"})
        client.hset("cust:long", mapping={"name": "x" * 150, "city": "Oslo", "visits": "2"})
        run.settle()
        rdi = redis.Redis.from_url(redis_url, decode_responses=True)
        for target in ("pg", "maria"):
            assert run.targets.rows(target, "customers", ("rkey", "name")) == {("cust:ok", "Ada")}
        assert rdi.hgetall("copy:cust:ok") == {"name": "Ada", "city": "Oslo", "visits": "1"}
        stream = "wb:app.0.cust:*"
        (dead,) = rdi.xrange(f"dlq:{stream}")
        assert '"cust:long"' in dead[1]["key"] and "refused the row" in dead[1]["reason_rejected"], dead
        assert dlq_counts(rdi) == {stream: 1}
        counts = stream_counts(rdi, "default", int(time.time() * 1000))
        assert counts[stream]["pending"] == 0 and counts[stream]["rejected"] == 1
