"""`validate_pipeline`, `format_config_error` and `dry_run_pipeline`: what `rdi validate` checks and prints, and
events routed through a whole pipeline the way the processor routes them."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest

from rdi import ConfigError, dry_run_pipeline, format_config_error, validate_pipeline
from rdi.demo import DEMO_DIR
from rdi.events import ColumnType

CASES = Path(__file__).parents[1] / "cases"


def _event(table: str, after: dict[str, object], op: str = "c") -> dict[str, object]:
    source = {"name": "shop", "db": "shop", "schema": "public", "table": table}
    return {"key": {"id": after["id"]}, "value": {"op": op, "before": None, "after": after, "source": source}}


def test_format_config_error_is_the_text_rdi_validate_prints() -> None:
    with pytest.raises(ConfigError) as caught:
        validate_pipeline(CASES / "config" / "invalid" / "many_files")
    expected = (CASES / "config" / "invalid" / "many_files.expected.txt").read_text()
    assert format_config_error(caught.value) + "\n" == expected


def test_validate_pipeline_checks_the_jobs_together(tmp_path: Path) -> None:
    shutil.copytree(DEMO_DIR / "pipeline", tmp_path, dirs_exist_ok=True)
    (tmp_path / "jobs" / "orders.yaml").write_text(
        "source: {schema: public, table: orders}\noutput:\n  - uses: redis.write\n    with: {data_type: hsh}\n"
    )
    with pytest.raises(ConfigError) as caught:
        validate_pipeline(tmp_path)
    assert format_config_error(caught.value) == (
        "jobs/orders.yaml:4: output[0].with.data_type: 'hsh' is not one of hash, json, set, sorted_set, stream, "
        "string (did you mean `hash`?)"
    )


def test_dry_run_pipeline_routes_each_event_to_its_tables_job() -> None:
    pipeline = validate_pipeline(DEMO_DIR / "pipeline")
    events = [
        _event("customers", {"id": 7, "name": "Ann", "vip": True}),
        _event("orders", {"id": 2, "customer_id": 7, "status": "draft", "total": "15.00"}),
        _event("audit", {"id": 3, "what": "login"}),
    ]
    results = dry_run_pipeline(pipeline, events)
    assert [(r["job"], r["transformation"] and r["transformation"]["data"]) for r in results] == [
        ("customers", {"id": 7, "name": "Ann", "vip": True, "tier": "gold"}),
        ("orders", None),
        ("<default mapping>", {"id": 3, "what": "login"}),
    ]
    assert [c for o in results[0]["output"] for c in o["commands"]] == [
        ["HSET", "customer:7", "id", "7", "name", "Ann", "vip", "1", "tier", "gold"]
    ]


def test_dry_run_pipeline_takes_staging_entries_and_the_published_types() -> None:
    pipeline = validate_pipeline(DEMO_DIR / "pipeline")
    value = orjson.dumps(_event("customers", {"id": 1, "name": "Bo", "vip": False, "since": 19000})["value"])
    entry = {"id": "1-0", "key": b'{"id": 1}', "value": value}
    typed = dry_run_pipeline(pipeline, [entry], types={"since": ColumnType(name="io.debezium.time.Date", type="int32")})
    untyped = dry_run_pipeline(pipeline, [entry])
    assert (typed[0]["transformation"]["data"]["since"], untyped[0]["transformation"]["data"]["since"]) == (
        19000 * 86_400_000,
        19000,
    )
