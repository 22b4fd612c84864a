"""The write-behind capture (`rdi collector` on a `type: redis` source) against real redis-server processes."""

from __future__ import annotations

import random
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from rdi import keys

from ._redis_capture import (
    AppRedis,
    Capture,
    capture_source,
    converged,
    stream_entries,
    wait_for,
    write_pipeline,
)

pytestmark = pytest.mark.redis

PATTERNS = {"customers": "cust:*", "docs": "doc:*", "tags": "tags:*", "ranks": "rank:*"}


def _ops(entries: list[dict[str, Any]]) -> list[tuple[str, str, Any, Any]]:
    return [(e["op"], e["source"]["key"], e["before"], e["after"]) for e in entries]


def test_each_change_is_staged_with_its_before_image(tmp_path: Path, rdi_db: redis.Redis, redis_url: str) -> None:
    with AppRedis(tmp_path) as app, capture_source(rdi_db) as source:
        folder = write_pipeline(tmp_path, source, app.port, PATTERNS)
        capture = Capture(folder, source, redis_url).start()
        try:
            a = app.client

            def step(*command: object) -> None:  # one write, then wait until it is staged
                a.execute_command(*command)
                wait_for(lambda: converged(rdi_db, a, source, PATTERNS), f"`{command}` staged", capture)

            step("HSET", "cust:1", "name", "ann", "mail", "a@x")
            step("HSET", "misc:1", "x", "1")
            step("HDEL", "cust:1", "mail")
            step("JSON.SET", "doc:1", "$", '{"n": 1, "ok": true, "sub": {"l": [1, 2]}}')
            step("JSON.SET", "doc:1", "$.n", "2")
            step("SADD", "tags:1", "b", "a")
            step("ZADD", "rank:1", 2.5, "x", 1, "y")
            step("DEL", "cust:1")
            step("JSON.SET", "doc:2", "$", "[1, 2]")
            assert capture.kill(signal.SIGTERM) == 0
        finally:
            capture.stop()
        entries = stream_entries(rdi_db, source)
    assert {stream: _ops(e) for stream, e in entries.items()} == {
        f"wb:{source}.0.cust:*": [
            ("c", "cust:1", None, {"name": "ann", "mail": "a@x"}),
            ("u", "cust:1", {"name": "ann", "mail": "a@x"}, {"name": "ann"}),
            ("d", "cust:1", {"name": "ann"}, None),
        ],
        f"wb:{source}.0.doc:*": [
            ("c", "doc:1", None, {"n": 1, "ok": True, "sub": {"l": [1, 2]}}),
            ("u", "doc:1", {"n": 1, "ok": True, "sub": {"l": [1, 2]}}, {"n": 2, "ok": True, "sub": {"l": [1, 2]}}),
            ("c", "doc:2", None, {"value": [1, 2]}),
        ],
        f"wb:{source}.0.tags:*": [("c", "tags:1", None, {"members": ["a", "b"]})],
        f"wb:{source}.0.rank:*": [
            ("c", "rank:1", None, {"members": [{"member": "y", "score": 1.0}, {"member": "x", "score": 2.5}]})
        ],
    }


SCRIPT = "redis.call('HSET', KEYS[1], 'by', ARGV[1]) redis.call('SADD', KEYS[2], ARGV[1]) return 1"


def _random_op(a: redis.Redis, rng: random.Random) -> None:
    def key(prefix: str, n: int = 12) -> str:
        return f"{prefix}:{rng.randrange(n)}"

    def any_key() -> str:
        return key(rng.choice(["cust", "doc", "tags", "rank", "misc"]))

    pick = rng.randrange(20)
    value = str(rng.randrange(1000))
    try:
        if pick <= 2:
            a.hset(key(rng.choice(["cust", "cust", "misc"])), f"f{rng.randrange(4)}", value)
        elif pick == 3:
            a.hdel(key("cust"), f"f{rng.randrange(4)}")
        elif pick == 4:
            ok = rng.choice(["true", "false"])
            doc = f'{{"n": {value}, "l": [{value}, "x"], "ok": {ok}}}'
            a.execute_command("JSON.SET", key("doc"), "$", doc)
        elif pick == 5:
            a.execute_command("JSON.SET", key("doc"), "$.n", value)
        elif pick == 6:
            a.execute_command("JSON.DEL", key("doc"), rng.choice(["$.l", "$"]))
        elif pick == 7:
            a.sadd(key("tags"), f"m{rng.randrange(5)}")
        elif pick == 8:
            a.srem(key("tags"), f"m{rng.randrange(5)}")
        elif pick == 9:
            a.zadd(key("rank"), {f"m{rng.randrange(5)}": rng.randrange(100) / 4})
        elif pick == 10:
            a.zrem(key("rank"), f"m{rng.randrange(5)}")
        elif pick == 11:
            a.delete(any_key())
        elif pick == 12:
            a.unlink(any_key(), any_key())
        elif pick == 13:
            src, dst = rng.choice([("cust", "cust"), ("cust", "misc"), ("misc", "cust")])
            a.rename(key(src), key(dst))
        elif pick == 14:
            a.expire(any_key(), rng.randrange(1, 3))
        elif pick == 15:
            a.persist(any_key())
        elif pick == 16:
            with a.pipeline(transaction=True) as tx:
                tx.hset(key("cust"), "tx", value)
                tx.sadd(key("tags"), f"m{rng.randrange(5)}")
                tx.delete(key("rank"))
                tx.execute()
        elif pick == 17:
            a.eval(SCRIPT, 2, key("cust"), key("tags"), value)
        else:
            a.hset(key("misc"), "x", value)
    except redis.ResponseError:
        pass  # WRONGTYPE, no such key (RENAME), ...: the workload goes on


@pytest.mark.slow
def test_staging_replays_to_the_application_state_after_kills_at_random_points(
    tmp_path: Path, rdi_db: redis.Redis, redis_url: str
) -> None:
    rng = random.Random(20261128)
    with AppRedis(tmp_path, "--repl-backlog-size", "64mb") as app, capture_source(rdi_db) as source:
        folder = write_pipeline(tmp_path, source, app.port, PATTERNS, advanced={"rdi.capture.chunk.keys": 7})
        capture = Capture(folder, source, redis_url)
        writer = redis.Redis(port=app.port)
        stop = threading.Event()

        def workload() -> None:
            local = random.Random(rng.random())
            while not stop.is_set():
                _random_op(writer, local)

        try:
            kills = 0
            for round_ in range(12):
                stop.clear()
                thread = threading.Thread(target=workload)
                thread.start()
                capture.start().wait_running(rdi_db)
                time.sleep(rng.uniform(0, 1.5))  # a random point of the capture's life, not a synchronisation
                if round_ == 6:
                    writer.flushdb()
                capture.kill(signal.SIGKILL)
                kills += 1
                stop.set()
                thread.join()
            capture.start()
            written = int(app.client.info("replication")["master_repl_offset"])

            def caught_up() -> dict[str, Any] | None:
                offset = int(rdi_db.hget(keys.capture_offset(source), "offset") or 0)
                return converged(rdi_db, app.client, source, PATTERNS) if offset >= written else None

            # Keys still expire afterwards: the state compared is the one the streams and the known hash matched.
            state = wait_for(caught_up, "the capture to catch up", capture, timeout=180)["state"]
            code = capture.kill(signal.SIGTERM)
        finally:
            stop.set()
            capture.stop()
            writer.close()
    assert (kills, code, sum(map(len, state.values())) > 10) == (12, 0, True)
