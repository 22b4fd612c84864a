"""notebooks/pipeline-prototyping.ipynb runs top to bottom in a kernel of this venv, against the test Redis, and shows
what the public functions compute: the records and commands of the sample events, the `rdi validate` text of the
broken job, and the last entries of a seeded staging stream — read by a Redis user that may only read, so that the
processor's consumer group is provably left as it was."""

from __future__ import annotations

import json
import secrets
import sys
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import nbformat
import orjson
import pytest
import redis
from nbclient import NotebookClient
from typer.testing import CliRunner

from rdi.cli.main import app
from rdi.demo import DEMO_DIR
from rdi.keys import consumer_group, staging_stream
from tests.rdi.collectors._pg_pipeline import Running

NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "pipeline-prototyping.ipynb"
KERNEL = "rdi-test-venv"
STREAM = staging_stream("shop", "public", "orders")
# appended to the executed notebook: the frames as JSON, and the kernel's interpreter
PROBE = """\
import json as _json, sys as _sys
print(_json.dumps({
    "records": records.write_json(), "commands": commands.write_json(),
    "live_records": live_records.write_json(), "live_commands": live_commands.write_json(),
    "python": _sys.executable,
}))
"""


def _value(op: str, before: dict[str, Any] | None, after: dict[str, Any] | None) -> bytes:
    source = {"name": "shop", "db": "shop", "schema": "public", "table": "orders", "snapshot": "false"}
    return orjson.dumps({"op": op, "before": before, "after": after, "source": source, "ts_ms": 1})


def _seed(client: redis.Redis) -> list[str]:
    """Five order entries in the orders staging stream; the processor's group has read two, acknowledged one."""
    ids = []
    for i in range(1, 6):
        row = {"id": i, "status": "paid" if i != 4 else "draft", "total": f"{i}0.00"}
        ids.append(client.xadd(STREAM, {"key": orjson.dumps({"id": i}), "value": _value("c", None, row)}).decode())
    client.xgroup_create(STREAM, consumer_group(), id="0")
    read: Any = client.xreadgroup(consumer_group(), "processor-0", {STREAM: ">"}, count=2)
    client.xack(STREAM, consumer_group(), read[0][1][0][0])
    return ids


def _state(client: redis.Redis, stream: str) -> tuple[Any, ...]:
    """Length, last id, consumer groups and their pending entries (without idle times) of ``stream``."""
    groups = client.xinfo_groups(stream)
    pending = [
        [
            (p["message_id"], p["consumer"], p["times_delivered"])
            for p in client.xpending_range(stream, g["name"], "-", "+", 10)
        ]
        for g in groups
    ]
    return client.xlen(stream), client.xinfo_stream(stream)["last-generated-id"], groups, pending


