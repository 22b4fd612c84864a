"""Write-behind capture faults: a replication gap, the keyspace-notification fallback, expiry."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from rdi import keys

from ._redis_capture import AppRedis, Capture, capture_source, converged, wait_for, write_pipeline

pytestmark = pytest.mark.redis

PATTERNS = {"customers": "cust:*", "tags": "tags:*"}


def _entries(rdi: redis.Redis, source: str) -> list[dict[str, Any]]:
    """Every entry of the source's streams, in the order they were added (entry ids across streams)."""
    found = [(entry_id, orjson.loads(fields[b"value"])) for stream in rdi.scan_iter(match=f"wb:{source}.*")
             for entry_id, fields in rdi.xrange(stream)]  # fmt: skip
    return [value for _, value in sorted(found, key=lambda e: tuple(map(int, e[0].split(b"-"))))]


def test_a_gap_in_the_backlog_is_reconciled_with_the_deletes_missed(
    tmp_path: Path, rdi_db: redis.Redis, redis_url: str
) -> None:
    with AppRedis(tmp_path, "--repl-backlog-size", "16kb") as app, capture_source(rdi_db) as source:
        a = app.client
        capture = Capture(write_pipeline(tmp_path, source, app.port, PATTERNS), source, redis_url)
        try:
            capture.start()
            for i in range(10):
                a.hset(f"cust:{i}", "name", f"n{i}")
            wait_for(lambda: converged(rdi_db, a, source, PATTERNS), "first convergence", capture)
            before = len(_entries(rdi_db, source))
            assert capture.kill(signal.SIGTERM) == 0
            a.delete(*[f"cust:{i}" for i in range(5)])  # deleted while the capture is down
            for i in range(200):  # ~50 KB: more than the 16 KB backlog holds
                a.hset(f"cust:{i + 10}", "name", "x" * 200)
            capture.start()
            wait_for(lambda: converged(rdi_db, a, source, PATTERNS), "convergence after the gap", capture)
        finally:
            capture.stop()
        after = _entries(rdi_db, source)[before:]
    reconciled = {(e["op"], e["source"]["key"]) for e in after if e["source"]["snapshot"] == "true"}
    deletes = {("d", f"cust:{i}") for i in range(5)}
    assert (deletes <= reconciled, len(reconciled)) == (True, 205)


def test_without_replication_or_script_rights_the_capture_follows_keyspace_notifications(
    tmp_path: Path, rdi_db: redis.Redis, redis_url: str
) -> None:
    with AppRedis(tmp_path) as app, capture_source(rdi_db) as source:
        a = app.client
        # Neither replication nor scripts: keyspace notifications, and values read with pipelines.
        a.execute_command("ACL", "SETUSER", "app", "on", ">app-pw", "~*", "&*", "+@all", "-psync", "-replconf",
                          "-@scripting")  # fmt: skip
        # No periodic reconciliation during the test: only the one after the reconnection can find cust:2.
        folder = write_pipeline(tmp_path, source, app.port, PATTERNS, user="app", password="APP_PW",
                                advanced={"rdi.capture.reconcile.interval.s": 3600})  # fmt: skip
        capture = Capture(folder, source, redis_url, env={"APP_PW": "app-pw"})
        try:
            a.hset("cust:0", "name", "before the start")
            capture.start().wait_running(rdi_db)
            a.hset("cust:1", "name", "ann")
            a.sadd("tags:1", "a", "b")
            a.execute_command("JSON.SET", "cust:json", "$", '{"n": 1}')
            a.zadd("cust:rank", {"x": 1.5})
            wait_for(lambda: converged(rdi_db, a, source, PATTERNS), "convergence", capture)
            marker = len(_entries(rdi_db, source))
            a.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
            a.hset("cust:2", "name", "written while the capture reconnects")  # no notification reaches it
            a.delete("cust:0")
            wait_for(lambda: converged(rdi_db, a, source, PATTERNS), "convergence after the kill", capture)
            code = capture.kill(signal.SIGTERM)
        finally:
            capture.stop()
        modes = (rdi_db.hget(keys.capture_offset(source), "mode"), rdi_db.hget(keys.collector_status(source), "mode"))
        after = {(e["op"], e["source"]["key"], e["source"]["snapshot"]) for e in _entries(rdi_db, source)[marker:]}
    assert (code, modes, after) == (
        0,
        (b"keyspace", b"keyspace"),
        {("c", "cust:2", "true"), ("d", "cust:0", "true")},
    )


