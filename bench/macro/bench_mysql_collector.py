"""Benchmark: the MySQL/MariaDB collector's snapshot and streaming rates next to a plain SELECT and raw XADD.

    python bench/macro/bench_mysql_collector.py [--rows 200000] [--chunk 10000] [--txn-rows 1000]
        [--mysql-url mysql://root:root@127.0.0.1:13306/rdi_test] [--redis-url redis://127.0.0.1:16379/1]
        [--database bench_myc] [--profile] [-v]

Needs the test services (`bash tests/services.sh start mysql`, `... start redis`); `RDI_TEST_MYSQL_URL` is honoured.
The Redis database of ``--redis-url`` (default db 1, not the tests' db 0) is FLUSHED before and after the run.
One run, on a fresh database (dropped at the end):

1. ``<database>.orders``: ``--rows`` rows of ~1 KB (bigint key, int, smallint, decimal, double, datetime(6),
   timestamp(6), short varchar, varchar, tinyint(1), char(36), 800-byte varchar), filled with INSERT ... SELECT
   from MariaDB's ``seq_1_to_N``.
2. ``select``: ``SELECT * FROM orders`` through PyMySQL, unbuffered — the server's and the driver's read rate
   (what the snapshot pays before any conversion). Best of two runs.
3. ``snapshot``: the collector (:class:`MySqlCollector`, a thread of this process) from start — consistent
   snapshot, key-ordered chunks, Debezium ``r`` events, atomic Lua staging writes — until the staging stream
   holds ``--rows`` entries. MB = key + value bytes of the staged entries.
4. ``streaming``: with the collector running, ``--rows`` new rows INSERTed in ``--txn-rows``-row transactions
   (server-side INSERT ... SELECT), measured from the first commit until the stream holds them all;
   ``mysql_load`` is MariaDB's time to commit that load.
5. ``catch_up``: the collector stopped, the same number of rows inserted, then a fresh collector drains that
   backlog from the binlog — streaming without the load competing for the 2 cores (the parser's rate).
6. Ceiling: the snapshot's staged entries, read back, XADDed into another stream: ``redis-cli --pipe`` and a raw
   socket (pre-encoded RESP), plus a redis-py pipeline of 1000 XADDs per round trip.
7. A table on stdout; one JSON line appended to ``bench/results/mysql_collector-<date>.json``.

``--profile`` runs the snapshot and the catch-up under cProfile (slower: for *where the time goes*, not rates) and
prints their top functions; the profiles go to ``bench/results/mysql_collector-{snapshot,catch_up}.prof``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import os
import pstats
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pymysql
import pymysql.cursors
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from _common import (
    RESULTS_DIR,
    Rate,
    append_result,
    ceiling_python_pipeline,
    ceiling_raw_socket,
    ceiling_redis_cli,
    encode_xadds,
    max_rss_mb,
    run_metadata,
)

from rdi.collectors.mysql import MySqlCollector
from rdi.collectors.settings import MySqlCollectorSettings
from rdi.config import load_pipeline
from tests.fix_services import parse_mysql_url

SOURCE = "my"
TABLE = "orders"
CEILING_STREAM = "bench:xadd-ceiling"

COLUMNS = """
    id bigint PRIMARY KEY,
    customer_id int NOT NULL,
    quantity smallint NOT NULL,
    amount decimal(12,2) NOT NULL,
    weight double,
    created_at datetime(6) NOT NULL,
    updated_at timestamp(6) NOT NULL,
    status varchar(16) NOT NULL,
    email varchar(80),
    active tinyint(1) NOT NULL,
    ref char(36) NOT NULL,
    note varchar(800) NOT NULL