def _execute(
    admin: redis.Redis, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **env: str
) -> tuple[Any, dict[str, Any]]:
    """Runs the notebook and the probe cell with ``env``, the RDI DB reached as a user that may only read; gives
    the executed notebook and what the probe printed."""
    password = secrets.token_hex(16)
    admin.acl_setuser("rdi-notebook", enabled=True, passwords=[f"+{password}"], keys=["*"],
                      commands=["+@read", "+@connection", "-@write"])  # fmt: skip
    try:
        address = urlsplit(redis_url)
        _kernel(tmp_path, monkeypatch)
        for name in ("RDI_PIPELINE_DIR", "RDI_NOTEBOOK_STREAM", "RDI_NOTEBOOK_EVENTS", "RDI_NOTEBOOK_COUNT"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("RDI_DB_URL", f"redis://rdi-notebook:{password}@{address.netloc}{address.path}")
        monkeypatch.setenv("RDI_NOTEBOOK_WORKDIR", str(tmp_path))
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        nb = nbformat.read(NOTEBOOK, as_version=4)
        nb.cells.append(nbformat.v4.new_code_cell(PROBE))
        resources = {"metadata": {"path": str(NOTEBOOK.parent)}}
        NotebookClient(nb, kernel_name=KERNEL, timeout=120, resources=resources).execute()
    finally:
        admin.acl_deluser("rdi-notebook")
    return nb, json.loads(_text(nb.cells[-1].outputs))


def _kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A kernelspec running ipykernel with this interpreter (the venv's), found through JUPYTER_PATH."""
    spec = tmp_path / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": KERNEL, "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")


def _outputs(nb: Any, tag: str) -> list[Any]:
    return [o for cell in nb.cells if tag in cell.metadata.get("tags", []) for o in cell.outputs]


def _text(outputs: list[Any]) -> str:
    return "".join(o.get("text", "") for o in outputs if o.output_type == "stream")


@pytest.mark.redis
def test_notebook_runs_top_to_bottom_and_shows_what_rdi_computes(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = nbformat.read(NOTEBOOK, as_version=4)
    assert [c.get("outputs", []) for c in source.cells if c.cell_type == "code"] == [[]] * sum(
        c.cell_type == "code" for c in source.cells
    ), "the notebook is kept in git with its outputs stripped"
    admin = redis.Redis.from_url(redis_url)
    try:
        admin.flushdb()
        ids = _seed(admin)
        before = _state(admin, STREAM)
        nb, probe = _execute(admin, redis_url, tmp_path, monkeypatch, RDI_NOTEBOOK_COUNT="4")
        after = _state(admin, STREAM)
    finally:
        admin.flushdb()
        admin.close()
    records, commands = json.loads(probe["records"]), json.loads(probe["commands"])
    live_records, live_commands = json.loads(probe["live_records"]), json.loads(probe["live_commands"])

    assert probe["python"] == sys.executable
    # the sample events: two customers, a product, an order created / filtered (draft) / updated / deleted
    assert [(r["event"], r["job"], r["op"], r["key"], r["note"]) for r in records] == [
        (0, "customers", "c", "customer:1", None),
        (1, "customers", "c", "customer:2", None),
        (2, "products", "c", "product:5", None),
        (3, "orders", "c", "order:10", None),
        (4, "orders", None, None, "filtered"),
        (5, "orders", "u", "order:10", None),
        (6, "orders", "d", "order:10", None),
    ]
    assert [(r["tier"], r["name"]) for r in records[:2]] == [("gold", "Ann"), ("standard", "Bo")]
    assert (records[2]["title"], records[3]["total_with_tax"], records[5]["label"]) == ("Mug", 144.6, "#10 SHIPPED")
    assert [(c["event"], c["command"], c["key"]) for c in commands] == [
        (0, "HSET", "customer:1"),
        (1, "HSET", "customer:2"),
        (2, "JSON.SET", "product:5"),
        (2, "XADD", "products:changes"),
        (3, "JSON.SET", "order:10"),
        (3, "EXPIRE", "order:10"),
        (3, "ZADD", "orders:by_total"),
        (5, "JSON.SET", "order:10"),
        (5, "EXPIRE", "order:10"),
        (5, "ZADD", "orders:by_total"),
        (6, "DEL", "order:10"),
        (6, "ZREM", "orders:by_total"),
    ]
    assert commands[0]["args"] == ["id", "1", "name", "Ann", "email", "ann@example.com", "vip", "1", "tier", "gold"]
    assert (json.loads(commands[4]["args"][1])["label"], commands[6]["args"]) == ("#10 PAID", ["144.6", "10"])

    # the broken job's errors: exactly what `rdi validate` prints for the same folder
    cli = CliRunner().invoke(app, ["validate", "--dir", str(tmp_path / "broken")])
    shown = _text(_outputs(nb, "validate"))
    assert (cli.exit_code, shown) == (2, cli.output)
    assert shown.splitlines()[1].startswith("jobs/orders.yaml:15: output[0].with.data_type: 'hsh' is not one of")

    # the frames are displayed, not only computed
    assert [bool(_outputs(nb, tag)[0]["data"]["text/html"]) for tag in ("records", "commands", "live-commands")] == [
        True
    ] * 3

    # the live part: the last 4 of the 5 seeded entries, through the orders job, and nothing consumed or acked
    assert _text(_outputs(nb, "live-records")).startswith(f"{STREAM}: last 4 entries (of 1 staging stream(s))")
    assert [(r["entry"], r["job"], r["key"], r["note"]) for r in live_records] == [
        (ids[1], "orders", "order:2", None),
        (ids[2], "orders", "order:3", None),
        (ids[3], "orders", None, "filtered"),
        (ids[4], "orders", "order:5", None),
    ]
    assert [(c["command"], c["key"]) for c in live_commands][:3] == [
        ("JSON.SET", "order:2"),
        ("EXPIRE", "order:2"),
        ("ZADD", "orders:by_total"),
    ]
    assert (after, before[3]) == (before, [[(ids[1].encode(), b"processor-0", 1)]])


@pytest.mark.postgres
@pytest.mark.redis
def test_notebook_reads_what_the_real_postgres_collector_staged(
    pg_dsn: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"nb_{uuid.uuid4().hex[:8]}"
    folder = tmp_path / "pipeline"
    setup = "CREATE TABLE {s}.orders (id int PRIMARY KEY, status text, total numeric(10, 2), created_at date)"
    admin = redis.Redis.from_url(redis_url)
    try:
        with Running(folder, pg_dsn, redis_url, name, setup) as running:
            running.sql("INSERT INTO {s}.orders VALUES (1, 'paid', 12.50, '2024-01-02'), (2, 'draft', 1, '2024-01-03')")
            running.sql("UPDATE {s}.orders SET status = 'shipped' WHERE id = 1")
            running.wait_events("orders", 3)
            job = (DEMO_DIR / "pipeline" / "jobs" / "orders.yaml").read_text()
            (folder / "jobs" / "orders.yaml").write_text(job.replace("schema: public", f"schema: {name}"))
            stream = staging_stream("pg", name, "orders")
            before = _state(admin, stream)
            nb, probe = _execute(
                admin, redis_url, tmp_path, monkeypatch, RDI_PIPELINE_DIR=str(folder), RDI_NOTEBOOK_STREAM=stream
            )
            after = _state(admin, stream)
    finally:
        admin.flushdb()
        admin.close()
    live = json.loads(probe["live_records"])
    assert _text(_outputs(nb, "load")).startswith(f"{folder}: valid, jobs: orders")
    # the collector's published column types are applied: `date` → epoch ms, as the processor decodes it
    assert [(r["job"], r["op"], r["key"], r["note"], r["status"], r["created_at"], r["label"]) for r in live] == [
        ("orders", "c", "order:1", None, "paid", 1704153600000, "#1 PAID"),
        ("orders", None, None, "filtered", None, None, None),
        ("orders", "u", "order:1", None, "shipped", 1704153600000, "#1 SHIPPED"),
    ]
    assert (after, before[0], before[2]) == (before, 3, [])
