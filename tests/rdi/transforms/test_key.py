from __future__ import annotations

import re
from typing import Any

import pytest

from rdi.config.job import ExpressionSpec, KeyBlock, RemoveFieldBlock
from rdi.errors import BadRecordError
from rdi.events.event import Record
from rdi.transforms.key import KeyTransform, redis_key
from rdi.transforms.remove_field import RemoveFieldTransform

from ._records import full, partial


def key(expression: str, language: str = "jmespath", step: str = "transform[0]") -> KeyTransform:
    block = KeyBlock.model_validate({"uses": "key", "with": {"expression": expression, "language": language}})
    return KeyTransform(block, step=step)


def test_key_is_stored_beside_the_data_not_in_it() -> None:
    record = partial({"id": 7, "name": "Ada"})
    result = key("join(':', ['customer', to_string(id)])").apply(record)
    assert (redis_key(result), result.data, redis_key(record)) == (
        "customer:7",
        {"id": 7, "name": "Ada"},
        None,
    )


def test_later_transforms_keep_the_key() -> None:
    keyed = key("join(':', ['customer', to_string(id)])").apply(partial({"id": 7, "name": "Ada"}))
    remove = RemoveFieldTransform(
        RemoveFieldBlock.model_validate({"uses": "remove_field", "with": {"field": "name"}}),
        step="transform[1]",
    )
    result = remove.apply(keyed)
    assert (type(result), redis_key(result), result.data) == (Record, "customer:7", {"id": 7})


def test_a_second_key_block_replaces_the_first() -> None:
    first = key("'a'").apply(partial({"id": 7}))
    assert redis_key(key("'b'").apply(first)) == "b"


def test_number_key_is_written_in_decimal() -> None:
    assert redis_key(key("key.id").apply(full(op="c", after={"id": 42}))) == "42"


def test_job_level_key_spec_is_the_same_transform() -> None:
    spec = ExpressionSpec.model_validate({"expression": "name", "language": "jmespath"})
    assert redis_key(KeyTransform(spec, step="key").apply(partial({"id": 1, "name": "k"}))) == "k"


@pytest.mark.parametrize("value,got", [(None, "null"), ({"a": 1}, "an object"), (True, "a boolean")])
def test_key_that_is_not_a_string_or_number_is_a_bad_record(value: Any, got: str) -> None:
    msg = f"transform[0] (key): the key expression gave {got}, expected a string"
    with pytest.raises(BadRecordError, match=re.escape(msg)):
        key("k").apply(partial({"id": 1, "k": value}))


def test_batch_gives_the_same_records_as_one_by_one() -> None:
    step = key("join('-', ['o', to_string(id)])")
    records = [partial({"id": i}) for i in range(3)]
    assert step.apply_batch(records) == [step.apply(r) for r in records]
