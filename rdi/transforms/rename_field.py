"""`rename_field`: move one or more fields, both sides dot paths (`name.lname`, `after.mail`) (spec §2.5).

Renames run in the order listed. A missing source field is a no-op (the target is left as it is); an existing
target field is overwritten; missing or null objects on the target path are created.
"""

from __future__ import annotations

from typing_extensions import override

from rdi.config.job import RenameFieldBlock
from rdi.events.event import Record
from rdi.transforms._path import Path, PathError, parse_path, pop_path, set_path
from rdi.transforms._step import step_error, with_data
from rdi.transforms.base import Transform

__all__ = ["RenameFieldTransform"]


class RenameFieldTransform(Transform):
    """A compiled `rename_field` block (single rename or `fields:` list).

    Raises `BadRecordError` only when the target path goes through a value that is not an object.
    """

    def __init__(self, block: RenameFieldBlock, *, step: str) -> None:
        self.step = step
        self._renames: list[tuple[Path, Path, str]] = [
            (parse_path(f.from_field), parse_path(f.to_field), f"rename_field `{f.from_field}`")
            for f in block.with_.fields
        ]

    @override
    def apply(self, record: Record) -> Record:
        data = record.data
        for source, target, label in self._renames:
            without, found, value = pop_path(data, source)
            if not found:
                continue
            try:
                data = set_path(without, target, value)
            except PathError as exc:
                raise step_error(self.step, label, str(exc)) from exc
        return record if data is record.data else with_data(record, data)
