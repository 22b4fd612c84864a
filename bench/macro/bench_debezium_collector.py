"""Benchmark: Debezium Server's staging throughput next to rdi's PostgreSQL collector, same rows, same run.

    python bench/macro/bench_debezium_collector.py [--rows 200000] [--txn-rows 1000]
        [--pg-dsn postgresql://postgres:postgres@127.0.0.1:15432/rdi_test] [--redis-url redis://127.0.0.1:16379/1]
        [--schema bench_dbz] [-v]

Needs the test services (PostgreSQL, Redis) and Debezium Server (`bash tests/services.sh install debezium`);
`RDI_TEST_PG_DSN` is honoured. The Redis database of ``--redis-url`` (default db 1) is FLUSHED before and after.

1. ``<schema>.orders``: ``--rows`` rows of ~1 KB (the table of ``bench_pg_collector.py``), plus two empty tables
   of the same shape for the streaming loads, ``live_nat`` and ``live_dbz``.
2. For each collector in turn — ``nat`` (rdi's, `collector: native`) then ``dbz`` (`collector: debezium`) — one
   ``rdi collector`` process (the way it runs in production) captures ``orders`` and its own live table:
   ``snapshot`` from process start until ``orders``' stream holds ``--rows`` entries (``snapshot_from_first``:
   from the first staged entry, i.e. without the JVM's or Python's start-up), then ``streaming``: ``--rows`` rows
   INSERTed into the live table in ``--txn-rows``-row transactions, from the first commit until all are staged.
   The collector is stopped (by PID) before the next one starts, so they never share the 2 cores.
3. Ceiling: rdi's staged snapshot entries, read back and XADDed into another stream by ``redis-cli --pipe`` and a
   raw socket (pre-encoded RESP). Ratios divide by the best of the two.
4. A table on stdout; one JSON line appended to ``bench/results/debezium_collector-<date>.json``.
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
from urllib.parse import urlparse

import psycopg
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from _common import Rate, append_result, ceiling_raw_socket, ceiling_redis_cli, encode_xadds, run_metadata
from bench_pg_collector import COLUMNS, ROWS_SQL, drop_everything, insert_load, read_back, say

REPO = Path(__file__).resolve().parents[2]
CEILING_STREAM = "bench:xadd-ceiling"


def write_pipeline(folder: Path, dsn: str, redis_url: str, schema: str, sink: list[str]) -> None:
    url, rd = urlparse(dsn), urlparse(redis_url)
    sources = ""
    sink_props = "".join(f"\n        {p.partition('=')[0]}: {p.partition('=')[2]}" for p in sink)
    for name, collector in (("nat", "native"), ("dbz", "debezium")):
        quarkus = "\n      quarkus: {http.port: 0}" if collector == "debezium" else ""
        if collector == "debezium" and sink_props:
            quarkus += "\n      sink:" + sink_props
        sources += f"""
  {name}:
    type: cdc
    collector: {collector}
    connection:
      type: postgresql
      host: {url.hostname}
      port: {url.port or 5432}
      database: {url.path.lstrip("/")}
      user: {url.username}
      password: ${{SOURCE_DB_PASSWORD}}
    schemas: [{schema}]
    tables: {{{schema}.orders: , {schema}.live_{name}: }}
    advanced:
      source:
        slot.name: {schema}_{name}
        publication.name: {schema}_{name}
        publication.autocreate.mode: filtered{quarkus}"""
    target = f"{{type: redis, host: {rd.hostname}, port: {rd.port}}}"
    (folder / "config.yaml").write_text(f"sources:{sources}\ntargets:\n  target:\n    connection: {target}\n")


def wait_for_len(client: redis.Redis, stream: str, count: int, process: subprocess.Popen[bytes], stall_s: float,
                 log: Path) -> tuple[float, float]:  # fmt: skip
    """(time of the first entry, time ``stream`` reached ``count``); fails when the collector dies or stalls."""
    first = 0.0
    last, last_change = -1, time.monotonic()
    while True:
        n = int(client.xlen(stream))
        now = time.perf_counter()
        if n and not first:
            first = now
        if n >= count:
            return first, now
        if process.poll() is not None:
            raise RuntimeError(f"the collector exited ({process.returncode}); see {log}")
        if n != last:
            last, last_change = n, time.monotonic()
        elif time.monotonic() - last_change > stall_s:
            raise RuntimeError(f"no progress for {stall_s:.0f} s on {stream} (at {n}); see {log}")
        time.sleep(0.01)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=90)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--txn-rows", type=int, default=1000)
    default_dsn = os.environ.get("RDI_TEST_PG_DSN", "postgresql://postgres:postgres@127.0.0.1:15432/rdi_test")
    parser.add_argument("--pg-dsn", default=default_dsn)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:16379/1", help="the RDI DB; FLUSHED")
    parser.add_argument("--schema", default="bench_dbz")
    parser.add_argument("--stall", type=float, default=180.0, help="seconds without progress before giving up")
    parser.add_argument("--sink", action="append", default=[], metavar="PROP=VALUE",
                        help="an `advanced.sink` property of the Debezium collector (repeatable)")  # fmt: skip
    parser.add_argument("--keep-logs", action="store_true", help="keep the collectors' logs (path printed)")
    args = parser.parse_args()
    n, schema, dsn = args.rows, args.schema, args.pg_dsn
    client = redis.Redis.from_url(args.redis_url)
    results: dict[str, Any] = {}
    folder = Path(tempfile.mkdtemp(prefix="rdi-bench-dbz-"))
    for name in ("nat", "dbz"):
        drop_everything(dsn, f"{schema}_{name}")
    drop_everything(dsn, schema)
    client.flushdb()
    try:
        say(f"creating {schema}.orders with {n:,} rows of ~1 KB")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
            for table in ("orders", "live_nat", "live_dbz"):
                conn.execute(f"CREATE TABLE {schema}.{table} ({COLUMNS})")
            for lo in range(1, n + 1, 100_000):
                conn.execute(ROWS_SQL.format(table=f"{schema}.orders"), [lo, min(lo + 100_000, n + 1) - 1])
            conn.execute(f"VACUUM (ANALYZE) {schema}.orders")
        write_pipeline(folder, dsn, args.redis_url, schema, args.sink)
        env = {**os.environ, "SOURCE_DB_PASSWORD": urlparse(dsn).password or "", "RDI_DB_URL": args.redis_url,
               "PYTHONUNBUFFERED": "1", "RDI_METRICS_PORT": "off"}  # fmt: skip
        for name in ("nat", "dbz"):
            snap_stream, live_stream = f"data:{name}.{schema}.orders", f"data:{name}.{schema}.live_{name}"
            log = folder / f"{name}.log"
            say(f"{name}: snapshot")
            command = [sys.executable, "-m", "rdi", "collector", "--dir", str(folder), "--source", name]
            with log.open("ab") as out:
                t0 = time.perf_counter()
                process = subprocess.Popen(command, env=env, stdout=out, stderr=out, cwd=REPO)
            try:
                first, done = wait_for_len(client, snap_stream, n, process, args.stall, log)
                _, snap_bytes = read_back(client, snap_stream, 0, n, keep=False)
                results[f"{name}_snapshot"] = Rate.of(n, snap_bytes, done - t0, note="from process start")
                results[f"{name}_snapshot_from_first"] = Rate.of(n, snap_bytes, done - first,
                                                                 note="from the first staged entry")  # fmt: skip
                say(f"{name}: snapshot {results[f'{name}_snapshot']['records_per_s']:,} rows/s; streaming")
                time.sleep(2)  # let Debezium switch from snapshot to streaming before the load starts
                _, t_first, t_last = insert_load(dsn, f"{schema}.live_{name}", 1, n, args.txn_rows)
                _, done = wait_for_len(client, live_stream, n, process, args.stall, log)
                _, live_bytes = read_back(client, live_stream, 0, n, keep=False)
                results[f"{name}_streaming"] = Rate.of(n, live_bytes, done - t_first, txn_rows=args.txn_rows,
                                                       pg_load_s=round(t_last - t_first, 2))  # fmt: skip
                say(f"{name}: streaming {results[f'{name}_streaming']['records_per_s']:,} rows/s")
            finally:
                stop(process)
            if name == "dbz":
                client.delete(snap_stream, live_stream)

        say("ceiling: rdi's snapshot entries, pre-encoded XADDs")
        entries, nbytes = read_back(client, f"data:nat.{schema}.orders", 0, n, keep=True)
        client.flushdb()
        resp = encode_xadds(CEILING_STREAM, entries)
        del entries
        cli = ceiling_redis_cli(args.redis_url, CEILING_STREAM, resp, n, nbytes)
        if cli is not None:
            results["xadd_redis_cli_pipe"] = cli
        results["xadd_raw_socket"] = ceiling_raw_socket(args.redis_url, CEILING_STREAM, resp, n, nbytes)
    finally:
        client.flushdb()
        for name in ("nat", "dbz"):
            drop_everything(dsn, f"{schema}_{name}")
        drop_everything(dsn, schema)
        if args.keep_logs:
            say(f"logs kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)

    ceiling = max(r["records_per_s"] for k, r in results.items() if k.startswith("xadd_"))
    print(f"\n{'phase':<26}{'records/s':>12}{'MB/s':>9}{'s':>9}{'÷ ceiling':>11}{'dbz ÷ rdi':>11}")
    for key, r in results.items():
        other = None
        if key.startswith("dbz_"):
            other = r["records_per_s"] / results["nat_" + key[4:]]["records_per_s"]
        ratio = r["records_per_s"] / ceiling
        print(f"{key:<26}{r['records_per_s']:>12,}{r['mb_per_s']:>9}{r['seconds']:>9}{ratio:>11.3f}"
              f"{'' if other is None else f'{other:.2f}':>11}")  # fmt: skip
    path = append_result("debezium_collector", {
        **run_metadata(), "rows": n, "txn_rows": args.txn_rows, "debezium": "3.6.1.Final", "results": results,
        "ceiling_records_per_s": ceiling, "debezium_sink": args.sink,
    })  # fmt: skip
    print(f"\nsaved to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
