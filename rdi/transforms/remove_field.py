"""`remove_field`: delete one or more fields given as dot paths (spec §2.5).

A field that is missing (or whose parent is not an object) is not an error: there is nothing to remove. Later
steps and outputs no longer see the field, including key expressions.
"""

from __future__ import annotations

from typing_extensions import override

from rdi.config.job import RemoveFieldBlock
from rdi.events.event import Record
from rdi.transforms._path import Path, parse_path, pop_path
from rdi.transforms._step import with_data
from rdi.transforms.base import Transform

__all__ = ["RemoveFieldTransform"]


class RemoveFieldTransform(Transform):
    """A compiled `remove_field` block (single field or `fields:` list); never raises."""

    def __init__(self, block: RemoveFieldBlock, *, step: str) -> None:
        self.step = step
        self._paths: list[Path] = [parse_path(f.field) for f in block.with_.fields]

    @override
    def apply(self, record: Record) -> Record:
        data = record.data
        for path in self._paths:
            data, _, _ = pop_path(data, path)
        return record if data is record.data else with_data(record, data)
