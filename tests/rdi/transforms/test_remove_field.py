from __future__ import annotations

from typing import Any

from rdi.config.job import RemoveFieldBlock
from rdi.transforms.remove_field import RemoveFieldTransform

from ._records import full, partial


def remove_field(with_: dict[str, Any]) -> RemoveFieldTransform:
    return RemoveFieldTransform(
        RemoveFieldBlock.model_validate({"uses": "remove_field", "with": with_}), step="transform[0]"
    )


def test_single_field_is_removed() -> None:
    result = remove_field({"field": "secret"}).apply(partial({"id": 1, "secret": "x", "name": "Ada"}))
    assert result.data == {"id": 1, "name": "Ada"}


def test_fields_list_removes_each_field_including_nested_paths() -> None:
    step = remove_field({"fields": [{"field": "secret"}, {"field": "address.zip"}]})
    result = step.apply(partial({"id": 1, "secret": "x", "address": {"city": "Paris", "zip": "75001"}}))
    assert result.data == {"id": 1, "address": {"city": "Paris"}}


def test_missing_fields_and_paths_through_non_objects_are_left_alone() -> None:
    step = remove_field({"fields": [{"field": "nothing"}, {"field": "name.first"}, {"field": "a.b.c"}]})
    record = partial({"id": 1, "name": "Ada", "a": {"b": None}})
    assert step.apply(record) is record


def test_full_format_removes_from_the_after_image_without_touching_the_input() -> None:
    step = remove_field({"field": "after.secret"})
    record = full(op="u", before={"id": 1, "secret": "x"}, after={"id": 1, "secret": "y"})
    result = step.apply(record)
    assert (result.data["before"], result.values, record.values) == (
        {"id": 1, "secret": "x"},
        {"id": 1},
        {"id": 1, "secret": "y"},
    )


def test_batch_gives_the_same_records_as_one_by_one() -> None:
    step = remove_field({"field": "secret"})
    records = [partial({"id": 1, "secret": "x"}), partial({"id": 2})]
    assert step.apply_batch(records) == [step.apply(r) for r in records]
