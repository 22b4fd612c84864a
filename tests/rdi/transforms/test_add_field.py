from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from rdi.config.job import AddFieldBlock
from rdi.errors import BadRecordError
from rdi.expressions import compile_expression
from rdi.transforms.add_field import AddFieldTransform

from ._records import full, partial


def add_field(with_: dict[str, Any], step: str = "transform[0]") -> AddFieldTransform:
    return AddFieldTransform(AddFieldBlock.model_validate({"uses": "add_field", "with": with_}), step=step)


def test_single_field_is_set_to_the_expression_value() -> None:
    step = add_field({"field": "name", "expression": "join(' ', [first, last])", "language": "jmespath"})
    result = step.apply(partial({"id": 1, "first": "Ada", "last": "Lovelace"}))
    assert result.data == {"id": 1, "first": "Ada", "last": "Lovelace", "name": "Ada Lovelace"}


def test_fields_are_set_in_order_and_each_sees_the_ones_before() -> None:
    step = add_field(
        {
            "fields": [
                {"field": "name", "expression": "join(' ', [first, last])", "language": "jmespath"},
                {"field": "greeting", "expression": "join(', ', ['hello', name])", "language": "jmespath"},
            ]
        }
    )
    result = step.apply(partial({"id": 1, "first": "Ada", "last": "Lovelace"}))
    assert result.data == {
        "id": 1,
        "first": "Ada",
        "last": "Lovelace",
        "name": "Ada Lovelace",
        "greeting": "hello, Ada Lovelace",
    }


def test_dot_path_creates_the_missing_objects_and_keeps_siblings() -> None:
    step = add_field(
        {
            "fields": [
                {"field": "address.geo.city", "expression": "city", "language": "jmespath"},
                {"field": "address.zip", "expression": "'75001'", "language": "jmespath"},
            ]
        }
    )
    result = step.apply(partial({"id": 1, "city": "Paris", "address": {"street": "Rue X"}}))
    assert result.data == {
        "id": 1,
        "city": "Paris",
        "address": {"street": "Rue X", "geo": {"city": "Paris"}, "zip": "75001"},
    }


def test_full_format_writes_after_fields_and_keeps_bare_names_as_scratch() -> None:
    step = add_field(
        {
            "fields": [
                {"field": "was", "expression": "before.status", "language": "jmespath"},
                {"field": "after.previous_status", "expression": "was", "language": "jmespath"},
            ]
        }
    )
    record = full(op="u", before={"id": 1, "status": "new"}, after={"id": 1, "status": "paid"})
    result = step.apply(record)
    assert (result.data["was"], result.values) == (
        "new",
        {"id": 1, "status": "paid", "previous_status": "new"},
    )


def test_opcode_field_rewrites_a_delete_into_an_update() -> None:
    step = add_field(
        {
            "fields": [
                {"field": "after", "expression": "before", "language": "jmespath"},
                {"field": "after.deleted", "expression": "`true`", "language": "jmespath"},
                {"field": "opcode", "expression": "'u'", "language": "jmespath"},
            ]
        }
    )
    result = step.apply(full(op="d", before={"id": 7, "status": "paid"}))
    assert (result.op, result.opcode, result.values) == (
        "d",
        "u",
        {"id": 7, "status": "paid", "deleted": True},
    )


def test_null_after_of_a_delete_becomes_an_object() -> None:
    step = add_field({"field": "after.deleted", "expression": "`true`", "language": "jmespath"})
    result = step.apply(full(op="d", before={"id": 7}))
    assert result.data["after"] == {"deleted": True}


def test_input_record_and_its_nested_objects_are_not_changed() -> None:
    step = add_field({"field": "after.address.city", "expression": "'Paris'", "language": "jmespath"})
    record = full(op="u", after={"id": 1, "address": {"city": "Lyon"}})
    before = copy.deepcopy(record.data)
    result = step.apply(record)
    assert (record.data, result.data["after"]) == (before, {"id": 1, "address": {"city": "Paris"}})


def test_path_through_a_value_that_is_not_an_object_is_a_bad_record() -> None:
    step = add_field({"field": "name.first", "expression": "'Ada'", "language": "jmespath"}, "transform[2]")
    msg = "transform[2] (add_field `name.first`): cannot set `name.first`: `name` is a string, not an object"
    with pytest.raises(BadRecordError, match=re.escape(msg)):
        step.apply(partial({"id": 1, "name": "Ada Lovelace"}))


def test_expression_failing_on_a_record_names_the_step_and_field() -> None:
    step = add_field({"field": "total", "expression": "length(price)", "language": "jmespath"}, "transform[1]")
    with pytest.raises(BadRecordError) as engine:
        compile_expression("length(price)", "jmespath").evaluate({"id": 1, "price": 2})
    with pytest.raises(BadRecordError, match=re.escape(f"transform[1] (add_field `total`): {engine.value.reason}")):
        step.apply(partial({"id": 1, "price": 2}))


def test_sql_expression_computes_a_field() -> None:
    step = add_field({"field": "total", "expression": "price * qty", "language": "sql"})
    result = step.apply(partial({"id": 1, "price": 2.5, "qty": 4}))
    assert result.data == {"id": 1, "price": 2.5, "qty": 4, "total": 10.0}


@pytest.mark.parametrize("language,expression", [("jmespath", "to_string(id)"), ("sql", "CAST(id AS TEXT)")])
def test_batch_gives_the_same_records_as_one_by_one(language: str, expression: str) -> None:
    step = add_field(
        {
            "fields": [
                {"field": "code", "expression": expression, "language": language},
                {"field": "meta.kind", "expression": "'order'", "language": language},
            ]
        }
    )
    records = [partial({"id": 1}), partial({"id": 2, "meta": {"v": 1}}), partial({"id": 3})]
    assert step.apply_batch(records) == [step.apply(r) for r in records]
