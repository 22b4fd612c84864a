"""The default Redis key of a row, ``<table>:<col1>:<val1>[:<col2>:<val2>…]``, used when a job sets none."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from rdi.errors import BadRecordError

__all__ = ["default_key", "render_value"]


def default_key(table: str, key: Mapping[str, Any]) -> str:
    """The default key for the row of ``table`` whose primary-key columns are ``key``, in key order.

    ``default_key("orders", {"orderid": 1, "customerid": 2}) == "orders:orderid:1:customerid:2"``. The
    table is the bare table name (no schema or db). Values are rendered by :func:`render_value`, as a hash
    field would be. Raises :class:`BadRecordError` for a table without a key (``key`` empty) or a key
    column that is null.
    """
    if not key:
        raise BadRecordError(f"table `{table}` has no primary key; set `tables.{table}.keys` in config.yaml")
    parts = [table]
    for column, value in key.items():
        if value is None:
            raise BadRecordError(f"key column `{column}` of table `{table}` is null")
        parts += (column, render_value(value))
    return ":".join(parts)


def render_value(value: Any) -> str:
    """A non-null normalised value as Redis hash text: strings raw, booleans ``1``/``0``, integers in digits,
    floats as Python's shortest round-trip ``repr`` (``1529507596945.104``), lists and dicts as compact JSON.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if value is None:
        raise ValueError("null has no text form; a null field is left out")
    return orjson.dumps(value).decode()
