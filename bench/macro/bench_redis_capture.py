"""Benchmark: the write-behind capture (`rdi collector` on a `type: redis` source) next to the raw XADD ceiling.

    python bench/macro/bench_redis_capture.py [--changes 100000] [--fields 10] [--chunk-keys 1000]
        [--redis-url redis://127.0.0.1:16379/1] [--variants hash,json] [--keep-logs]

The RDI DB is ``--redis-url`` (default: ``RDI_TEST_REDIS_URL`` with db 1, else ``redis://127.0.0.1:16379/1``); that
database is FLUSHED before and after the run. The application Redis is a throw-away ``redis-server`` with RedisJSON on
a free loopback port (stopped at the end). Per variant, one run:

1. ``rdi collector --source app`` (a real subprocess) starts on the empty application Redis and is waited for
   until it follows the replication stream (status ``streaming``).
2. ``--changes`` new keys are written by a redis-py pipeline (1000 commands per round trip): ``hash`` — HSET of
   ``--fields`` fields of ~100 bytes (~1 KB); ``json`` — JSON.SET of a document with the same fields (plus a number
   and a boolean). Measured from the first write until the staging stream holds ``--changes`` entries:
   ``capture`` (changes/s, MB/s of staged key + value bytes); ``app_load`` is the writer's own time, and
   ``staged_at_last_write`` how far the capture had got by then.
3. Ceiling: the same staged entries, read back and XADDed into another stream of the RDI DB with the commands
   RESP-encoded beforehand — ``redis-cli --pipe`` (C) and one raw-socket ``sendall`` from Python; the ratio divides
   the capture rate by the best of the two.
4. A table on stdout; one JSON line appended to ``bench/results/redis_capture-<date>.json``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from _common import Rate, append_result, ceiling_raw_socket, ceiling_redis_cli, encode_xadds, run_metadata

from rdi import keys
from tests.flows._ingest import free_port
from tests.rdi.collectors._redis_capture import rejson_path

SOURCE = "app"
CEILING_STREAM = "bench:xadd-ceiling"
BATCH = 1000


def _wait(condition: Any, what: str, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.01)


def _pipeline(folder: Path, port: int, pattern: str, chunk_keys: int) -> None:
    (folder / "jobs").mkdir(parents=True, exist_ok=True)
    config = {
        "sources": {SOURCE: {"connection": {"type": "redis", "host": "127.0.0.1", "port": port},
                             "advanced": {"source": {"rdi.capture.chunk.keys": chunk_keys}}}},
        "targets": {"out": {"connection": {"type": "sqlite", "database": "o.db"}}},
    }  # fmt: skip
    job = {"source": {"redis": {"key_pattern": pattern}},
           "output": [{"uses": "relational.write", "with": {"connection": "out", "schema": "", "table": "t",
                                                              "keys": ["id"]}}]}  # fmt: skip
    (folder / "config.yaml").write_bytes(orjson.dumps(config))
    for old in (folder / "jobs").iterdir():
        old.unlink()
    (folder / "jobs" / "bench.yaml").write_bytes(orjson.dumps(job))


def _write(app: redis.Redis, variant: str, changes: int, fields: int) -> float:
    start = time.perf_counter()
    filler = "x" * 96
    for first in range(0, changes, BATCH):
        pipe = app.pipeline(transaction=False)
        for i in range(first, min(first + BATCH, changes)):
            row = {f"f{j}": f"{i:04d}{filler}" for j in range(fields)}
            if variant == "hash":
                pipe.hset(f"cust:{i}", mapping=row)
            else:
                doc = {**row, "n": i, "ok": i % 2 == 0}
                pipe.execute_command("JSON.SET", f"doc:{i}", "$", orjson.dumps(doc))
        pipe.execute()
    return time.perf_counter() - start


def _staged(rdi: redis.Redis, stream: str) -> tuple[list[tuple[bytes, bytes]], int]:
    entries: list[tuple[bytes, bytes]] = []
    last = "-"
    while True:
        batch = rdi.xrange(stream, min=last, count=10_000)
        if last != "-":
            batch = batch[1:]
        if not batch:
            break
        entries += [(f[b"key"], f[b"value"]) for _, f in batch]
        last = batch[-1][0]
    return entries, sum(len(k) + len(v) for k, v in entries)


def run_variant(args: argparse.Namespace, variant: str, tmp: Path) -> dict[str, Any]:
    rdi = redis.Redis.from_url(args.redis_url)
    rdi.flushdb()
    port = free_port()
    app_dir = tmp / f"app-{variant}"
    app_dir.mkdir()
    server = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(app_dir), "--loadmodule", rejson_path(), "--repl-backlog-size", "256mb"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    app = redis.Redis(port=port)
    _wait(lambda: _pings(app), "the application Redis")
    pattern = "cust:*" if variant == "hash" else "doc:*"
    folder = tmp / f"pipeline-{variant}"
    _pipeline(folder, port, pattern, args.chunk_keys)
    log = folder / "collector.log"
    exe = str(Path(sys.executable).parent / "rdi")
    with log.open("wb") as out:
        capture = subprocess.Popen([exe, "--rdi-url", args.redis_url, "collector", "--source", SOURCE, "--dir",
                                    str(folder)], stdout=out, stderr=out)  # fmt: skip
    stream = keys.write_behind_stream(SOURCE, 0, pattern)
    try:
        _wait(lambda: rdi.hget(keys.collector_status(SOURCE), "phase") == b"streaming", "the capture to stream")
        cpu_before = _cpu_seconds(capture.pid)
        start = time.perf_counter()
        load = _write(app, variant, args.changes, args.fields)
        staged_at_last_write = rdi.xlen(stream)
        _wait(lambda: rdi.xlen(stream) >= args.changes, "every change staged")
        elapsed = time.perf_counter() - start
        cpu = _cpu_seconds(capture.pid) - cpu_before
        capture.send_signal(signal.SIGTERM)
        code = capture.wait(timeout=60)
    finally:
        if capture.poll() is None:
            capture.kill()
            capture.wait()
        server.kill()
        server.wait()
        app.close()
    entries, nbytes = _staged(rdi, stream)
    if len(entries) != args.changes:
        raise RuntimeError(f"{len(entries)} entries staged for {args.changes} changes")
    rate = Rate.of(args.changes, nbytes, elapsed, cpu_seconds=round(cpu, 2), exit_code=code)
    resp = encode_xadds(CEILING_STREAM, entries)
    cli = ceiling_redis_cli(args.redis_url, CEILING_STREAM, resp, len(entries), nbytes)
    raw = ceiling_raw_socket(args.redis_url, CEILING_STREAM, resp, len(entries), nbytes)
    ceilings = [c for c in (cli, raw) if c]
    best = max(c["records_per_s"] for c in ceilings)
    rdi.flushdb()
    rdi.close()
    if not args.keep_logs:
        log.unlink()
    return {
        "variant": variant,
        "capture": rate,
        "app_load": Rate.of(args.changes, nbytes, load),
        "staged_at_last_write": staged_at_last_write,
        "ceilings": ceilings,
        "ratio_to_ceiling": round(rate["records_per_s"] / best, 3),
        "entry_bytes": round(nbytes / len(entries)),
    }


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    default_url = os.environ.get("RDI_TEST_REDIS_URL", "redis://127.0.0.1:16379/0").rsplit("/", 1)[0] + "/1"
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--changes", type=int, default=100_000)
    parser.add_argument("--fields", type=int, default=10)
    parser.add_argument("--chunk-keys", type=int, default=1000)
    parser.add_argument("--redis-url", default=default_url)
    parser.add_argument("--variants", default="hash,json")
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rdi-bench-capture-") as tmp:
        results = [run_variant(args, v, Path(tmp)) for v in args.variants.split(",")]
    print(f"{'variant':8} {'changes/s':>10} {'MB/s':>7} {'cpu s':>6} {'app load/s':>11} {'ceiling/s':>10} {'ratio':>6}")
    for r in results:
        best = max(c["records_per_s"] for c in r["ceilings"])
        print(f"{r['variant']:8} {r['capture']['records_per_s']:>10} {r['capture']['mb_per_s']:>7} "
              f"{r['capture']['cpu_seconds']:>6} {r['app_load']['records_per_s']:>11} {best:>10} "
              f"{r['ratio_to_ceiling']:>6}")  # fmt: skip
    path = append_result("redis_capture", {**run_metadata(), "changes": args.changes, "fields": args.fields,
                                           "chunk_keys": args.chunk_keys, "results": results})  # fmt: skip
    print(f"saved to {path}")


if __name__ == "__main__":
    main()
