"""`rdi.connections`: target clients against the real test Redis, and the errors a user can cause."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from urllib.parse import urlparse

import pytest
import redis

from rdi.config import load_config_text
from rdi.config.targets import Target
from rdi.connections import RetryPolicy, TargetConnections, redis_client
from rdi.errors import BadRecordError, FatalError, RetryableError

ACL_USER = "rdi-test-writer"
WRONG_PASSWORD = "n0t-the-Right-one"


def targets(text: str, env: dict[str, str] | None = None) -> dict[str, Target]:
    return load_config_text(text, env=env or {}).targets


def redis_target(port: int, extra: str = "") -> dict[str, Target]:
    return targets(f"targets:\n  target: {{connection: {{type: redis, host: 127.0.0.1, port: {port}{extra}}}}}\n")


@pytest.fixture
def port(redis_url: str) -> int:
    return urlparse(redis_url).port or 6379


@pytest.fixture
def connections(port: int) -> Iterator[TargetConnections]:
    made = TargetConnections(redis_target(port))
    try:
        yield made
    finally:
        made.close()


@pytest.mark.redis
def test_lookup_runs_the_command_on_the_named_target(connections: TargetConnections, redis_client: redis.Redis) -> None:
    redis_client.hset("customer:7", mapping={"name": "Ann", "tier": "gold"})
    assert connections.lookup("target", ("HGETALL", "customer:7")) == {b"name": b"Ann", b"tier": b"gold"}


@pytest.mark.redis
def test_lookup_error_reply_is_a_bad_record(connections: TargetConnections, redis_client: redis.Redis) -> None:
    redis_client.set("customer:7", "plain")
    with pytest.raises(BadRecordError, match=re.escape("lookup `HGETALL` on target `target` failed: WRONGTYPE")):
        connections.lookup("target", ("HGETALL", "customer:7"))


@pytest.mark.redis
def test_a_single_server_gets_a_plain_client(connections: TargetConnections) -> None:
    assert type(connections.get("target")) is redis.Redis


def test_unknown_connection_name_names_the_known_ones() -> None:
    with pytest.raises(FatalError) as raised:
        TargetConnections(redis_target(6379)).get("cache")
    assert str(raised.value) == "no target named `cache` in `config.yaml` (targets: `target`); add it under `targets`"


def test_sql_target_cannot_be_used_for_redis() -> None:
    sql = targets(
        "targets:\n  target: {connection: {type: redis, host: h, port: 1}}\n"
        "  pg: {connection: {type: postgresql, host: h, port: 5432, database: d}}\n"
    )
    with pytest.raises(FatalError) as raised:
        TargetConnections(sql).get("pg")
    assert str(raised.value) == (
        "target `pg` is a `postgresql` connection; Redis outputs and lookups need `type: redis`"
    )


@pytest.fixture
def acl_user(redis_client: redis.Redis) -> Iterator[str]:
    redis_client.acl_setuser(ACL_USER, enabled=True, passwords=["+the-right-one"], keys=["*"], commands=["+@all"])
    try:
        yield ACL_USER
    finally:
        redis_client.acl_deluser(ACL_USER)


@pytest.mark.redis
def test_wrong_password_is_one_fatal_line_without_the_password(port: int, acl_user: str) -> None:
    config = targets(
        f"targets:\n  target:\n    connection: {{type: redis, host: 127.0.0.1, port: {port}, user: {acl_user}, "
        "password: '${TARGET_DB_PASSWORD}'}\n",
        env={"TARGET_DB_PASSWORD": WRONG_PASSWORD},
    )
    with pytest.raises(FatalError) as raised:
        TargetConnections(config).get("target")
    assert str(raised.value) == (
        f"target `target` (127.0.0.1:{port}) refused the login (invalid username-password pair or user is "
        "disabled.); check `targets.target.connection.user` and `password`"
    )


def test_missing_tls_file_is_fatal() -> None:
    config = redis_target(6380, ", cacert: /nonexistent/rdi/ca.crt")
    with pytest.raises(FatalError) as raised:
        redis_client(config["target"].connection)  # type: ignore[arg-type]
    assert str(raised.value) == (
        "target `target`: the `cacert` file `/nonexistent/rdi/ca.crt` does not exist; "
        "fix `targets.target.connection.cacert`"
    )


def test_refused_connection_is_retryable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        down = int(probe.getsockname()[1])
    with pytest.raises(RetryableError) as raised:
        redis_client(redis_target(down)["target"].connection)  # type: ignore[arg-type]
    assert str(raised.value) == (
        f"cannot reach target `target` (127.0.0.1:{down}) (Error 111 connecting to 127.0.0.1:{down}. "
        "Connection refused.); check that it runs and its `host` and `port`"
    )


def test_retry_policy_takes_advanced_target_keys_given_explicitly() -> None:
    processors = load_config_text(
        "processors:\n  retry_max_attempts: 7\n  retry_initial_delay_ms: 50\n"
        "  advanced: {target: {retry.initial.delay.ms: 200, retry.max.delay.ms: 500}}\n"
    ).processors
    policy = RetryPolicy.for_target(processors)
    assert (policy, [policy.delay_s(n) for n in (1, 2, 3, 4)]) == (
        RetryPolicy(max_attempts=7, initial_delay_ms=200, max_delay_ms=500, multiplier=2.0),
        [0.2, 0.4, 0.5, 0.5],
    )


@pytest.mark.redis
def test_lookup_batch_answers_each_command_in_order_as_execute_command_shapes_it(
    connections: TargetConnections, redis_client: redis.Redis
) -> None:
    redis_client.hset("customer:7", mapping={"name": "Ann", "tier": "gold"})
    redis_client.execute_command("JSON.SET", "doc:7", "$", '{"city":"Oslo"}')
    redis_client.sadd("tags:7", "a", "b")
    redis_client.zadd("rank:7", {"x": 1, "y": 2})
    redis_client.set("plain:7", "v")
    replies = connections.lookup_batch(
        "target",
        [
            ("HGETALL", "customer:7"),
            ("JSON.GET", "doc:7", "$.city"),
            ("SMEMBERS", "tags:7"),
            ("ZRANGE", "rank:7", "0", "-1"),
            ("GET", "plain:7"),
            ("MGET", "plain:7", "missing:7"),
            ("HGET", "customer:7", "name"),
            ("HGETALL", "plain:7"),
            ("GET", "missing:7"),
        ],
    )
    assert [r.reason if isinstance(r, BadRecordError) else r for r in replies] == [
        {b"name": b"Ann", b"tier": b"gold"},
        b'["Oslo"]',
        {b"a", b"b"},
        [b"x", b"y"],
        b"v",
        [b"v", None],
        b"Ann",
        "lookup `HGETALL` on target `target` failed: WRONGTYPE Operation against a key holding the wrong kind of value",
        None,
    ]


LOOKUP_USER = "rdi-test-lookup"


@pytest.fixture
def no_hgetall_user(redis_client: redis.Redis) -> Iterator[str]:
    redis_client.acl_setuser(
        LOOKUP_USER, enabled=True, passwords=["+the-right-one"], keys=["*"], commands=["+@all", "-hgetall"]
    )
    try:
        yield LOOKUP_USER
    finally:
        redis_client.acl_deluser(LOOKUP_USER)


@pytest.mark.redis
def test_lookup_batch_raises_a_command_the_acl_denies(port: int, no_hgetall_user: str) -> None:
    config = targets(
        f"targets:\n  target:\n    connection: {{type: redis, host: 127.0.0.1, port: {port}, user: {no_hgetall_user}, "
        "password: '${TARGET_DB_PASSWORD}'}\n",
        env={"TARGET_DB_PASSWORD": "the-right-one"},
    )
    connections = TargetConnections(config)
    try:
        with pytest.raises(FatalError) as raised:
            connections.lookup_batch("target", [("GET", "customer:7"), ("HGETALL", "customer:7")])
    finally:
        connections.close()
    assert str(raised.value) == (
        f"target `target` (127.0.0.1:{port}) denied a command (this user has no permissions to run the 'hgetall' "
        "command); check the ACL of `targets.target.connection.user`"
    )


@pytest.mark.redis
def test_lookup_batch_of_nothing_sends_nothing(connections: TargetConnections) -> None:
    assert connections.lookup_batch("cache", []) == []


def test_lookup_batch_retries_an_unreachable_target_then_gives_up() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        down = int(probe.getsockname()[1])
    connections = TargetConnections(redis_target(down), retry=RetryPolicy(max_attempts=2, initial_delay_ms=1))
    with pytest.raises(RetryableError) as raised:
        connections.lookup_batch("target", [("GET", "customer:7")])
    assert str(raised.value) == (
        f"cannot reach target `target` (127.0.0.1:{down}) (Error 111 connecting to 127.0.0.1:{down}. "
        "Connection refused.); check that it runs and its `host` and `port`"
    )
