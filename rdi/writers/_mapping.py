"""`mapping` of a `redis.write` output: which fields to write, under which names (spec §2.6)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from rdi.config.job import MappingItem

__all__ = ["compile_mapping", "mapped_document"]

_UNESCAPED_DOT: Final = re.compile(r"(?<!\\)\.")


def _unescape(name: str) -> str:
    return name.replace("\\.", ".")


def compile_mapping(items: Sequence[MappingItem], nested: bool) -> list[tuple[str, tuple[str, ...]]]:
    """``[(source field, target path)]``; a target path has one part unless ``nested`` (JSON) and dotted."""
    pairs: list[tuple[str, tuple[str, ...]]] = []
    taken: dict[tuple[str, ...], str] = {}
    for item in items:
        source, alias = (item, item) if isinstance(item, str) else next(iter(item.items()))
        if nested:
            path = tuple(_unescape(part) for part in _UNESCAPED_DOT.split(alias))
            if "" in path:
                raise ValueError(f"mapping alias `{alias}` has an empty path segment")
        else:
            path = (_unescape(alias),)
        for other, other_alias in taken.items():
            shorter = min(len(path), len(other))
            if path[:shorter] == other[:shorter]:
                raise ValueError(f"mapping aliases `{other_alias}` and `{alias}` write the same field")
        taken[path] = alias
        pairs.append((_unescape(source), path))
    return pairs


def mapped_document(values: Mapping[str, Any], mapping: Sequence[tuple[str, tuple[str, ...]]]) -> dict[str, Any]:
    """The JSON document a compiled nested ``mapping`` makes of ``values``; absent source fields are left out."""
    doc: dict[str, Any] = {}
    for src, path in mapping:
        if src not in values:
            continue
        node = doc
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = values[src]
    return doc
