"""notebooks/pipeline-prototyping.ipynb runs top to bottom in a kernel of this venv, against the test Redis, and shows
what the public functions compute: the records and commands of the sample events, the `rdi validate` text of the
broken job, and the last entries of a seeded staging stream — read by a Redis user that may only read, so that the
processor's consumer group is provably left as it was."""

from __future__ import annotations

import json
import secrets
import sys
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
from rdi.keys import consumer_group, staging_stream

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


def _state(client: redis.Redis) -> tuple[Any, ...]:
    return (
        client.xlen(STREAM),
        client.xinfo_groups(STREAM),
        [
            (p["message_id"], p["consumer"], p["times_delivered"])
            for p in client.xpending_range(STREAM, consumer_group(), "-", "+", 10)
        ],
        client.xinfo_stream(STREAM)["last-generated-id"],
    )


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
    password = secrets.token_hex(16)
    try:
        admin.flushdb()
        ids = _seed(admin)
        before = _state(admin)
        admin.acl_setuser("rdi-notebook", enabled=True, passwords=[f"+{password}"], keys=["*"],
                          commands=["+@read", "+@connection", "-@write"])  # fmt: skip
        address = urlsplit(redis_url)
        _kernel(tmp_path, monkeypatch)
        monkeypatch.setenv("RDI_DB_URL", f"redis://rdi-notebook:{password}@{address.netloc}{address.path}")
        monkeypatch.setenv("RDI_NOTEBOOK_WORKDIR", str(tmp_path))
        monkeypatch.setenv("RDI_NOTEBOOK_COUNT", "4")
        monkeypatch.delenv("RDI_PIPELINE_DIR", raising=False)
        monkeypatch.delenv("RDI_NOTEBOOK_STREAM", raising=False)
        monkeypatch.delenv("RDI_NOTEBOOK_EVENTS", raising=False)
        nb = nbformat.read(NOTEBOOK, as_version=4)
        nb.cells.append(nbformat.v4.new_code_cell(PROBE))
        resources = {"metadata": {"path": str(NOTEBOOK.parent)}}
        NotebookClient(nb, kernel_name=KERNEL, timeout=120, resources=resources).execute()
        after = _state(admin)
    finally:
        admin.acl_deluser("rdi-notebook")
        admin.flushdb()
        admin.close()
    probe = json.loads(_text(nb.cells[-1].outputs))
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
    assert (after, before[2]) == (before, [(ids[1].encode(), b"processor-0", 1)])
