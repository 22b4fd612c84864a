"""Benchmark: write-behind end to end — Redis writes → capture → ``flows.write_behind`` → committed PostgreSQL rows —
next to PostgreSQL's own batched insert rate of the same rows.

    python bench/macro/bench_write_behind.py [--rows 50000] [--fields 10] [--field-bytes 90] [--pg-dsn DSN]
        [--write-batch-size 500] [--read-batch-size N] [--workers 1] [--stall 120]

Two private ``redis-server`` processes are started on free ports and stopped at the end: the application Redis
(the capture follows its replication stream) and the RDI DB (staging streams). The target is the PostgreSQL of
``--pg-dsn`` (default: the test service's ``RDI_TEST_PG_DSN``, ``tests/services.sh start postgres``); the bench
creates a scratch schema there and drops it at the end.

Rows: ``--rows`` hashes ``cust:<n>`` of ``--fields`` fields of ``--field-bytes`` bytes each (~1 KB by default);
one job maps key + fields into table ``customers`` with ``load_strategy: UPSERT``.

Phases, each on an empty table:

1. ``pg raw``: the same rows sent by psycopg 3 ``executemany`` of ``INSERT … ON CONFLICT DO UPDATE`` in
   transactions of ``--write-batch-size`` rows (the statement shape rdi sends), and by ``COPY`` (PostgreSQL's
   fastest load) — the ceilings.
2. ``write-behind``: capture and processor started and idle; then every HSET is sent to the application Redis by a
   redis-py pipeline (timed separately: ``redis writes``); the clock runs from the first write until
   ``count(*)`` reaches ``--rows`` and every staging entry is acknowledged. ``capture`` is when the last change was
   staged.

Prints a table (records/s, MB/s of field bytes, ratio to the raw upsert rate) and appends one JSON line to
``bench/results/write_behind-<date>.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from _common import Rate, append_result, max_rss_mb, run_metadata
from bench_ingest import Processes, cpu_s, load, wait_until
from bench_nest import start_server
from bench_pg_collector import say

from rdi import keys


def rows_of(count: int, fields: int, field_bytes: int) -> list[tuple[str, dict[str, str]]]:
    """Deterministic hashes: key ``cust:<n>`` → ``f0..f<fields-1>`` of ``field_bytes`` characters."""
    out = []
    for n in range(count):
        stem = f"{n:08d}-"
        value = (stem * (field_bytes // len(stem) + 1))[:field_bytes]
        out.append((f"cust:{n}", {f"f{i}": value for i in range(fields)}))
    return out


def create_table(dsn: str, schema: str, fields: int) -> None:
    columns = ", ".join(f"f{i} text" for i in range(fields))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        conn.execute(f'DROP TABLE IF EXISTS "{schema}".customers')
        conn.execute(f'CREATE TABLE "{schema}".customers (rkey text PRIMARY KEY, {columns})')


def count_rows(dsn: str, schema: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(f'SELECT count(*) FROM "{schema}".customers').fetchone()
    return int(row[0]) if row else 0


def raw_upsert(dsn: str, schema: str, rows: list[tuple[str, dict[str, str]]], batch: int) -> float:
    names = list(rows[0][1])
    cols = ", ".join(["rkey", *names])
    marks = ", ".join(["%s"] * (len(names) + 1))
    sets = ", ".join(f"{n} = EXCLUDED.{n}" for n in names)
    sql = f'INSERT INTO "{schema}".customers ({cols}) VALUES ({marks}) ON CONFLICT (rkey) DO UPDATE SET {sets}'
    params = [(key, *h.values()) for key, h in rows]
    with psycopg.connect(dsn) as conn:
        started = time.perf_counter()
        for i in range(0, len(params), batch):
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(sql, params[i : i + batch])
        return time.perf_counter() - started


def raw_copy(dsn: str, schema: str, rows: list[tuple[str, dict[str, str]]]) -> float:
    names = list(rows[0][1])
    with psycopg.connect(dsn) as conn:
        started = time.perf_counter()
        statement = f'COPY "{schema}".customers (rkey, {", ".join(names)}) FROM STDIN'
        with conn.transaction(), conn.cursor() as cur, cur.copy(statement) as copy:
            for key, h in rows:
                copy.write_row((key, *h.values()))
        return time.perf_counter() - started


def write_pipeline(folder: Path, app_url: str, dsn: str, schema: str, fields: int, args: argparse.Namespace) -> None:
    from urllib.parse import urlparse

    pg, app = urlparse(dsn), urlparse(app_url)
    processors = f"  write_batch_size: {args.write_batch_size}\n  read_batch_timeout_ms: 20\n"
    if args.read_batch_size:
        processors += f"  read_batch_size: {args.read_batch_size}\n"
    (folder / "jobs").mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(f"""
