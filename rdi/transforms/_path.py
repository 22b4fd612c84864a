"""Dot paths into a record's data (`a.b.c`), read and written copy-on-write.

A written path copies every dict it passes through and leaves the input untouched, so a record's data can be
shared with other records (another job, another output, the decoded event) without being changed behind its
back. A literal dot in a field name is written `\\.` (as in `redis.write` mappings).
"""

from __future__ import annotations

import re
from typing import Any

from rdi.events.event import Row
from rdi.transforms._step import describe_type

Path = tuple[str, ...]

_UNESCAPED_DOT = re.compile(r"(?<!\\)\.")


class PathError(ValueError):
    """A path goes through a value that is not an object."""


def parse_path(text: str) -> Path:
    return tuple(part.replace("\\.", ".") for part in _UNESCAPED_DOT.split(text))


def get_path(row: Row, path: Path) -> tuple[bool, Any]:
    """(found, value); a path through a missing field or a non-object is not found."""
    cur: Any = row
    for part in path:
        if not isinstance(cur, dict) or part not in cur:
            return False, None
        cur = cur[part]
    return True, cur


def set_path(row: Row, path: Path, value: Any) -> Row:
    """A copy of `row` with `value` at `path`; missing or null intermediate fields become objects."""
    top = dict(row)
    cur = top
    for i, part in enumerate(path[:-1]):
        child = cur.get(part)
        if child is None:
            child = {}
        elif isinstance(child, dict):
            child = dict(child)
        else:
            where = ".".join(path[: i + 1])
            msg = f"cannot set `{'.'.join(path)}`: `{where}` is {describe_type(child)}, not an object"
            raise PathError(msg)
        cur[part] = child
        cur = child
    cur[path[-1]] = value
    return top


def pop_path(row: Row, path: Path) -> tuple[Row, bool, Any]:
    """(copy of `row` without `path`, found, value); `row` itself is returned when the path is not found."""
    found, value = get_path(row, path)
    if not found:
        return row, False, None
    top = dict(row)
    cur = top
    for part in path[:-1]:
        child = dict(cur[part])
        cur[part] = child
        cur = child
    del cur[path[-1]]
    return top, True, value
