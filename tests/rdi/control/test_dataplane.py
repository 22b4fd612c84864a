"""What the controller runs for a pipeline (pure planning, no processes): write-behind captures and flows."""

from __future__ import annotations

from rdi.config import Pipeline, load_config_text, load_job_text
from rdi.control.dataplane import ProcessorOptions, plan_data_plane

SQL_TARGET = """
targets:
  pg: {connection: {type: postgresql, host: 127.0.0.1, port: 5432, database: app, user: u}}
"""
REDIS_SOURCE = """
sources:
  app: {type: cdc, connection: {type: redis, host: 127.0.0.1, port: 6380}}
"""
LEGACY = """
connections:
  pg: {type: postgresql, host: 127.0.0.1, port: 5432, database: app, user: u}
"""


def _job(pattern: str = "cust:*") -> str:
    return f"""
source: {{redis: {{key_pattern: "{pattern}"}}}}
output:
  - uses: relational.write
    with: {{connection: pg, schema: public, table: customers, keys: [id], load_strategy: UPSERT}}
"""


def _plan(config: str, job: str) -> dict[str, tuple[tuple[str, ...], str]]:
    pipeline = Pipeline(load_config_text(config), {"customers": load_job_text(job, "customers.yaml")})
    specs = plan_data_plane(pipeline, name="default", rdi_url="redis://127.0.0.1:6379/0", secrets={},
                            processor=ProcessorOptions())  # fmt: skip
    return {spec.name: (spec.command, spec.env["RDI_CONFIG_DIGEST"]) for spec in specs}


def test_a_redis_source_gets_a_capture_and_the_processor_runs_flows_write_behind() -> None:
    plan = _plan(REDIS_SOURCE + SQL_TARGET, _job())
    assert sorted(plan) == ["collector-app", "processor-0"]
    assert plan["collector-app"][0][-2:] == ("--source", "app")
    assert "flows.write_behind" in plan["processor-0"][0]


def test_the_legacy_form_captures_the_rdi_db_under_the_name_rdi() -> None:
    plan = _plan(LEGACY, _job())
    assert sorted(plan) == ["collector-rdi", "processor-0"]
    assert plan["collector-rdi"][0][-2:] == ("--source", "rdi")
    assert "flows.write_behind" in plan["processor-0"][0]


def test_a_new_key_pattern_restarts_the_capture_but_not_the_processor() -> None:
    for config in (REDIS_SOURCE + SQL_TARGET, LEGACY):
        before, after = _plan(config, _job("cust:*")), _plan(config, _job("customer:*"))
        capture = next(name for name in before if name.startswith("collector-"))
        assert before[capture][1] != after[capture][1]
        assert before["processor-0"][1] == after["processor-0"][1]