sources:
  app:
    type: cdc
    connection: {{type: redis, host: {app.hostname}, port: {app.port}}}
targets:
  pg:
    connection: {{type: postgresql, host: {pg.hostname}, port: {pg.port}, database: {pg.path.lstrip("/")},
                 user: {pg.username}, password: "${{SOURCE_DB_PASSWORD}}"}}
processors:
{processors}""")
    mapping = ", ".join(f"f{i}" for i in range(fields))
    (folder / "jobs" / "customers.yaml").write_text(f"""
source:
  redis: {{key_pattern: "cust:*", row_format: full}}
output:
  - uses: relational.write
    with:
      connection: pg
      schema: {schema}
      table: customers
      keys: [{{rkey: key.key}}]
      mapping: [{mapping}]
      load_strategy: UPSERT
""")


def staged(rdi: redis.Redis) -> int:
    total = 0
    for stream in rdi.scan_iter(match=keys.WB_STREAM_PATTERN, _type="STREAM"):
        info: Any = rdi.xinfo_stream(stream)
        total += int(info.get("entries-added") or info.get("length") or 0)
    return total


def acknowledged_all(rdi: redis.Redis) -> bool:
    group = keys.consumer_group("default")
    for stream in rdi.scan_iter(match=keys.WB_STREAM_PATTERN, _type="STREAM"):
        for info in rdi.xinfo_groups(stream):
            if info["name"] in (group, group.encode()) and (int(info["pending"]) or int(info.get("lag") or 0)):
                return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--fields", type=int, default=10)
    parser.add_argument("--field-bytes", type=int, default=90)
    parser.add_argument("--pg-dsn", default=os.environ.get("RDI_TEST_PG_DSN"))
    parser.add_argument("--write-batch-size", type=int, default=500, help="processors.write_batch_size")
    parser.add_argument("--read-batch-size", type=int, help="processors.read_batch_size (default: RDI's)")
    parser.add_argument("--workers", type=int, default=1, help="flows.write_behind -w")
    parser.add_argument("--stall", type=float, default=120.0, help="seconds without progress before giving up")
    args = parser.parse_args()
    if not args.pg_dsn:
        parser.error('--pg-dsn (or RDI_TEST_PG_DSN: eval "$(bash tests/services.sh env)") is needed')
    rows = rows_of(args.rows, args.fields, args.field_bytes)
    nbytes = sum(len(k) + sum(len(f) + len(v) for f, v in h.items()) for k, h in rows)
    schema = f"bench_wb_{uuid.uuid4().hex[:8]}"
    password = psycopg.conninfo.conninfo_to_dict(args.pg_dsn).get("password") or ""
    result: dict[str, Any] = {"meta": run_metadata(), "args": vars(args) | {"pg_dsn": "…"}, "load_before": load()}
    with tempfile.TemporaryDirectory(prefix="bench-wb-") as tmp:
        folder = Path(tmp)
        servers = Processes(folder / "servers", "", password)
        (folder / "servers").mkdir()
        try:
            app_url = start_server(servers, folder / "app")
            servers.running["app"] = servers.running.pop("redis-server")
            rdi_url = start_server(servers, folder / "rdi")
            procs = Processes(folder / "pipeline", rdi_url, password)
            write_pipeline(folder / "pipeline", app_url, args.pg_dsn, schema, args.fields, args)

            say(f"raw PostgreSQL ceilings on {args.rows} rows")
            create_table(args.pg_dsn, schema, args.fields)
            upsert_s = raw_upsert(args.pg_dsn, schema, rows, args.write_batch_size)
            create_table(args.pg_dsn, schema, args.fields)
            copy_s = raw_copy(args.pg_dsn, schema, rows)
            raw = Rate.of(args.rows, nbytes, upsert_s)
            result["pg_raw_upsert"] = raw
            result["pg_copy"] = Rate.of(args.rows, nbytes, copy_s)
            create_table(args.pg_dsn, schema, args.fields)

            say("write-behind: starting capture and processor")
            app = redis.Redis.from_url(app_url)
            rdi = redis.Redis.from_url(rdi_url, decode_responses=True)
            capture = procs.start("capture", [sys.executable, "-m", "rdi", "collector", "--source", "app"])
            processor = procs.start("processor", [sys.executable, "-m", "bytewax.run", "flows.write_behind",
                                                  "-w", str(args.workers)])  # fmt: skip
            app.hset("cust:warmup", mapping={"f0": "x"})
            running = lambda: procs.alive("capture", "processor")  # noqa: E731
            wait_until("the pipeline to start", lambda: count_rows(args.pg_dsn, schema) == 1, progress=lambda: 0,
                       stall_s=args.stall, alive=running, log_path=procs.log)  # fmt: skip
            app.delete("cust:warmup")
            wait_until("the warm-up delete", lambda: count_rows(args.pg_dsn, schema) == 0, progress=lambda: 0,
                       stall_s=args.stall, alive=lambda: procs.alive("capture", "processor"))  # fmt: skip
            before_staged = staged(rdi)
            cpu_before = {"capture": cpu_s(capture.pid), "processor": cpu_s(processor.pid)}

            say(f"write-behind: {args.rows} HSETs")
            started = time.perf_counter()
            pipe = app.pipeline(transaction=False)
            for i, (key, h) in enumerate(rows, 1):
                pipe.hset(key, mapping=h)
                if i % 1000 == 0:
                    pipe.execute()
            pipe.execute()
            written = time.perf_counter() - started
            captured_at = wait_until(
                "the capture", lambda: staged(rdi) - before_staged >= args.rows,
                progress=lambda: staged(rdi), stall_s=args.stall, alive=lambda: procs.alive("capture"),
            )  # fmt: skip
            done_at = wait_until(
                "the rows to be committed",
                lambda: count_rows(args.pg_dsn, schema) >= args.rows and acknowledged_all(rdi),
                progress=lambda: count_rows(args.pg_dsn, schema), stall_s=args.stall,
                alive=lambda: procs.alive("capture", "processor"), poll_s=0.2,
            )  # fmt: skip
            end_to_end = done_at - started
            result["redis_writes"] = Rate.of(args.rows, nbytes, written)
            result["capture"] = Rate.of(args.rows, nbytes, captured_at - started)
            result["write_behind"] = Rate.of(args.rows, nbytes, end_to_end)
            result["cpu_s"] = {
                "capture": round(cpu_s(capture.pid) - cpu_before["capture"], 2),
                "processor": round(cpu_s(processor.pid) - cpu_before["processor"], 2),
            }
            result["ratio_to_pg_raw_upsert"] = round(end_to_end and upsert_s / end_to_end, 3)
            result["max_rss_mb"] = max_rss_mb()
        finally:
            for p in (locals().get("procs"), servers):
                if p is not None:
                    p.stop_all()
            with psycopg.connect(args.pg_dsn, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    result["load_after"] = load()
    print(f"{'phase':<34}{'rec/s':>10}{'MB/s':>8}{'vs raw upsert':>15}")
    for name in ("pg_copy", "pg_raw_upsert", "redis_writes", "capture", "write_behind"):
        r = result[name]
        print(f"{name:<34}{r['records_per_s']:>10,.0f}{r['mb_per_s']:>8.1f}"
              f"{r['records_per_s'] / raw['records_per_s']:>15.2f}")  # fmt: skip
    print(f"CPU seconds: {result['cpu_s']}; load {result['load_before']} → {result['load_after']}")
    print(f"saved to {append_result('write_behind', result)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
