"""The API-backed CLI as a subprocess against a live `rdi api`: deploy, list/get/describe, lifecycle, DLQs,
secrets, contexts — and user errors as one line with an exit code, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import redis
import yaml

from rdi import keys
from rdi.control.store import PipelineStatus, PipelineStore, write_status
from rdi.processor import Rejected, dlq_fields
from tests.api.api_server import USER, USER_PASSWORD, ApiServer, running_api

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
def api(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    with running_api(redis_url, tmp_path_factory.mktemp("api") / "api.log") as server:
        yield server


@pytest.fixture
def env(api: ApiServer, redis_client: redis.Redis, tmp_path: Path) -> dict[str, str]:
    """The CLI's environment: the live API, a user, a private contexts file; a flushed RDI DB."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RDI_")}
    return {**clean, "RDI_API_URL": api.url, "RDI_USER": USER, "RDI_PASSWORD": USER_PASSWORD,
            "RDI_CONTEXTS_FILE": str(tmp_path / "contexts.yaml"), "COLUMNS": "200"}  # fmt: skip


def rdi(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "rdi", *args]
    return subprocess.run(command, env=env, input=stdin, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def pipeline_dir(tmp_path: Path, env: dict[str, str]) -> Path:
    folder = tmp_path / "pipeline"
    assert rdi(env, "scaffold", "--db-type", "postgresql", "--dir", str(folder)).returncode == 0
    return folder


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.split("│")]