def test_keyspace_notifications_off_and_not_allowed_is_a_one_line_error(
    tmp_path: Path, rdi_db: redis.Redis, redis_url: str
) -> None:
    with AppRedis(tmp_path) as app, capture_source(rdi_db) as source:
        app.client.execute_command("ACL", "SETUSER", "app", "on", ">app-pw", "~*", "&*", "+@all", "-psync",
                                   "-replconf", "-config")  # fmt: skip
        folder = write_pipeline(tmp_path, source, app.port, PATTERNS, user="app", password="APP_PW")
        rdi = str(Path(sys.executable).parent / "rdi")
        done = subprocess.run(
            [rdi, "--rdi-url", redis_url, "collector", "--source", source, "--dir", str(folder)],
            env={"APP_PW": "app-pw", "PATH": str(Path(sys.executable).parent)},
            capture_output=True,
            text=True,
            timeout=120,
        )
    errors = [line.split(": ", 1)[1] for line in done.stderr.splitlines() if " ERROR " in line]
    assert (done.returncode, errors) == (
        1,
        [
            f"the Redis at `127.0.0.1:{app.port}` does not publish keyspace notifications and refused CONFIG SET "
            "(this user has no permissions to run the 'config|set' command); set `notify-keyspace-events KA` on it"
        ],
    )


@pytest.mark.parametrize("case", ["following", "capture-down", "renamed-while-down"])
def test_an_expired_key_is_deleted_with_expired_true_and_a_del_with_false(
    tmp_path: Path, rdi_db: redis.Redis, redis_url: str, case: str
) -> None:
    """``capture-down``: the capture never read the key with its TTL; the PEXPIREAT in the resumed stream says it
    expired (with `propagate_expired` off a plain delete would wrongly remove the target's row).
    ``renamed-while-down``: given a TTL, then renamed out of the pattern before that time — not an expiry, even
    though the capture only reads it after the time passed."""
    down = case != "following"
    with AppRedis(tmp_path) as app, capture_source(rdi_db) as source:
        a = app.client
        capture = Capture(write_pipeline(tmp_path, source, app.port, PATTERNS), source, redis_url)
        try:
            capture.start().wait_running(rdi_db, "streaming")
            a.hset("cust:1", "name", "expires")
            a.hset("cust:2", "name", "deleted")
            # staged first: a key that lives shorter than the capture's lag is never seen at all
            wait_for(lambda: converged(rdi_db, a, source, PATTERNS), "both staged", capture)
            if down:
                assert capture.kill(signal.SIGTERM) == 0
            a.pexpire("cust:1", 300 if down else 1000)
            a.delete("cust:2")
            if case == "renamed-while-down":
                a.rename("cust:1", "other:1")
                time.sleep(0.4)  # past cust:1's expire-at
            if down:
                wait_for(lambda: not a.exists("cust:1"), "the expiry", capture)
                capture.start()
            # Redis expires the key by itself (active expiry), and the replication stream carries its DEL.
            wait_for(lambda: converged(rdi_db, a, source, PATTERNS) and not a.exists("cust:1"), "the expiry", capture)
        finally:
            capture.stop()
        got = [(e["op"], e["source"]["key"], e["source"]["expired"], e["source"]["snapshot"])
               for e in _entries(rdi_db, source)]  # fmt: skip
    assert sorted(got) == [
        ("c", "cust:1", False, "false"),
        ("c", "cust:2", False, "false"),
        ("d", "cust:1", case != "renamed-while-down", "false"),
        ("d", "cust:2", False, "false"),
    ]


def test_the_legacy_form_captures_the_rdi_db_but_never_rdi_keys(tmp_path: Path) -> None:
    with AppRedis(tmp_path) as app:
        folder = tmp_path / "legacy"
        (folder / "jobs").mkdir(parents=True)
        (folder / "config.yaml").write_text("connections:\n  out: {type: sqlite, database: o.db}\n")
        job = {"source": {"redis": {"key_pattern": "*"}},
               "output": [{"uses": "relational.write", "with": {"connection": "out", "schema": "", "table": "t",
                                                                  "keys": ["id"]}}]}  # fmt: skip
        (folder / "jobs" / "all.yaml").write_bytes(orjson.dumps(job))
        url = f"redis://127.0.0.1:{app.port}/0"
        a = app.client
        a.hset("rdi:pipeline:default:meta", "version", "1")  # an rdi key already there
        capture = Capture(folder, "legacy", url)
        try:
            capture.start().wait_running(a, "streaming")
            a.hset("cust:1", "name", "ann")
            a.sadd("tags:1", "x")
            stream = keys.write_behind_stream("legacy", 0, "*")
            wait_for(lambda: a.xlen(stream) >= 2 and a.hlen(keys.capture_known("legacy")) == 2, "the changes", capture)
            a.hset("cust:1", "name", "bob")
            wait_for(lambda: a.xlen(stream) >= 3, "the update", capture)
            code = capture.kill(signal.SIGTERM)
        finally:
            capture.stop()
        got = [(e["op"], e["source"]["key"]) for e in _entries(a, "legacy")]
    assert (code, got) == (0, [("c", "cust:1"), ("c", "tags:1"), ("u", "cust:1")])
