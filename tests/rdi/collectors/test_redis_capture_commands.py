"""Which keys a replicated command writes (rdi.collectors.redis_commands), and Redis glob semantics."""

from __future__ import annotations

import pytest

from rdi.collectors.redis_commands import Touched, glob_match, parse_command_reply


def _entry(name: str, first: int, last: int, step: int, *flags: str, subs: list[object] | None = None) -> list[object]:
    return [name.encode(), -2, [f.encode() for f in ("write", *flags)], first, last, step, [], [], [], subs or []]


# A COMMAND reply as Redis 7 + RedisJSON give it, for the commands the tests use.
TABLE = parse_command_reply(
    [
        _entry("hset", 1, 1, 1),
        _entry("hdel", 1, 1, 1),
        _entry("sadd", 1, 1, 1),
        _entry("srem", 1, 1, 1),
        _entry("zadd", 1, 1, 1),
        _entry("zrem", 1, 1, 1),
        _entry("del", 1, -1, 1),
        _entry("unlink", 1, -1, 1),
        _entry("rename", 1, 2, 1),
        _entry("renamenx", 1, 2, 1),
        _entry("pexpireat", 1, 1, 1),
        _entry("expire", 1, 1, 1),
        _entry("expireat", 1, 1, 1),
        _entry("pexpire", 1, 1, 1),
        _entry("persist", 1, 1, 1),
        _entry("restore", 1, 1, 1),
        _entry("mset", 1, -1, 2),
        _entry("json.set", 1, 1, 1, "module"),
        _entry("json.del", 1, 1, 1, "module"),
        _entry("json.mset", 1, -1, 3, "module"),
        _entry("json.arrappend", 1, 1, 1, "module"),
        _entry("zunionstore", 1, 1, 1, "movablekeys"),
        _entry("eval", 0, 0, 0, "movablekeys"),
        _entry("xgroup", 0, 0, 0, subs=[_entry("xgroup|create", 2, 2, 1)]),
    ]
)


@pytest.mark.parametrize(
    ("command", "db", "expected"),
    [
        ("HSET cust:1 name ann mail a@x", 0, Touched([(0, b"cust:1")])),
        ("HDEL cust:1 mail", 3, Touched([(3, b"cust:1")])),
        ("SADD tags:1 a b", 0, Touched([(0, b"tags:1")])),
        ("SREM tags:1 a", 0, Touched([(0, b"tags:1")])),
        ("ZADD rank:1 1.5 a", 0, Touched([(0, b"rank:1")])),
        ("ZREM rank:1 a", 0, Touched([(0, b"rank:1")])),
        ("DEL a b c", 0, Touched([(0, b"a"), (0, b"b"), (0, b"c")])),
        ("UNLINK a b", 0, Touched([(0, b"a"), (0, b"b")])),
        ("RENAME a b", 0, Touched([(0, b"a"), (0, b"b")])),
        ("RENAMENX a b", 0, Touched([(0, b"a"), (0, b"b")])),
        ("MOVE a 5", 2, Touched([(2, b"a"), (5, b"a")])),
        ("COPY a b", 1, Touched([(1, b"a"), (1, b"b")])),
        ("COPY a b DB 4 REPLACE", 1, Touched([(1, b"a"), (4, b"b")])),
        ("PEXPIREAT a 1795880030714", 0, Touched([(0, b"a")])),
        ("EXPIRE a 10", 0, Touched([(0, b"a")])),
        ("EXPIREAT a 10", 0, Touched([(0, b"a")])),
        ("PEXPIRE a 10", 0, Touched([(0, b"a")])),
        ("PERSIST a", 0, Touched([(0, b"a")])),
        ("RESTORE a 0 payload REPLACE", 0, Touched([(0, b"a")])),
        ("MSET a 1 b 2", 0, Touched([(0, b"a"), (0, b"b")])),
        ("JSON.SET doc:1 $ {}", 0, Touched([(0, b"doc:1")])),
        ("JSON.DEL doc:1 $.a", 0, Touched([(0, b"doc:1")])),
        ("JSON.MSET doc:1 $ 1 doc:2 $.a 2", 0, Touched([(0, b"doc:1"), (0, b"doc:2")])),
        ("JSON.ARRAPPEND doc:1 $.l 1", 0, Touched([(0, b"doc:1")])),
        ("XGROUP CREATE s g $", 0, Touched([(0, b"s")])),
        ("SWAPDB 0 1", 0, Touched(reconcile=True)),
        ("FLUSHDB", 0, Touched(reconcile=True)),
        ("FLUSHALL ASYNC", 0, Touched(reconcile=True)),
        ("MULTI", 0, Touched()),
        ("EXEC", 0, Touched()),
        ("PING", 0, Touched()),
        ("REPLCONF GETACK *", 0, Touched()),
        ("PUBLISH ch hi", 0, Touched()),
        ("FUNCTION LOAD code", 0, Touched()),
        ("ZUNIONSTORE out 2 a b", 0, Touched(getkeys=True)),
        ("EVAL script 1 a", 0, Touched(getkeys=True)),
        ("SOMEMODULE.WRITE x", 0, Touched(getkeys=True)),
    ],
)
def test_command_touches_the_keys_it_writes(command: str, db: int, expected: Touched) -> None:
    assert TABLE.touched([a.encode() for a in command.split()], db) == expected


@pytest.mark.parametrize(
    ("pattern", "key", "matches"),
    [
        ("cust:*", "cust:1", True),
        ("cust:*", "cust:", True),
        ("cust:*", "xcust:1", False),
        ("*", "", True),
        ("a*b*c", "aXXbYYc", True),
        ("a*b*c", "aXXbYY", False),
        ("h?llo", "hello", True),
        ("h?llo", "hllo", False),
        ("h[ae]llo", "hallo", True),
        ("h[ae]llo", "hillo", False),
        ("h[^e]llo", "hallo", True),
        ("h[^e]llo", "hello", False),
        ("h[a-c]llo", "hbllo", True),
        ("h[c-a]llo", "hbllo", True),
        ("h[a-c]llo", "hdllo", False),
        (r"h\*llo", "h*llo", True),
        (r"h\*llo", "hello", False),
        (r"h\?", "h?", True),
        (r"h\?", "hx", False),
        (r"a[\]]b", "a]b", True),
        (r"a[\-]b", "a-b", True),
        ("a.b", "aXb", False),
        ("a+b", "a+b", True),
        ("(x)|y", "(x)|y", True),
        ("a*", "a\nb", True),
        ("a[]b", "ab", False),
        ("a\\", "a\\", True),
        ("user:{id}", "user:{id}", True),
    ],
)
def test_glob_follows_redis_semantics(pattern: str, key: str, matches: bool) -> None:
    assert glob_match(pattern, key) is matches