def _deploy(env: dict[str, str], folder: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return rdi(env, "deploy", "--dir", str(folder), "--no-validate-tables", "--no-wait", *extra)


def test_deploy_list_get_and_describe(env: dict[str, str], pipeline_dir: Path, redis_client: redis.Redis) -> None:
    deployed = _deploy(env, pipeline_dir)
    redis_client.hset(keys.collector_status("postgresql"), mapping={"snapshot:public.orders": "40/80"})
    listed = rdi(env, "list")
    got = orjson.loads(rdi(env, "get", "-o", "json").stdout)
    described = rdi(env, "describe")
    assert (deployed.returncode, deployed.stderr, _cells(listed.stdout.splitlines()[2]),
            got["config"]["sources"]["postgresql"]["connection"]["password"], got["jobs"][0]["name"],
            "public.orders" in described.stdout, "40/80 (50%)" in described.stdout, "━" in described.stdout) == (
        0, "deployed pipeline `default` version 1\n", ["default", "true", "pending", "false", "1", "1", "0"],
        "${SOURCE_DB_PASSWORD}", "default-job", True, True, True,
    )  # fmt: skip


def test_start_and_stop_record_the_desired_state(env: dict[str, str], pipeline_dir: Path, redis_client: redis.Redis):
    _deploy(env, pipeline_dir)
    stopped = rdi(env, "stop", "--no-wait")
    active_after_stop = PipelineStore(redis_client).meta().active
    started = rdi(env, "start", "--no-wait")
    assert (stopped.returncode, active_after_stop, started.returncode, PipelineStore(redis_client).meta().active) == (
        0,
        False,
        0,
        True,
    )


def test_wait_returns_once_the_controller_reports_the_state(
    env: dict[str, str], pipeline_dir: Path, redis_client: redis.Redis
) -> None:
    _deploy(env, pipeline_dir)
    redis_client.set(keys.HA_LOCK, "node-a")
    write_status(redis_client, "default", PipelineStatus("stopped", 1, [], [], True, 1, 0, "node-a", 1, 1),
                 holder="node-a")  # fmt: skip
    stopped = rdi(env, "stop", "--timeout", "20s")
    timed_out = rdi(env, "start", "--timeout", "1s")
    assert (stopped.returncode, timed_out.returncode, timed_out.stderr.splitlines()) == (
        0,
        1,
        ["start: requested for pipeline `default`",
         "timed out after 1s waiting for pipeline `default` to run (status stopped, observed version 1); "
         "check `rdi describe` and that `rdi controller` runs, or pass --no-wait"],
    )  # fmt: skip


def test_an_invalid_pipeline_lists_every_issue_and_keeps_the_deployed_one(
    env: dict[str, str], pipeline_dir: Path, redis_client: redis.Redis
) -> None:
    _deploy(env, pipeline_dir)
    before = PipelineStore(redis_client).deployed()
    (pipeline_dir / "jobs" / "bad.yaml").write_text("source:\n  table: t\noutput:\n  - uses: redis.write\n    with:\n"
                                                    "      data_type: tree\n      nope: 1\n")  # fmt: skip
    refused = _deploy(env, pipeline_dir)
    assert (refused.returncode, refused.stderr.splitlines(), PipelineStore(redis_client).deployed()) == (
        2,
        ["pipeline `default` is invalid (2 issue(s)); nothing was changed",
         "jobs/bad.yaml:6: output[0].with.data_type: 'tree' is not one of hash, json, set, sorted_set, stream, string"
         " (did you mean `stream`?)",
         "jobs/bad.yaml:7: output[0].with: unknown key `nope` (expected one of: connection, data_type, key, expire,"
         " args, mapping, on_update, nest)"],
        before,
    )  # fmt: skip


def test_dlq_records_written_by_the_processor_are_listed(env: dict[str, str], redis_client: redis.Redis) -> None:
    stream = "data:pg.public.orders"
    for i in range(3):
        value = {"op": "u", "after": {"id": i}, "source": {"name": "pg", "schema": "public", "table": "orders"}}
        rejected = Rejected(b"1-1", b'{"id": 1}', orjson.dumps(value), f"reason {i}", "orders")
        redis_client.xadd(keys.dlq_stream(stream), dlq_fields(stream, rejected))  # type: ignore[arg-type]
    dlqs = rdi(env, "list-dlqs", "-o", "json")
    records = rdi(env, "list-dlq-records", "pg.public.orders", "--limit", "2")
    oldest = orjson.loads(rdi(env, "get-rejected", "pg.public.orders", "--sort-order", "asc", "-o", "json").stdout)
    rows = [_cells(line) for line in records.stdout.splitlines()[2:]]
    assert (orjson.loads(dlqs.stdout), [(r[2], r[-1]) for r in rows], [r["reason_rejected"] for r in oldest]) == (
        {"pg.public.orders": {"total_count": 3}},
        [("update", "reason 2"), ("update", "reason 1")],
        ["reason 0", "reason 1", "reason 2"],
    )


def test_secrets_are_set_from_stdin_and_listed_by_name(env: dict[str, str], redis_client: redis.Redis) -> None:
    value = "cli-secret-value-9931"
    set_ = rdi(env, "set-secret", "SOURCE_DB_PASSWORD", stdin=value + "\n")
    listed = rdi(env, "list-secrets", "-o", "json")
    shown = rdi(env, "get-secret", "SOURCE_DB_PASSWORD")
    everything = set_.stdout + set_.stderr + listed.stdout + shown.stdout
    assert (set_.returncode, orjson.loads(listed.stdout), shown.stdout.strip(), value in everything) == (
        0,
        [{"key": "SOURCE_DB_PASSWORD"}],
        "SOURCE_DB_PASSWORD: set",
        False,
    )


def test_contexts_are_saved_without_passwords(env: dict[str, str], api: ApiServer, tmp_path: Path) -> None:
    bare = {k: v for k, v in env.items() if k not in ("RDI_API_URL", "RDI_USER")}
    rdi(bare, "set-context", "dev", "--api-url", api.url, "--user", USER)
    rdi(bare, "set-context", "other", "--api-url", "http://127.0.0.1:1")
    used = rdi(bare, "use-context", "dev")
    listed = rdi(bare, "list", "-o", "json")
    saved = yaml.safe_load(Path(env["RDI_CONTEXTS_FILE"]).read_text())
    assert (used.returncode, listed.returncode, saved) == (
        0,
        0,
        {"current-context": "dev",
         "contexts": {"dev": {"api-url": api.url, "user": USER}, "other": {"api-url": "http://127.0.0.1:1"}}},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("override", "args", "code", "starts"),
    [
        ({"RDI_API_URL": "http://127.0.0.1:1"}, ["list"], 1, "cannot reach the rdi API at http://127.0.0.1:1"),
        ({"RDI_PASSWORD": "wrong"}, ["list"], 1, "login failed: the RDI database rejected user `rdi-operator`"),
        ({"RDI_USER": ""}, ["list"], 1, "not authorized: missing bearer token"),
        ({}, ["get", "nope"], 1, "no pipeline `nope` is deployed (HTTP 404)"),
        ({}, ["list", "-o", "xml"], 2, "-o: `xml` is not one of table, json, yaml"),
    ],
)
def test_user_errors_are_one_line_with_an_exit_code(
    env: dict[str, str], override: dict[str, str], args: list[str], code: int, starts: str
) -> None:
    done = rdi({**env, **override}, *args)
    assert (
        done.returncode,
        len(done.stderr.splitlines()),
        done.stderr.startswith(starts),
        "Traceback" in done.stderr,
    ) == (
        code,
        1,
        True,
        False,
    ), done.stderr


def test_info_jobs_metric_collections_and_delete(env: dict[str, str], pipeline_dir: Path) -> None:
    _deploy(env, pipeline_dir)
    info = orjson.loads(rdi(env, "info", "-o", "json").stdout)
    jobs = orjson.loads(rdi(env, "list-jobs", "-o", "json").stdout)
    job = yaml.safe_load(rdi(env, "describe-job", "default-job").stdout)
    collections = orjson.loads(rdi(env, "list-metric-collections", "-o", "json").stdout)
    refused = rdi(env, "delete", stdin="n\n")
    deleted = rdi(env, "delete", "--force")
    gone = rdi(env, "get")
    assert (info["api_version"], [j["name"] for j in jobs], job["source"], [c["name"] for c in collections],
            refused.returncode, deleted.returncode, gone.stderr) == (
        "v2", ["default-job"], {"table": "*"}, ["processor", "streams"], 1, 0,
        "no pipeline `default` is deployed (HTTP 404)\n",
    )  # fmt: skip


def test_dry_run_deploys_nothing_and_a_missing_password_is_read_from_stdin(
    env: dict[str, str], pipeline_dir: Path, redis_client: redis.Redis
) -> None:
    dry = rdi(env, "deploy", "--dir", str(pipeline_dir), "--dry-run", "--no-validate-tables")
    nothing = PipelineStore(redis_client).deployed()
    _deploy(env, pipeline_dir)
    prompted = rdi({k: v for k, v in env.items() if k != "RDI_PASSWORD"}, "get", "-o", "yaml", stdin=USER_PASSWORD)
    assert (dry.returncode, dry.stderr, nothing, prompted.returncode, yaml.safe_load(prompted.stdout)["version"]) == (
        0,
        f"pipeline `default` from {pipeline_dir} is valid (dry run: nothing deployed)\n",
        None,
        0,
        1,
    )
