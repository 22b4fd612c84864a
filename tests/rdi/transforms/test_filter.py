from __future__ import annotations

import re
from typing import Any

import pytest

from rdi.config.job import FilterBlock
from rdi.errors import BadRecordError
from rdi.expressions import compile_expression
from rdi.transforms.filter import FilterTransform, jmespath_truthy, sql_truthy

from ._records import full, partial


def filter_(expression: str, language: str, step: str = "transform[0]") -> FilterTransform:
    block = FilterBlock.model_validate({"uses": "filter", "with": {"expression": expression, "language": language}})
    return FilterTransform(block, step=step)


def test_jmespath_filter_keeps_matching_records_and_drops_the_others() -> None:
    step = filter_("status == 'paid'", "jmespath")
    records = [partial({"id": 1, "status": "paid"}), partial({"id": 2, "status": "new"})]
    assert [step.apply(r) for r in records] == [records[0], None]


def test_sql_filter_keeps_matching_records_and_drops_the_others() -> None:
    step = filter_("price > 10 AND status = 'paid'", "sql")
    records = [
        partial({"id": 1, "price": 12, "status": "paid"}),
        partial({"id": 2, "price": 8, "status": "paid"}),
    ]
    assert [step.apply(r) for r in records] == [records[0], None]


def test_full_format_filter_can_read_the_opcode() -> None:
    step = filter_("opcode != 'd'", "jmespath")
    records = [full(op="c", after={"id": 1}), full(op="d", before={"id": 2})]
    assert step.apply_batch(records) == [records[0]]


def test_jmespath_truthiness_treats_empty_values_as_false_and_zero_as_true() -> None:
    values: list[Any] = [False, None, "", [], {}, 0, 0.0, "0", [0], {"a": None}, True]
    assert [jmespath_truthy(v) for v in values] == [
        False, False, False, False, False, True, True, True, True, True, True,
    ]  # fmt: skip


def test_sql_truthiness_follows_sqlite_numeric_conversion() -> None:
    values: list[Any] = [
        None,
        0,
        1,
        -2,
        0.0,
        0.5,
        float("nan"),
        "",
        "abc",
        "1x",
        " 2",
        "0.0e5",
        b"1",
        False,
        True,
    ]
    assert [sql_truthy(v) for v in values] == [
        False, False, True, True, False, True, False, False, False, True, True, False, True, False, True,
    ]  # fmt: skip


@pytest.mark.parametrize("expression,language", [("amount > `5`", "jmespath"), ("amount > 5", "sql")])
def test_batch_gives_the_same_records_as_one_by_one(expression: str, language: str) -> None:
    step = filter_(expression, language)
    records = [partial({"id": i, "amount": i * 2}) for i in range(6)]
    assert step.apply_batch(records) == [r for r in records if step.apply(r) is not None]


def test_expression_failing_on_a_record_names_the_step() -> None:
    step = filter_("length(amount) > `1`", "jmespath", "transform[4]")
    with pytest.raises(BadRecordError) as engine:
        compile_expression("length(amount) > `1`", "jmespath").evaluate({"amount": 3})
    with pytest.raises(BadRecordError, match=re.escape(f"transform[4] (filter): {engine.value.reason}")):
        step.apply_batch([partial({"id": 1, "amount": "abc"}), partial({"id": 2, "amount": 3})])
