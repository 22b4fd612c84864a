"""The replica-protocol client (rdi.collectors.redis_replication) against real redis-server masters."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rdi.collectors.redis_replication import Command, ReplicaClient, ReplicationRefused

from ._redis_capture import DEADLINE_S, AppRedis

pytestmark = pytest.mark.redis


def _read_until(client: ReplicaClient, app: AppRedis) -> list[Command]:
    """Every command until the client's offset is the master's (the stream is quiet: nothing else writes)."""
    out: list[Command] = []
    deadline = time.monotonic() + DEADLINE_S
    while client.offset != int(app.client.info("replication")["master_repl_offset"]):
        assert time.monotonic() < deadline, "the stream did not reach the master's offset"
        out += client.read(0.1)
    return out


def _writes(commands: list[Command]) -> list[list[bytes]]:
    return [c.args for c in commands if c.args[0].upper() not in (b"SELECT", b"PING", b"REPLCONF")]


@pytest.mark.parametrize("diskless", ["no", "yes"])
def test_a_full_sync_skips_the_rdb_and_follows_the_stream(tmp_path: Path, diskless: str) -> None:
    with AppRedis(tmp_path, "--repl-diskless-sync", diskless) as app:
        pipe = app.client.pipeline(transaction=False)
        for i in range(3000):  # a few MB of RDB, received in many chunks
            pipe.hset(f"big:{i}", mapping={f"f{j}": "x" * 100 for j in range(10)})
        pipe.execute()
        client = ReplicaClient("127.0.0.1", app.port)
        try:
            reply = client.psync(None, None)
            app.client.hset("cust:1", "name", "ann")
            app.client.execute_command("JSON.SET", "doc:1", "$", '{"a": 1}')
            commands = _read_until(client, app)
        finally:
            client.close()
    ends = [c.end for c in commands]
    assert (reply.full, _writes(commands), ends == sorted(ends)) == (
        True,
        [[b"HSET", b"cust:1", b"name", b"ann"], [b"JSON.SET", b"doc:1", b"$", b'{"a": 1}']],
        True,
    )


def test_a_restart_continues_from_the_offset_processed(tmp_path: Path) -> None:
    with AppRedis(tmp_path) as app:
        first = ReplicaClient("127.0.0.1", app.port)
        try:
            reply = first.psync(None, None)
            app.client.sadd("tags:1", "a")
            seen = _read_until(first, app)
            first.ack(seen[-1].end)
        finally:
            first.close()
        app.client.sadd("tags:1", "b")  # written while no replica is connected
        second = ReplicaClient("127.0.0.1", app.port)
        try:
            again = second.psync(reply.replid, seen[-1].end)
            after = _read_until(second, app)
            master = int(app.client.info("replication")["master_repl_offset"])
        finally:
            second.close()
    assert (again.full, again.replid, _writes(after), after[-1].end) == (
        False,
        reply.replid,
        [[b"SADD", b"tags:1", b"b"]],
        master,
    )


def test_a_user_without_replication_rights_is_refused_with_the_reason(tmp_path: Path) -> None:
    with AppRedis(tmp_path) as app:
        app.client.execute_command("ACL", "SETUSER", "app", "on", ">secret-pw", "~*", "+@all", "-psync", "-replconf")
        with pytest.raises(ReplicationRefused) as refused:
            ReplicaClient("127.0.0.1", app.port, user="app", password="secret-pw")
    assert ("NOPERM" in str(refused.value), "secret-pw" in str(refused.value)) == (True, False)
