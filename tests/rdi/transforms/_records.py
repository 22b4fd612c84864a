"""Literal records for transform tests: a `partial` row or a `full` change of table `orders`."""

from __future__ import annotations

from typing import Any

from rdi.events.event import Op, Record, Row


def partial(data: Row, *, op: Op = "u", key: Row | None = None) -> Record:
    return Record(
        data=data,
        key=key if key is not None else {"id": data.get("id")},
        row_format="partial",
        op=op,
        server_name="shop",
        db="shop",
        schema="public",
        table="orders",
    )


def full(*, op: Op, before: Row | None = None, after: Row | None = None, key: Row | None = None) -> Record:
    key = key if key is not None else {"id": (after or before or {}).get("id")}
    data: dict[str, Any] = {
        "key": key,
        "before": before,
        "after": after,
        "opcode": op,
        "db": "shop",
        "schema": "public",
        "table": "orders",
    }
    return Record(
        data=data,
        key=key,
        row_format="full",
        op=op,
        server_name="shop",
        db="shop",
        schema="public",
        table="orders",
    )
