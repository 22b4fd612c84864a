"""Which keys a replicated Redis command writes, and Redis glob matching. Pure: no I/O.

A master's replication stream carries every write as the command the replica must run (Redis 7 replicates a
script's *effects*, relative `EXPIRE`s as `PEXPIREAT`, expirations and evictions as `DEL`/`UNLINK`), plus `SELECT`,
`PING`, `MULTI`/`EXEC` and `REPLCONF GETACK`. :class:`CommandTable` is built once from the master's ``COMMAND``
reply (each command's first/last/step key positions, and whether its keys are *movable*), and
:meth:`CommandTable.touched` tells, for one command, what the capture must look at:

* the keys, each with the database it lives in (tracking ``SELECT``; ``MOVE`` and ``COPY ... DB`` reach a second
  database), so the capture reads their current value;
* ``reconcile``: the command changes keys it does not name (``FLUSHDB``, ``FLUSHALL``, ``SWAPDB``), so the capture
  must compare every tracked key with what it emitted;
* ``getkeys``: the keys depend on the arguments in a way the table cannot tell (a *movable-keys* command, e.g.
  ``ZUNIONSTORE``, or one the table does not know): ask the master with ``COMMAND GETKEYS``.

Reading more keys than a command writes (the sources of ``SUNIONSTORE``, say) is harmless: an unchanged value is
not emitted again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

__all__ = ["CommandTable", "KeySpec", "Touched", "compile_glob", "glob_match", "parse_command_reply"]

_NO_KEYS = frozenset({b"multi", b"exec", b"discard", b"ping", b"replconf", b"publish", b"spublish", b"function",
                      b"script", b"select"})  # fmt: skip
_RECONCILE = frozenset({b"flushdb", b"flushall", b"swapdb"})


@dataclass(frozen=True, slots=True)
class KeySpec:
    """A command's key positions as ``COMMAND`` gives them (``last`` < 0 counts from the end)."""

    first: int
    last: int
    step: int
    movable: bool = False

    def keys(self, args: Sequence[bytes]) -> list[bytes]:
        if self.first <= 0 or self.step <= 0:
            return []
        last = self.last if self.last >= 0 else len(args) + self.last
        return [args[i] for i in range(self.first, min(last, len(args) - 1) + 1, self.step)]


@dataclass(slots=True)
class Touched:
    """What one command asks the capture to look at."""

    keys: list[tuple[int, bytes]] = field(default_factory=list)  # (db, key)
    reconcile: bool = False
    getkeys: bool = False


class CommandTable:
    """Key positions of every command the master knows (lower-case names; ``"xgroup|create"`` for subcommands)."""

    def __init__(self, specs: dict[bytes, KeySpec], containers: Iterable[bytes] = ()) -> None:
        self.specs = specs
        self.containers = frozenset(containers)  # commands whose keys are given per subcommand

    def touched(self, args: Sequence[bytes], db: int) -> Touched:
        """The keys (with their database) ``args`` writes when run in database ``db``; see the module doc.

        ``SELECT`` is not handled here (the caller tracks the current database)."""
        name = args[0].lower()
        if name in _NO_KEYS:
            return Touched()
        if name in _RECONCILE:
            return Touched(reconcile=True)
        if name == b"move" and len(args) >= 3:
            return Touched([(db, args[1]), (_int(args[2], db), args[1])])
        if name == b"copy" and len(args) >= 3:
            target = db
            for i in range(3, len(args) - 1):
                if args[i].lower() == b"db":
                    target = _int(args[i + 1], db)
            return Touched([(db, args[1]), (target, args[2])])
        if name in self.containers and len(args) >= 2:
            name = name + b"|" + args[1].lower()
        spec = self.specs.get(name)
        if spec is None or spec.movable:
            return Touched(getkeys=True)
        return Touched([(db, k) for k in spec.keys(args)])


def parse_command_reply(reply: Sequence[Any]) -> CommandTable:
    """A :class:`CommandTable` from a ``COMMAND`` reply (RESP2 arrays, names as bytes or str)."""
    specs: dict[bytes, KeySpec] = {}
    containers: set[bytes] = set()

    def add(entry: Sequence[Any], parent: bytes | None) -> None:
        name = _bytes(entry[0]).lower()
        flags = {_bytes(f).lower() for f in entry[2]}
        specs[name] = KeySpec(int(entry[3]), int(entry[4]), int(entry[5]), b"movablekeys" in flags)
        if parent is None and len(entry) > 9 and entry[9]:
            containers.add(name)
            for sub in entry[9]:
                add(sub, name)

    for entry in reply:
        add(entry, None)
    return CommandTable(specs, containers)


def glob_match(pattern: str, key: str) -> bool:
    """Whether ``key`` matches ``pattern`` as Redis' ``KEYS``/``SCAN MATCH`` glob: ``*``, ``?``, ``[abc]``,
    ``[^abc]``, ``[a-z]`` (reversed ranges allowed), ``\\x`` escapes (also inside brackets)."""
    return compile_glob(pattern).fullmatch(key) is not None


@lru_cache(maxsize=1024)
def compile_glob(pattern: str) -> re.Pattern[str]:
    """A compiled regular expression equivalent to the Redis glob ``pattern`` (use ``fullmatch``)."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            while i + 1 < n and pattern[i + 1] == "*":
                i += 1
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        elif c == "[":
            i, cls = _bracket(pattern, i + 1)
            out.append(cls)
            continue
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _bracket(pattern: str, i: int) -> tuple[int, str]:
    # As Redis' stringmatchlen: `^` right after `[` negates; `\x` is a literal x; `a-z` a range (either order);
    # a class left open at the end of the pattern ends there.
    n = len(pattern)
    negate = i < n and pattern[i] == "^"
    if negate:
        i += 1
    parts: list[str] = []
    while i < n and pattern[i] != "]":
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            i += 1
            parts.append(re.escape(pattern[i]))
        elif i + 2 < n and pattern[i + 1] == "-":
            lo, hi = c, pattern[i + 2]
            if lo > hi:
                lo, hi = hi, lo
            parts.append(f"{re.escape(lo)}-{re.escape(hi)}")
            i += 2
        else:
            parts.append(re.escape(c))
        i += 1
    i += 1  # the closing `]` (or past the end)
    if not parts:
        return i, "[^\\s\\S]" if not negate else "[\\s\\S]"
    return i, "[" + ("^" if negate else "") + "".join(parts) + "]"


def _int(value: bytes, default: int) -> int:
    try:
        return int(value)
    except ValueError:
        return default


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()
