"""`rdi scaffold`, `rdi validate`, `rdi dry-run`: offline commands, run through the real CLI."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from rdi.cli.main import app
from rdi.scaffold import DB_TYPES

CASES = Path(__file__).parents[2] / "cases"
runner = CliRunner()


@pytest.mark.parametrize("strategy", ["ingest", "write_behind"])
@pytest.mark.parametrize("db_type", DB_TYPES)
def test_scaffolded_pipeline_validates(tmp_path: Path, db_type: str, strategy: str) -> None:
    made = runner.invoke(app, ["scaffold", "--db-type", db_type, "--strategy", strategy, "--dir", str(tmp_path)])
    if strategy == "write_behind" and db_type in ("mongodb", "spanner", "snowflake"):
        assert (made.exit_code, made.output.strip()) == (
            2,
            f"--db-type: write-behind targets are SQL databases; `{db_type}` is not one",
        )
        return
    checked = runner.invoke(app, ["validate", "--dir", str(tmp_path)])
    assert (made.exit_code, checked.exit_code, checked.output.startswith(f"{tmp_path}: valid")) == (
        0,
        0,
        True,
    )


def test_scaffold_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    runner.invoke(app, ["scaffold", "--db-type", "mysql", "--dir", str(tmp_path)])
    again = runner.invoke(app, ["scaffold", "--db-type", "mysql", "--dir", str(tmp_path)])
    assert (again.exit_code, again.output.strip()) == (
        2,
        f"{tmp_path / 'config.yaml'} exists; use --force to overwrite",
    )


def test_scaffold_rejects_unknown_db_type() -> None:
    result = runner.invoke(app, ["scaffold", "--db-type", "db2"])
    assert (result.exit_code, result.output.strip()) == (
        2,
        "--db-type: `db2` is not one of postgresql, mysql, mariadb, oracle, sqlserver, mongodb, spanner, snowflake",
    )


def test_validate_prints_every_issue_with_file_line_and_field_and_exits_2() -> None:
    folder = CASES / "config" / "invalid" / "many_files"
    result = runner.invoke(app, ["validate", "--dir", str(folder)])
    expected = (CASES / "config" / "invalid" / "many_files.expected.txt").read_text()
    assert (result.exit_code, result.output) == (2, expected)


def test_validate_with_secrets_required_reports_unset_reference(tmp_path: Path) -> None:
    runner.invoke(app, ["scaffold", "--db-type", "postgresql", "--dir", str(tmp_path)])
    result = runner.invoke(app, ["validate", "--dir", str(tmp_path), "--secrets"], env={"SOURCE_DB_USERNAME": "u"})
    assert (result.exit_code, "Traceback" in result.output, "SOURCE_DB_PASSWORD" in result.output) == (
        2,
        False,
        True,
    )


def test_dry_run_of_unknown_job_names_the_known_ones() -> None:
    demo = Path(__file__).parents[3] / "rdi" / "demo"
    result = runner.invoke(
        app,
        ["dry-run", "--dir", str(demo / "pipeline"), "--job", "order", "--input", str(demo / "events.json")],
    )
    assert (result.exit_code, result.output.strip()) == (
        2,
        f"--job: no job `order` in {demo / 'pipeline' / 'jobs'} (jobs: customers, orders, products)",
    )


def test_dry_run_prints_records_and_commands_for_each_event() -> None:
    demo = Path(__file__).parents[3] / "rdi" / "demo"
    result = runner.invoke(
        app,
        ["dry-run", "--dir", str(demo / "pipeline"), "--job", "orders", "--input", str(demo / "events.json")],
    )
    printed = orjson.loads(result.stdout)
    summary = [
        (r["job"], r["transformation"] and r["transformation"]["opcode"], [o["commands"] for o in r["output"]])
        for r in printed
    ]
    doc = printed[0]["output"][0]["commands"][0][3]
    assert (result.exit_code, summary, orjson.loads(doc)) == (
        0,
        [
            ("orders", "c", [[["JSON.SET", "order:1", "$", doc], ["EXPIRE", "order:1", "86400"]],
                             [["ZADD", "orders:by_total", "144.6", "1"]]]),
            ("orders", None, []),
            ("orders", "u", [[["JSON.SET", "order:1", "$", printed[2]["output"][0]["commands"][0][3]],
                              ["EXPIRE", "order:1", "86400"]],
                             [["ZADD", "orders:by_total", "144.6", "1"]]]),
            ("orders", "d", [[["DEL", "order:1"]], [["ZREM", "orders:by_total", "1"]]]),
        ],
        {"id": 1, "customer_id": 7, "status": "paid", "total": "120.50", "created_at": 1795827056402609,
         "total_with_tax": 144.6, "label": "#1 PAID"},
    )  # fmt: skip


def test_dry_run_reports_a_bad_event_and_goes_on(tmp_path: Path) -> None:
    demo = Path(__file__).parents[3] / "rdi" / "demo"
    events = tmp_path / "events.json"
    events.write_text(
        '[{"key": {"id": 1}, "value": "not json"}, {"op": "c", "after": {"id": 5}, '
        '"source": {"name": "shop", "db": "shop", "schema": "public", "table": "orders"}}]'
    )
    result = runner.invoke(app, ["dry-run", "--dir", str(demo / "pipeline"), "--job", "orders", "--input", str(events)])
    printed = orjson.loads(result.stdout)
    assert (result.exit_code, printed) == (
        0,
        [{"index": 0,
          "rejected": "event value is not JSON: invalid literal, expected 'null': line 1 column 1 (char 0)"},
         {"index": 1, "rejected": "transform[0] (filter): sql `status <> 'draft'`: no such column: status"}],
    )  # fmt: skip


def test_validate_checks_how_nest_outputs_link_up(tmp_path: Path) -> None:
    runner.invoke(app, ["scaffold", "--db-type", "postgresql", "--dir", str(tmp_path)])
    (tmp_path / "jobs" / "lines.yaml").write_text(
        "source: {table: lines}\n"
        "output:\n"
        "  - uses: redis.write\n"
        "    with: {nest: {parent: {table: orders}, parent_key: order_id, nesting_key: line_id, path: $.lines}}\n"
    )
    result = runner.invoke(app, ["validate", "--dir", str(tmp_path)])
    assert (result.exit_code, result.output) == (
        2,
        "jobs/default-job: output: table `orders` holds nested rows, so its rows must be JSON "
        "documents at the default key; write it with `data_type: json` and no `key`\n",
    )
