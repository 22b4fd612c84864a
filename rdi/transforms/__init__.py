"""The job transform blocks (spec §2.5), compiled from their config models into steps a job applies in order.

Every step is pure: :class:`Transform` steps turn a record into a record (or drop it); a :class:`LookupStep`
builds a Redis read command and stores the reply the caller got for it. See `rdi.transforms.base` for the
copy-on-write contract every step keeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

from rdi.config.job import (
    AddFieldBlock,
    FilterBlock,
    KeyBlock,
    LookupBlock,
    MapBlock,
    RemoveFieldBlock,
    RenameFieldBlock,
    TransformBlock,
)
from rdi.transforms.add_field import AddFieldTransform
from rdi.transforms.base import Transform
from rdi.transforms.filter import FilterTransform, jmespath_truthy, sql_truthy
from rdi.transforms.key import KeyTransform, redis_key
from rdi.transforms.lookup import LookupStep, decode_reply
from rdi.transforms.map import MapTransform
from rdi.transforms.remove_field import RemoveFieldTransform
from rdi.transforms.rename_field import RenameFieldTransform

__all__ = [
    "AddFieldTransform",
    "FilterTransform",
    "KeyTransform",
    "LookupStep",
    "MapTransform",
    "RemoveFieldTransform",
    "RenameFieldTransform",
    "Step",
    "Transform",
    "compile_transforms",
    "decode_reply",
    "jmespath_truthy",
    "redis_key",
    "sql_truthy",
]

Step: TypeAlias = Transform | LookupStep
"""One compiled transform block: a `Transform`, or a `LookupStep` whose Redis read the caller performs."""


def compile_transforms(blocks: Sequence[TransformBlock]) -> list[Step]:
    """One step per block, in order, labelled ``transform[<index>]`` (the block's place in the job's list).

    Expressions were compiled when the blocks were validated, so this never raises for a valid job model.
    """
    return [_compile(block, f"transform[{i}]") for i, block in enumerate(blocks)]


def _compile(block: TransformBlock, step: str) -> Step:
    match block:
        case AddFieldBlock():
            return AddFieldTransform(block, step=step)
        case RemoveFieldBlock():
            return RemoveFieldTransform(block, step=step)
        case RenameFieldBlock():
            return RenameFieldTransform(block, step=step)
        case FilterBlock():
            return FilterTransform(block, step=step)
        case MapBlock():
            return MapTransform(block, step=step)
        case LookupBlock():
            return LookupStep(block, step=step)
        case KeyBlock():
            return KeyTransform(block, step=step)
