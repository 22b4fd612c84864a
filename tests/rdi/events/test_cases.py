"""Debezium conformance cases: ``tests/cases/debezium/<db>/<case>.json`` → ``<case>.expected.json``.

A case file holds ``key`` and ``value`` — the stream entry's fields: a JSON string is the field's raw text
(``"default"``, or text orjson cannot parse), anything else is serialised to JSON text — plus optional
``types`` (column → ``ColumnType`` fields), ``placeholder`` and ``row_format`` (default ``partial``).
The expected file is the :class:`Record` as JSON (``null`` when the entry carries no row change). Values are
compared as canonical JSON text, so ``1`` and ``1.0`` differ. A new case is two new files.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import orjson
import pytest

from rdi.events import DEFAULT_PLACEHOLDER, ColumnType, decode_event, to_record

CASES_DIR = Path(__file__).parents[2] / "cases" / "debezium"
CASES = sorted(p for p in CASES_DIR.glob("*/*.json") if not p.name.endswith(".expected.json"))


def _field(value: Any) -> bytes | str:
    return value if isinstance(value, str) else orjson.dumps(value)


def _canonical(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()


def _run(spec: dict[str, Any]) -> Any:
    types = {col: ColumnType(**t) for col, t in spec.get("types", {}).items()}
    event = decode_event(
        _field(spec["key"]),
        _field(spec["value"]),
        types=types or None,
        placeholder=spec.get("placeholder", DEFAULT_PLACEHOLDER),
    )
    if event is None:
        return None
    record = dataclasses.asdict(to_record(event, spec.get("row_format", "partial")))
    # Only a legacy `key` transform sets it; decoding never does.
    assert record.pop("redis_key") is None
    return record


def test_there_are_cases_for_each_database():
    assert sorted({p.parent.name for p in CASES}) == ["mariadb", "mysql", "postgresql"]


@pytest.mark.parametrize("case", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_case(case: Path):
    spec = orjson.loads(case.read_bytes())
    expected = orjson.loads(case.with_name(f"{case.stem}.expected.json").read_bytes())
    assert _canonical(_run(spec)) == _canonical(expected)
