from __future__ import annotations

import re
from typing import Any

import pytest

from rdi.config.job import MapBlock
from rdi.errors import BadRecordError
from rdi.transforms.map import MapTransform

from ._records import full, partial


def map_(expression: str | dict[str, Any], language: str, step: str = "transform[0]") -> MapTransform:
    block = MapBlock.model_validate({"uses": "map", "with": {"expression": expression, "language": language}})
    return MapTransform(block, step=step)


def test_jmespath_multi_select_hash_replaces_the_row() -> None:
    step = map_("{id: id, name: join(' ', [first, last]), address: {city: city}}", "jmespath")
    result = step.apply(partial({"id": 1, "first": "Ada", "last": "Lovelace", "city": "London"}))
    assert result.data == {"id": 1, "name": "Ada Lovelace", "address": {"city": "London"}}


def test_jmespath_object_of_expressions_builds_nested_fields() -> None:
    step = map_({"id": "id", "contact": {"email": "mail", "phones": "[home, work]"}}, "jmespath")
    result = step.apply(partial({"id": 1, "mail": "a@b", "home": "1", "work": "2"}))
    assert result.data == {"id": 1, "contact": {"email": "a@b", "phones": ["1", "2"]}}


def test_sql_object_of_expressions_replaces_the_row() -> None:
    step = map_({"id": "id", "total": "price * qty", "label": "UPPER(name)"}, "sql")
    result = step.apply(partial({"id": 1, "price": 2, "qty": 3, "name": "pen"}))
    assert result.data == {"id": 1, "total": 6, "label": "PEN"}


def test_full_format_result_replaces_after_and_keeps_key_before_and_opcode() -> None:
    step = map_("{id: after.id, was: before.status, now: after.status, op: opcode}", "jmespath")
    record = full(op="u", before={"id": 1, "status": "new"}, after={"id": 1, "status": "paid", "x": 9})
    result = step.apply(record)
    assert result.data == {
        "key": {"id": 1},
        "before": {"id": 1, "status": "new"},
        "after": {"id": 1, "was": "new", "now": "paid", "op": "u"},
        "opcode": "u",
        "db": "shop",
        "schema": "public",
        "table": "orders",
    }


def test_expression_that_does_not_give_an_object_is_a_bad_record() -> None:
    step = map_("[id, name]", "jmespath", "transform[2]")
    with pytest.raises(
        BadRecordError,
        match=re.escape("transform[2] (map): the expression gave an array, expected an object"),
    ):
        step.apply(partial({"id": 1, "name": "Ada"}))


@pytest.mark.parametrize(
    "expression,language",
    [("{id: id, double: [id, id]}", "jmespath"), ({"id": "id", "double": "id * 2"}, "sql")],
)
def test_batch_gives_the_same_records_as_one_by_one(expression: str | dict[str, Any], language: str) -> None:
    step = map_(expression, language)
    records = [partial({"id": i, "other": "x"}) for i in range(4)]
    assert step.apply_batch(records) == [step.apply(r) for r in records]