"""

# ~1 KB per row: ~130 bytes of small columns + 800 bytes of hex text.
ROWS_SQL = """
INSERT INTO {table}
SELECT seq, (seq * 7919) % 1000000, seq % 100, ((seq * 31) % 10000000) / 100.0, (seq % 9973) / 7.0,
       TIMESTAMP '2024-01-01 00:00:00' + INTERVAL seq SECOND, TIMESTAMP '2024-01-01 00:00:00' + INTERVAL seq * 1000 MICROSECOND,
       ELT(1 + seq % 4, 'new', 'paid', 'shipped', 'cancelled'), CONCAT('customer', seq, '@example.com'), seq % 2,
       MD5(seq), SUBSTR(REPEAT(CONCAT(MD5(seq), MD5(seq + 1)), 13), 1, 800)
FROM seq_{lo}_to_{hi}
"""  # noqa: E501

# --narrow: cdc-notes §4.6's table, for comparison with its ~30k rows/s (parse + orjson + XADD, no staging Lua).
NARROW_COLUMNS = "id bigint PRIMARY KEY, name varchar(64), qty int, created datetime(6)"
NARROW_ROWS_SQL = """
INSERT INTO {table} SELECT seq, CONCAT('name-', seq), seq % 1000, TIMESTAMP '2024-01-01 00:00:00' + INTERVAL seq SECOND
FROM seq_{lo}_to_{hi}
"""

log = logging.getLogger("bench.mysql_collector")


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def wait_until(what: str, condition: Callable[[], bool], *, progress: Callable[[], int], stall_s: float,
               alive: Callable[[], bool], poll_s: float = 0.01) -> float:  # fmt: skip
    """Polls until ``condition``; returns the time it first held. Fails when ``progress`` stalls ``stall_s``."""
    last, last_change = progress(), time.monotonic()
    while True:
        if condition():
            return time.perf_counter()
        if not alive():
            raise RuntimeError(f"the collector died while waiting for {what}")
        now_progress = progress()
        if now_progress != last:
            last, last_change = now_progress, time.monotonic()
        elif time.monotonic() - last_change > stall_s:
            raise RuntimeError(f"no progress for {stall_s:.0f} s waiting for {what} (at {now_progress})")
        time.sleep(poll_s)


def connect(url: str, database: str | None = None) -> pymysql.connections.Connection:
    params: dict[str, Any] = dict(parse_mysql_url(url))
    params["database"] = database
    return pymysql.connect(**params, autocommit=True)


def write_pipeline(folder: Path, url: str, *, database: str, chunk: int) -> None:
    p = parse_mysql_url(url)
    (folder / "jobs").mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(f"""
sources:
  {SOURCE}:
    type: cdc
    connection:
      type: mariadb
      host: {p["host"]}
      port: {p["port"]}
      user: {p["user"]}
      password: ${{SOURCE_DB_PASSWORD}}
    databases: [{database}]
    advanced:
      source:
        rdi.snapshot.chunk.size: {chunk}
targets:
  target:
    connection: {{type: redis, host: 127.0.0.1, port: 6379}}
