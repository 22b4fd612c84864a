from __future__ import annotations

import re
from typing import Any

import pytest

from rdi.config.job import RenameFieldBlock
from rdi.errors import BadRecordError
from rdi.transforms.rename_field import RenameFieldTransform

from ._records import full, partial


def rename_field(with_: dict[str, Any], step: str = "transform[0]") -> RenameFieldTransform:
    return RenameFieldTransform(RenameFieldBlock.model_validate({"uses": "rename_field", "with": with_}), step=step)


def test_single_field_is_renamed() -> None:
    result = rename_field({"from_field": "mail", "to_field": "email"}).apply(partial({"id": 1, "mail": "a@b"}))
    assert result.data == {"id": 1, "email": "a@b"}


def test_fields_list_renames_in_order() -> None:
    step = rename_field({"fields": [{"from_field": "a", "to_field": "b"}, {"from_field": "b", "to_field": "c"}]})
    assert step.apply(partial({"id": 1, "a": 1})).data == {"id": 1, "c": 1}


def test_dot_paths_move_a_nested_field_out_and_into_a_new_object() -> None:
    step = rename_field(
        {
            "fields": [
                {"from_field": "name.lname", "to_field": "last_name"},
                {"from_field": "city", "to_field": "address.city"},
            ]
        }
    )
    result = step.apply(partial({"id": 1, "name": {"fname": "Ada", "lname": "Lovelace"}, "city": "London"}))
    assert result.data == {
        "id": 1,
        "name": {"fname": "Ada"},
        "last_name": "Lovelace",
        "address": {"city": "London"},
    }


def test_missing_source_field_is_a_no_op() -> None:
    record = partial({"id": 1, "email": "a@b"})
    assert rename_field({"from_field": "mail", "to_field": "email"}).apply(record) is record


def test_null_value_is_renamed_like_any_other() -> None:
    result = rename_field({"from_field": "mail", "to_field": "email"}).apply(partial({"id": 1, "mail": None}))
    assert result.data == {"id": 1, "email": None}


def test_full_format_renames_inside_after() -> None:
    step = rename_field({"from_field": "after.mail", "to_field": "after.email"})
    record = full(op="c", after={"id": 1, "mail": "a@b"})
    result = step.apply(record)
    assert (result.values, record.values) == ({"id": 1, "email": "a@b"}, {"id": 1, "mail": "a@b"})


def test_target_path_through_a_value_that_is_not_an_object_is_a_bad_record() -> None:
    step = rename_field({"from_field": "mail", "to_field": "contact.email"}, "transform[3]")
    msg = "transform[3] (rename_field `mail`): cannot set `contact.email`: `contact` is an array, not an object"
    with pytest.raises(BadRecordError, match=re.escape(msg)):
        step.apply(partial({"id": 1, "mail": "a@b", "contact": []}))
