from __future__ import annotations

from typing import Any

from rdi.config.job import Job
from rdi.transforms import (
    AddFieldTransform,
    FilterTransform,
    KeyTransform,
    LookupStep,
    MapTransform,
    RemoveFieldTransform,
    RenameFieldTransform,
    Step,
    Transform,
    compile_transforms,
    redis_key,
)

from ._records import full

JMES = "jmespath"


def job(*transform: dict[str, Any]) -> Job:
    return Job.model_validate({"source": {"table": "orders", "row_format": "full"}, "transform": list(transform)})


def test_each_block_compiles_to_its_step_labelled_by_position() -> None:
    steps = compile_transforms(
        job(
            {"uses": "add_field", "with": {"field": "x", "expression": "`1`", "language": JMES}},
            {"uses": "remove_field", "with": {"field": "x"}},
            {"uses": "rename_field", "with": {"from_field": "a", "to_field": "b"}},
            {"uses": "filter", "with": {"expression": "`true`", "language": JMES}},
            {"uses": "map", "with": {"expression": "{a: a}", "language": JMES}},
            {"uses": "redis.lookup", "with": {"cmd": "GET", "args": ["a"], "language": JMES, "field": "v"}},
            {"uses": "key", "with": {"expression": "a", "language": JMES}},
        ).transform
    )
    assert [(type(s), s.step) for s in steps] == [
        (AddFieldTransform, "transform[0]"),
        (RemoveFieldTransform, "transform[1]"),
        (RenameFieldTransform, "transform[2]"),
        (FilterTransform, "transform[3]"),
        (MapTransform, "transform[4]"),
        (LookupStep, "transform[5]"),
        (KeyTransform, "transform[6]"),
    ]


def run(steps: list[Step], record: Any, replies: dict[tuple[str, ...], Any]) -> Any:
    """What a job runner does: transforms in order, lookups through a (here literal) Redis."""
    for step in steps:
        if record is None:
            return None
        if isinstance(step, LookupStep):
            record = step.complete(record, replies[step.command(record)])
        else:
            transform: Transform = step
            record = transform.apply(record)
    return record


def test_steps_chain_in_full_format_with_opcode_rewrite_lookup_map_and_key() -> None:
    steps = compile_transforms(
        job(
            {"uses": "filter", "with": {"expression": "table == 'orders'", "language": JMES}},
            {"uses": "add_field", "with": {"fields": [
                {"field": "after", "expression": "before", "language": JMES},
                {"field": "opcode", "expression": "'u'", "language": JMES},
            ]}},
            {"uses": "redis.lookup", "with": {
                "cmd": "HGETALL", "args": ["join(':', ['customer', to_string(after.customer_id)])"],
                "language": JMES, "field": "customer",
            }},
            {"uses": "map", "with": {"expression": "{id: after.id, customer: customer.name, deleted: `true`}",
                                     "language": JMES}},
            {"uses": "rename_field", "with": {
                "from_field": "after.customer", "to_field": "after.customer_name",
            }},
            {"uses": "key", "with": {
                "expression": "join(':', ['order', to_string(key.id)])", "language": JMES,
            }},
        ).transform
    )  # fmt: skip
    record = run(
        steps,
        full(op="d", before={"id": 5, "customer_id": 7}),
        {("HGETALL", "customer:7"): {b"name": b"Ada"}},
    )
    assert (record.op, record.opcode, redis_key(record), record.values) == (
        "d",
        "u",
        "order:5",
        {"id": 5, "customer_name": "Ada", "deleted": True},
    )