""")


def insert_rows(url: str, database: str, first_id: int, rows: int, txn_rows: int) -> tuple[float, float, float]:
    """``rows`` new rows from ``first_id``, ``txn_rows`` per transaction: (start, first commit, last commit)."""
    conn = connect(url, database)
    t_first = 0.0
    try:
        with conn.cursor() as cur:
            t_start = time.perf_counter()
            for lo in range(first_id, first_id + rows, txn_rows):
                hi = min(lo + txn_rows, first_id + rows) - 1
                cur.execute(ROWS_SQL.format(table=TABLE, lo=lo, hi=hi).replace("%", "%%"), ())
                if not t_first:
                    t_first = time.perf_counter()
            t_last = time.perf_counter()
    finally:
        conn.close()
    return t_start, t_first, t_last


def read_back(
    client: redis.Redis, stream: str, first: int, count: int, keep: bool
) -> tuple[list[tuple[bytes, bytes]], int]:
    kept: list[tuple[bytes, bytes]] = []
    nbytes = seen = 0
    start = "-"
    while seen < first + count:
        page: Any = client.xrange(stream, start, "+", count=10_000)
        if not page:
            break
        for _id, fields in page:
            if first <= seen < first + count:
                k, v = bytes(fields[b"key"]), bytes(fields[b"value"])
                nbytes += len(k) + len(v)
                if keep:
                    kept.append((k, v))
            seen += 1
        start = "(" + bytes(page[-1][0]).decode()
    return kept, nbytes


class ProfiledCollector(MySqlCollector):
    """The collector with cProfile around each snapshot table and the streaming loop."""

    profiles: dict[str, list[cProfile.Profile]]
    phase = "snapshot"

    def _snapshot_table(self, *args: Any, **kwargs: Any) -> None:
        prof = cProfile.Profile()
        prof.enable()
        try:
            super()._snapshot_table(*args, **kwargs)
        finally:
            prof.disable()
            self.profiles.setdefault("snapshot", []).append(prof)

    def _stream(self) -> None:
        prof = cProfile.Profile()
        prof.enable()
        try:
            super()._stream()
        finally:
            prof.disable()
            self.profiles.setdefault(self.phase, []).append(prof)


def profile_report(profs: list[cProfile.Profile], phase: str, top: int) -> str:
    stats = pstats.Stats(profs[0])
    for p in profs[1:]:
        stats.add(p)
    stats.dump_stats(str(RESULTS_DIR / f"mysql_collector-{phase}.prof"))
    out = io.StringIO()
    stats.stream = out  # type: ignore[attr-defined]
    out.write(f"\n==== {phase}: top {top} by tottime ====\n")
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--chunk", type=int, default=10_000, help="rdi.snapshot.chunk.size")
    parser.add_argument("--txn-rows", type=int, default=1000, help="rows per transaction of the streaming load")
    default_url = os.environ.get("RDI_TEST_MYSQL_URL", "mysql://root:root@127.0.0.1:13306/rdi_test")
    parser.add_argument("--mysql-url", default=default_url)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:16379/1", help="the RDI DB; FLUSHED")
    parser.add_argument("--database", default="bench_myc")
    parser.add_argument("--profile", action="store_true", help="run snapshot and catch-up under cProfile")
    parser.add_argument("--top", type=int, default=20, help="profile rows to print")
    parser.add_argument("--stall", type=float, default=120.0, help="seconds without progress before giving up")
    parser.add_argument("--narrow", action="store_true", help="4 small columns instead of ~1 KB rows")
    parser.add_argument("-v", "--verbose", action="store_true", help="the collector's INFO logs")
    args = parser.parse_args()
    if args.narrow:
        global COLUMNS, ROWS_SQL
        COLUMNS, ROWS_SQL = NARROW_COLUMNS, NARROW_ROWS_SQL
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")  # fmt: skip

    n, db, url = args.rows, args.database, args.mysql_url
    stream = f"data:{SOURCE}.{db}.{TABLE}"
    client = redis.Redis.from_url(args.redis_url)
    results: dict[str, Any] = {}
    info: dict[str, Any] = {}
    profiles: dict[str, list[cProfile.Profile]] = {}
    tmp = tempfile.TemporaryDirectory(prefix="rdi-bench-myc-")
    started = time.perf_counter()
    stop = threading.Event()
    runner: threading.Thread | None = None
    failure: list[BaseException] = []

    def make(stop_event: threading.Event, phase: str) -> MySqlCollector:
        if args.profile:
            c = ProfiledCollector(settings, redis.Redis.from_url(args.redis_url), stop=stop_event)
            c.profiles, c.phase = profiles, phase
            return c
        return MySqlCollector(settings, redis.Redis.from_url(args.redis_url), stop=stop_event)

    def start(collector: MySqlCollector, name: str) -> threading.Thread:
        def run() -> None:
            try:
                collector.run()
            except BaseException as exc:
                failure.append(exc)
                raise

        thread = threading.Thread(target=run, name=name, daemon=True)
        thread.start()
        return thread

    def xlen() -> int:
        return int(client.xlen(stream))

    conn = connect(url)
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
    client.flushdb()
    try:
        say(f"creating {db}.{TABLE} with {n:,} rows of ~1 KB")
        t0 = time.perf_counter()
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{db}`")
            cur.execute(f"CREATE TABLE `{db}`.{TABLE} ({COLUMNS})")
        insert_rows(url, db, 1, n, 100_000)
        with conn.cursor() as cur:
            cur.execute(f"ANALYZE TABLE `{db}`.{TABLE}")
            cur.fetchall()
            cur.execute("SELECT DATA_LENGTH FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s AND TABLE_NAME=%s",
                        (db, TABLE))  # fmt: skip
            info["table_bytes"] = int(cur.fetchone()[0])
            cur.execute("SELECT @@version")
            info["server_version"] = cur.fetchone()[0]
        info["fill_s"] = round(time.perf_counter() - t0, 1)
        say(f"table filled in {info['fill_s']} s ({info['table_bytes'] / 1e6:.0f} MB on disk)")

        selects = []
        for _ in range(2):
            c2 = connect(url, db)
            cur2 = pymysql.cursors.SSCursor(c2)
            t0 = time.perf_counter()
            cur2.execute(f"SELECT * FROM {TABLE}")
            rows = 0
            while batch := cur2.fetchmany(10_000):
                rows += len(batch)
            selects.append(Rate.of(rows, 0, time.perf_counter() - t0, note="PyMySQL unbuffered SELECT *"))
            c2.close()
        results["select"] = min(selects, key=lambda r: r["seconds"])
        say(f"SELECT *: {results['select']['records_per_s']:,} rows/s")

        write_pipeline(Path(tmp.name), url, database=db, chunk=args.chunk)
        pipeline = load_pipeline(tmp.name, env={"SOURCE_DB_PASSWORD": parse_mysql_url(url)["password"]})
        settings = MySqlCollectorSettings.from_source(SOURCE, pipeline.config.sources[SOURCE])

        say("snapshot: starting the collector")
        t0 = time.perf_counter()
        collector = make(stop, "streaming")
        runner = start(collector, "collector")
        t_done = wait_until("the snapshot", lambda: xlen() >= n, progress=xlen, stall_s=args.stall,
                            alive=runner.is_alive)  # fmt: skip
        snapshot_s = t_done - t0
        say(f"snapshot: {n:,} entries staged in {snapshot_s:.1f} s")

        say(f"streaming: inserting {n:,} rows in {args.txn_rows}-row transactions")
        t_start, t_first, t_last = insert_rows(url, db, n + 1, n, args.txn_rows)
        staged_at_last = xlen() - n
        t_done = wait_until("the streamed changes", lambda: xlen() >= 2 * n, progress=xlen, stall_s=args.stall,
                            alive=runner.is_alive)  # fmt: skip
        say(f"streaming: all {n:,} staged {t_done - t_first:.1f} s after the first commit "
            f"(load {t_last - t_start:.1f} s; {staged_at_last:,} staged at the last commit)")  # fmt: skip
        stop.set()
        runner.join(timeout=60)
        runner = None

        say(f"catch_up: {n:,} rows inserted with the collector stopped")
        a_start, _, a_last = insert_rows(url, db, 2 * n + 1, n, args.txn_rows)
        results["mysql_load_alone"] = Rate.of(n, 0, a_last - a_start, note="MariaDB only, collector stopped")
        stop2 = threading.Event()
        c0 = time.perf_counter()
        catcher = start(make(stop2, "catch_up"), "collector-2")
        c_done = wait_until("the backlog", lambda: xlen() >= 3 * n, progress=xlen, stall_s=args.stall,
                            alive=catcher.is_alive)  # fmt: skip
        stop2.set()
        catcher.join(timeout=60)
        say(f"catch_up: {n:,} changes staged in {c_done - c0:.1f} s")
        info["max_rss_mb"] = max_rss_mb()
        if xlen() != 3 * n:
            raise RuntimeError(f"staging holds {xlen()} entries, expected {3 * n}")

        say("reading the staged entries back")
        snap_entries, snap_bytes = read_back(client, stream, 0, n, keep=True)
        _, stream_bytes = read_back(client, stream, n, n, keep=False)
        _, backlog_bytes = read_back(client, stream, 2 * n, n, keep=False)
        results["snapshot"] = Rate.of(n, snap_bytes, snapshot_s, chunk=args.chunk)
        results["streaming"] = Rate.of(n, stream_bytes, t_done - t_first, txn_rows=args.txn_rows,
                                       staged_at_last_commit=staged_at_last)  # fmt: skip
        results["catch_up"] = Rate.of(n, backlog_bytes, c_done - c0, note="a backlog, collector alone")
        results["mysql_load"] = Rate.of(n, 0, t_last - t_start, note="MariaDB commit time of the load")
        client.flushdb()
        resp = encode_xadds(CEILING_STREAM, snap_entries)
        cli = ceiling_redis_cli(args.redis_url, CEILING_STREAM, resp, n, snap_bytes)
        if cli is not None:
            results["xadd_redis_cli_pipe"] = cli
        results["xadd_raw_socket"] = ceiling_raw_socket(args.redis_url, CEILING_STREAM, resp, n, snap_bytes)
        del resp
        results["xadd_python_pipeline"] = ceiling_python_pipeline(args.redis_url, CEILING_STREAM, snap_entries,
                                                                  snap_bytes)  # fmt: skip
    finally:
        stop.set()
        if runner is not None:
            runner.join(timeout=60)
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
        conn.close()
        client.flushdb()
        tmp.cleanup()

    if failure:
        raise failure[0]
    ceiling = max(r["records_per_s"] for k, r in results.items() if k in ("xadd_redis_cli_pipe", "xadd_raw_socket"))
    order = ["select", "snapshot", "streaming", "catch_up", "mysql_load", "mysql_load_alone",
             "xadd_redis_cli_pipe", "xadd_raw_socket", "xadd_python_pipeline"]  # fmt: skip
    under = ", UNDER cProfile" if args.profile else ""
    shape = "4 small columns" if args.narrow else "~1 KB"
    print(f"\nMySQL/MariaDB collector ({info['server_version']}), {n:,} rows of {shape} "
          f"({info['table_bytes'] / 1e6:.0f} MB table), chunk {args.chunk}, {args.txn_rows}-row transactions"
          f"{under}")  # fmt: skip
    print(f"{'phase':<24}{'records/s':>12}{'MB/s':>10}{'seconds':>10}{'vs XADD ceiling':>17}")
    for key in order:
        if key not in results:
            continue
        r = results[key]
        r["ratio_to_ceiling"] = round(r["records_per_s"] / ceiling, 3)
        mb = f"{r['mb_per_s']:.1f}" if r["bytes"] else "-"
        print(f"{key:<24}{r['records_per_s']:>12,}{mb:>10}{r['seconds']:>10.1f}{r['ratio_to_ceiling']:>17.2f}")
    info["total_s"] = round(time.perf_counter() - started, 1)
    result = {"benchmark": "bench/macro/bench_mysql_collector.py", **run_metadata(), "rows": n, "argv": sys.argv[1:],
              "narrow": args.narrow,
              "profiled": args.profile, "info": info, "results": results}  # fmt: skip
    path = append_result("mysql_collector", result)
    print(f"result appended to {path}; total {info['total_s']} s")
    for phase in ("snapshot", "catch_up"):
        if profiles.get(phase):
            print(profile_report(profiles[phase], phase, args.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
