"""Benchmark: the PostgreSQL collector's snapshot and streaming rates next to PostgreSQL's COPY-out and raw XADD.

    python bench/macro/bench_pg_collector.py [--rows 1000000] [--chunk 10000] [--txn-rows 1000]
        [--pg-dsn postgresql://postgres:postgres@127.0.0.1:15432/rdi_test] [--redis-url redis://127.0.0.1:16379/1]
        [--schema bench_pgc] [--profile] [--skip-alone] [-v]

Needs the test services (`bash tests/services.sh start postgres`, `... start redis`); `RDI_TEST_PG_DSN` is honoured.
The Redis database of ``--redis-url`` (default db 1, not the tests' db 0) is FLUSHED before and after the run.
One run, on a fresh schema (dropped at the end with the slot and publication the collector created):

1. ``<schema>.orders``: ``--rows`` rows of ~1 KB (bigint key, int, smallint, numeric, double, timestamp,
   timestamptz, short text, varchar, bool, uuid, 800-byte text), filled with INSERT ... SELECT generate_series,
   then VACUUM ANALYZE (hint bits set, so no phase pays for them).
2. ``copy_out``: ``COPY (SELECT * FROM orders) TO STDOUT`` through psycopg — PostgreSQL's own read rate (text
   bytes). Best of two runs (the first warms the page cache).
3. ``snapshot``: the collector (:class:`PostgresCollector`, in a thread of this process) from start — slot with an
   exported snapshot, chunked key-ordered reads, Debezium ``r`` events, atomic Lua staging writes — until the
   staging stream holds ``--rows`` entries. MB = key + value bytes of the staged entries.
4. ``streaming``: with the collector still running, ``--rows`` new ~1 KB rows are INSERTed in transactions of
   ``--txn-rows`` rows (server-side generate_series, one statement per transaction, so the client costs nothing),
   as fast as PostgreSQL commits them. Measured from the first commit until the stream holds all new entries;
   ``pg_load`` is the PostgreSQL-side time to commit that load (while the collector decodes), and
   ``staged_at_last_commit`` how far the collector had got by then. ``pg_load_alone`` (unless ``--skip-alone``):
   the same load into a second table with the collector stopped — PostgreSQL without a WAL reader.
5. Ceiling: the snapshot's staged entries, read back, XADDed into another stream: ``redis-cli --pipe`` (C) and a raw
   socket from Python, both with the commands RESP-encoded beforehand; plus a redis-py pipeline of 1000 XADDs per
   round trip for orientation. The ratio column divides by the best of the first two.
6. A table on stdout; one JSON line appended to ``bench/results/pg_collector-<date>.json``.

``--profile`` runs the collector under cProfile (slower: use it for *where the time goes*, not for the rates) and
prints the top functions of the snapshot (inside the snapshot worker thread) and of the streaming loop, and writes
``bench/results/pg_collector-{snapshot,streaming}.prof``. The streaming profile starts before the load: time spent
waiting for WAL (``poll``) is idle time.
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
from urllib.parse import urlparse

import psycopg
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

from rdi.collectors.postgres import PostgresCollector
from rdi.collectors.settings import PgCollectorSettings
from rdi.config import load_pipeline

SOURCE = "pg"
TABLE = "orders"
CEILING_STREAM = "bench:xadd-ceiling"

COLUMNS = """
    id bigint PRIMARY KEY,
    customer_id integer NOT NULL,
    quantity smallint NOT NULL,
    amount numeric(12,2) NOT NULL,
    weight double precision,
    created_at timestamp NOT NULL,
    updated_at timestamptz NOT NULL,
    status text NOT NULL,
    email varchar(80),
    active boolean NOT NULL,
    ref uuid NOT NULL,
    note text NOT NULL
"""

# ~1 KB per row: ~120 bytes of small columns + 800 bytes of hex text (below the TOAST threshold: stored inline).
ROWS_SQL = """
INSERT INTO {table}
SELECT i, (i * 7919) %% 1000000, (i %% 100)::smallint, ((i * 31) %% 10000000) / 100.0, (i %% 9973) / 7.0,
       timestamp '2024-01-01' + i * interval '1 second', timestamptz '2024-01-01 00:00:00+00' + i * interval '1 ms',
       (ARRAY['new', 'paid', 'shipped', 'cancelled'])[1 + i %% 4], 'customer' || i || '@example.com', i %% 2 = 0,
       md5(i::text)::uuid, substr(repeat(md5(i::text) || md5((i + 1)::text), 13), 1, 800)
FROM generate_series(%s::bigint, %s::bigint) AS i
"""

log = logging.getLogger("bench.pg_collector")


# ---- helpers ----------------------------------------------------------------------------------------------------


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


def write_pipeline(folder: Path, dsn: str, *, schema: str, chunk: int) -> None:
    url = urlparse(dsn)
    (folder / "jobs").mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(f"""
sources:
  {SOURCE}:
    type: cdc
    connection:
      type: postgresql
      host: {url.hostname}
      port: {url.port or 5432}
      database: {url.path.lstrip("/")}
      user: {url.username}
      password: ${{SOURCE_DB_PASSWORD}}
    schemas: [{schema}]
    advanced:
      source:
        slot.name: {schema}
        publication.name: {schema}
        publication.autocreate.mode: filtered
        rdi.snapshot.chunk.size: {chunk}
targets:
  target:
    connection: {{type: redis, host: 127.0.0.1, port: 6379}}
""")


def drop_everything(dsn: str, schema: str) -> None:
    """The slot (its walsender terminated first), the publication and the schema named ``schema``."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for _ in range(50):
            row = conn.execute("SELECT active_pid FROM pg_replication_slots WHERE slot_name = %s", [schema]).fetchone()
            if row is None:
                break
            if row[0] is not None:
                conn.execute("SELECT pg_terminate_backend(%s)", [row[0]])
                time.sleep(0.1)
                continue
            conn.execute("SELECT pg_drop_replication_slot(%s)", [schema])
        conn.execute(f'DROP PUBLICATION IF EXISTS "{schema}"')
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


class ProfiledCollector(PostgresCollector):
    """The collector with cProfile around each snapshot table (in its worker thread) and the streaming loop."""

    profiles: dict[str, list[cProfile.Profile]]

    def _snapshot_table(self, *args: Any, **kwargs: Any) -> None:
        prof = cProfile.Profile()
        prof.enable()
        try:
            super()._snapshot_table(*args, **kwargs)
        finally:
            prof.disable()
            self.profiles.setdefault("snapshot", []).append(prof)

    def _stream(self, *args: Any, **kwargs: Any) -> None:
        prof = cProfile.Profile()
        prof.enable()
        try:
            super()._stream(*args, **kwargs)
        finally:
            prof.disable()
            self.profiles.setdefault("streaming", []).append(prof)


class Timers:
    """Wall time per step of the collector, accumulated with ``perf_counter`` around the calls (``--timers``)."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        totals, calls, clock = self.totals, self.calls, time.perf_counter

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                totals[name] = totals.get(name, 0.0) + clock() - t0
                calls[name] = calls.get(name, 0) + 1

        return timed

    def take(self, wall_s: float, parts: list[str]) -> dict[str, Any]:
        """The steps as seconds and share of the phase's ``wall_s``; ``other`` is the rest. Resets."""
        out: dict[str, Any] = {}
        for name in parts:
            t = self.totals.get(name, 0.0)
            out[name] = {"s": round(t, 2), "share": round(t / wall_s, 3), "calls": self.calls.get(name, 0)}
        rest = wall_s - sum(self.totals.get(n, 0.0) for n in parts)
        out["other"] = {"s": round(rest, 2), "share": round(rest / wall_s, 3)}
        self.totals.clear()
        self.calls.clear()
        return out


def install_timers(collector: PostgresCollector, timers: Timers) -> Callable[[], None]:
    """Wraps the collector's steps (instance attributes and module globals of this process); returns the undo."""
    import rdi.collectors.pg_replication as pg_replication
    import rdi.collectors.pgoutput as pgoutput
    import rdi.collectors.postgres as postgres

    targets: list[tuple[object, str, str]] = [
        (postgres, "read_chunk", "pg_read_chunk"),
        (pgoutput, "decode_message", "pgoutput_decode"),
        (pg_replication.ReplicationConnection, "read", "replication_read"),
        (collector.writer, "write", "staging_write (lua)"),
        (collector.writer, "set_status", "set_status"),
        (collector, "_snapshot_entry", "convert+encode"),
        (collector, "_on_change", "convert+encode"),
    ]
    saved = [(owner, attr, getattr(owner, attr)) for owner, attr, _ in targets[:3]]  # the rest dies with `collector`
    for owner, attr, step in targets:
        setattr(owner, attr, timers.wrap(step, getattr(owner, attr)))

    def undo() -> None:
        for owner, name, value in saved:
            setattr(owner, name, value)

    return undo


def profile_report(profs: list[cProfile.Profile], phase: str, top: int) -> str:
    stats = pstats.Stats(profs[0])
    for p in profs[1:]:
        stats.add(p)
    stats.dump_stats(str(RESULTS_DIR / f"pg_collector-{phase}.prof"))
    out = io.StringIO()
    for key in ("tottime", "cumulative"):
        stats.stream = out  # type: ignore[attr-defined]
        out.write(f"\n==== {phase}: top {top} by {key} ====\n")
        stats.sort_stats(key).print_stats(top)
    return out.getvalue()


def read_back(
    client: redis.Redis, stream: str, first: int, count: int, keep: bool
) -> tuple[list[tuple[bytes, bytes]], int]:
    """Entries ``first .. first+count-1`` of ``stream`` (kept only when ``keep``) and their key + value bytes."""
    kept: list[tuple[bytes, bytes]] = []
    nbytes = 0
    seen = 0
    start = "-"
    while seen < first + count:
        page: Any = client.xrange(stream, start, "+", count=10_000)
        if not page:
            break
        for _id, fields in page:
            if seen >= first and seen < first + count:
                k, v = bytes(fields[b"key"]), bytes(fields[b"value"])
                nbytes += len(k) + len(v)
                if keep:
                    kept.append((k, v))
            seen += 1
        start = "(" + bytes(page[-1][0]).decode()
    return kept, nbytes


def redis_busy_s(client: redis.Redis) -> dict[str, float]:
    """Seconds Redis spent executing each command so far (``INFO commandstats``; a script includes its calls)."""
    stats = client.info("commandstats")
    return {k.removeprefix("cmdstat_"): float(v["usec"]) / 1e6 for k, v in stats.items()}


def busy_between(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Per-command server seconds between two `redis_busy_s` readings (whole Redis: other clients count too)."""
    out = {k: round(v - before.get(k, 0.0), 2) for k, v in after.items()}
    return {k: v for k, v in sorted(out.items(), key=lambda kv: -kv[1]) if v >= 0.05}


def table_bytes(dsn: str, table: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT pg_table_size(%s::regclass)", [table]).fetchone()
    return int(row[0]) if row else 0


def insert_load(dsn: str, table: str, first_id: int, rows: int, txn_rows: int) -> tuple[float, float, float]:
    """``rows`` new rows from ``first_id``, ``txn_rows`` per transaction: (start, first commit, last commit) times."""
    sql = ROWS_SQL.format(table=table)
    t_first = 0.0
    with psycopg.connect(dsn, autocommit=False) as conn:
        conn.execute("SET synchronous_commit = on")
        conn.commit()
        t_start = time.perf_counter()
        for lo in range(first_id, first_id + rows, txn_rows):
            hi = min(lo + txn_rows, first_id + rows) - 1
            conn.execute(sql, [lo, hi])
            conn.commit()
            if not t_first:
                t_first = time.perf_counter()
        t_last = time.perf_counter()
    return t_start, t_first, t_last


# ---- the run ----------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=10_000, help="rdi.snapshot.chunk.size")
    parser.add_argument("--txn-rows", type=int, default=1000, help="rows per transaction of the streaming load")
    default_dsn = os.environ.get("RDI_TEST_PG_DSN", "postgresql://postgres:postgres@127.0.0.1:15432/rdi_test")
    parser.add_argument("--pg-dsn", default=default_dsn)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:16379/1", help="the RDI DB; FLUSHED")
    parser.add_argument("--schema", default="bench_pgc")
    parser.add_argument("--profile", action="store_true", help="run the collector under cProfile")
    parser.add_argument("--timers", action="store_true", help="time the collector's steps (a few %% overhead)")
    parser.add_argument("--top", type=int, default=15, help="profile rows to print")
    parser.add_argument("--skip-alone", action="store_true", help="skip the load with the collector stopped")
    parser.add_argument("--stall", type=float, default=120.0, help="seconds without progress before giving up")
    parser.add_argument("-v", "--verbose", action="store_true", help="the collector's INFO logs")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")  # fmt: skip

    n, schema, dsn = args.rows, args.schema, args.pg_dsn
    table = f"{schema}.{TABLE}"
    stream = f"data:{SOURCE}.{schema}.{TABLE}"
    client = redis.Redis.from_url(args.redis_url)
    results: dict[str, Any] = {}
    info: dict[str, Any] = {}
    collector: PostgresCollector | None = None
    stop = threading.Event()
    runner: threading.Thread | None = None
    failure: list[BaseException] = []
    tmp = tempfile.TemporaryDirectory(prefix="rdi-bench-pgc-")
    started = time.perf_counter()
    undo_timers: Callable[[], None] | None = None

    drop_everything(dsn, schema)
    client.flushdb()
    try:
        # 1. the table
        say(f"creating {table} with {n:,} rows of ~1 KB")
        t0 = time.perf_counter()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
            conn.execute(f"CREATE TABLE {table} ({COLUMNS})")
            step = 100_000
            for lo in range(1, n + 1, step):
                conn.execute(ROWS_SQL.format(table=table), [lo, min(lo + step, n + 1) - 1])
            conn.execute(f"VACUUM (ANALYZE) {table}")
            settings_rows = conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN "
                "('shared_buffers', 'wal_level', 'synchronous_commit', 'fsync', 'max_wal_size', 'server_version')"
            ).fetchall()
        info["pg_settings"] = {str(k): str(v) for k, v in settings_rows}
        info["table_bytes"] = table_bytes(dsn, table)
        info["fill_s"] = round(time.perf_counter() - t0, 1)
        say(f"table filled in {info['fill_s']} s ({info['table_bytes'] / 1e6:.0f} MB on disk)")

        # 2. COPY out
        copies = []
        for _ in range(2):
            with psycopg.connect(dsn) as conn, conn.cursor() as cur:
                nbytes = 0
                t0 = time.perf_counter()
                with cur.copy(f"COPY (SELECT * FROM {table}) TO STDOUT") as copy:
                    for block in copy:
                        nbytes += len(block)
                copies.append(Rate.of(n, nbytes, time.perf_counter() - t0))
        results["copy_out"] = min(copies, key=lambda r: r["seconds"])
        say(f"COPY out: {results['copy_out']['records_per_s']:,} rows/s, {results['copy_out']['mb_per_s']} MB/s")

        # 3. snapshot
        write_pipeline(Path(tmp.name), dsn, schema=schema, chunk=args.chunk)
        password = urlparse(dsn).password or ""
        pipeline = load_pipeline(tmp.name, env={"SOURCE_DB_PASSWORD": password})
        settings = PgCollectorSettings.from_source(SOURCE, pipeline.config.sources[SOURCE])
        if args.profile:
            collector = ProfiledCollector(settings, redis.Redis.from_url(args.redis_url), stop=stop)
            collector.profiles = {}
        else:
            collector = PostgresCollector(settings, redis.Redis.from_url(args.redis_url), stop=stop)

        timers = Timers() if args.timers else None
        undo_timers = install_timers(collector, timers) if timers else None

        def run() -> None:
            try:
                assert collector is not None
                collector.run()
            except BaseException as exc:
                failure.append(exc)
                raise

        runner = threading.Thread(target=run, name="collector", daemon=True)

        def alive() -> bool:
            return runner is not None and runner.is_alive()

        def xlen() -> int:
            return int(client.xlen(stream))

        say("snapshot: starting the collector")
        busy0 = redis_busy_s(client)
        t0 = time.perf_counter()
        runner.start()
        t_done = wait_until("the snapshot", lambda: xlen() >= n, progress=xlen, stall_s=args.stall, alive=alive)
        snapshot_s = t_done - t0
        say(f"snapshot: {n:,} entries staged in {snapshot_s:.1f} s")
        if timers:
            info["steps_snapshot"] = timers.take(
                snapshot_s, ["pg_read_chunk", "convert+encode", "staging_write (lua)", "set_status"]
            )
        busy1 = redis_busy_s(client)
        info["redis_server_s_snapshot"] = busy_between(busy0, busy1)
        info["redis_used_mb_after_snapshot"] = round(int(client.info("memory")["used_memory"]) / 1e6)

        # 4. streaming
        say(f"streaming: inserting {n:,} rows in {args.txn_rows}-row transactions")
        if timers:  # the loop idled until now; it is timed from the load's start (the loop itself is not split)
            timers.totals.clear()
            timers.calls.clear()
        busy1 = redis_busy_s(client)
        t_start, t_first, t_last = insert_load(dsn, table, n + 1, n, args.txn_rows)
        staged_at_last = xlen() - n
        t_done = wait_until("the streamed changes", lambda: xlen() >= 2 * n, progress=xlen, stall_s=args.stall,
                            alive=alive)  # fmt: skip
        say(f"streaming: all {n:,} changes staged {t_done - t_first:.1f} s after the first commit "
            f"(PG load {t_last - t_start:.1f} s; {staged_at_last:,} staged at the last commit)")  # fmt: skip
        if timers:
            info["steps_streaming"] = timers.take(
                t_done - t_start, ["replication_read", "pgoutput_decode", "convert+encode", "staging_write (lua)"]
            )
        info["redis_server_s_streaming"] = busy_between(busy1, redis_busy_s(client))
        info["redis_used_mb_after_streaming"] = round(int(client.info("memory")["used_memory"]) / 1e6)
        stop.set()
        runner.join(timeout=60)
        if runner.is_alive():
            raise RuntimeError("the collector did not stop within 60 s")
        runner = None
        info["max_rss_mb"] = max_rss_mb()
        if xlen() != 2 * n:
            raise RuntimeError(f"staging holds {xlen()} entries, expected {2 * n}")

        # PostgreSQL alone (the same load, the collector stopped), then a fresh collector drains that backlog:
        # streaming throughput without the load generator and PostgreSQL competing for the 2 cores.
        # At most 200k rows: a stopped slot keeps its WAL, and the test server caps that at 1 GB.
        backlog = min(n, 200_000)
        say(f"pg_load_alone: {backlog:,} rows with the collector stopped")
        a_start, _, a_last = insert_load(dsn, table, 2 * n + 1, backlog, args.txn_rows)
        results["pg_load_alone"] = Rate.of(backlog, 0, a_last - a_start, note="PostgreSQL only, collector stopped")
        say("catch_up: a fresh collector streams the backlog")
        stop2 = threading.Event()
        catch_up = PostgresCollector(settings, redis.Redis.from_url(args.redis_url), stop=stop2)
        catcher = threading.Thread(target=catch_up.run, name="collector-2", daemon=True)
        c0 = time.perf_counter()
        catcher.start()
        c_done = wait_until("the backlog", lambda: xlen() >= 2 * n + backlog, progress=xlen, stall_s=args.stall,
                            alive=catcher.is_alive)  # fmt: skip
        stop2.set()
        catcher.join(timeout=60)
        _, backlog_bytes = read_back(client, stream, 2 * n, backlog, keep=False)
        results["catch_up"] = Rate.of(backlog, backlog_bytes, c_done - c0, note="a backlog, collector alone")
        say(f"catch_up: {backlog:,} changes staged in {c_done - c0:.1f} s")

        # 5. read back, ceiling
        say("reading the staged entries back")
        snap_entries, snap_bytes = read_back(client, stream, 0, n, keep=True)
        _, stream_bytes = read_back(client, stream, n, n, keep=False)
        results["snapshot"] = Rate.of(n, snap_bytes, snapshot_s, chunk=args.chunk)
        results["streaming"] = Rate.of(
            n, stream_bytes, t_done - t_first, txn_rows=args.txn_rows, staged_at_last_commit=staged_at_last,
            drain_after_last_commit_s=round(t_done - t_last, 3),
        )  # fmt: skip
        results["pg_load"] = Rate.of(n, 0, t_last - t_start, note="PostgreSQL commit time of the load, collector on")
        client.flushdb()  # free the staged entries before the ceiling writes another copy
        say("ceiling: encoding RESP")
        resp = encode_xadds(CEILING_STREAM, snap_entries)
        say(f"ceiling: {len(resp) / 1e6:.0f} MB of RESP")
        cli = ceiling_redis_cli(args.redis_url, CEILING_STREAM, resp, n, snap_bytes)
        if cli is not None:
            results["xadd_redis_cli_pipe"] = cli
        results["xadd_raw_socket"] = ceiling_raw_socket(args.redis_url, CEILING_STREAM, resp, n, snap_bytes)
        del resp
        results["xadd_python_pipeline"] = ceiling_python_pipeline(args.redis_url, CEILING_STREAM, snap_entries,
                                                                  snap_bytes)  # fmt: skip
        del snap_entries
    finally:
        stop.set()
        if runner is not None:
            runner.join(timeout=60)
        if undo_timers is not None:
            undo_timers()
        drop_everything(dsn, schema)
        client.flushdb()
        tmp.cleanup()

    if failure:
        raise failure[0]
    ceiling = max(r["records_per_s"] for k, r in results.items() if k in ("xadd_redis_cli_pipe", "xadd_raw_socket"))
    order = ["copy_out", "snapshot", "streaming", "catch_up", "pg_load", "pg_load_alone",
             "xadd_redis_cli_pipe", "xadd_raw_socket", "xadd_python_pipeline"]  # fmt: skip
    under = ", UNDER cProfile" if args.profile else ""
    print(f"\nPostgreSQL collector, {n:,} rows of ~1 KB ({info['table_bytes'] / 1e6:.0f} MB table), "
          f"chunk {args.chunk}, {args.txn_rows}-row transactions{under}")  # fmt: skip
    print(f"{'phase':<24}{'records/s':>12}{'MB/s':>10}{'seconds':>10}{'vs XADD ceiling':>17}")
    for key in order:
        if key not in results:
            continue
        r = results[key]
        r["ratio_to_ceiling"] = round(r["records_per_s"] / ceiling, 3)
        mb = f"{r['mb_per_s']:.1f}" if r["bytes"] else "-"
        print(f"{key:<24}{r['records_per_s']:>12,}{mb:>10}{r['seconds']:>10.1f}{r['ratio_to_ceiling']:>17.2f}")
    s = results["streaming"]
    print(f"streaming: {s['staged_at_last_commit']:,} of {n:,} staged when the load's last commit returned; "
          f"drained {s['drain_after_last_commit_s']} s after it")  # fmt: skip
    for phase in ("snapshot", "streaming"):
        if f"steps_{phase}" in info:
            print(f"{phase} steps (wall s, share of the phase): " + ", ".join(
                f"{k} {v['s']} ({v['share']:.0%})" for k, v in info[f"steps_{phase}"].items()))  # fmt: skip
    for phase in ("snapshot", "streaming"):
        print(f"{phase}: Redis server busy (s) {info[f'redis_server_s_{phase}']}")
    info["total_s"] = round(time.perf_counter() - started, 1)
    result = {
        "benchmark": "bench/macro/bench_pg_collector.py",
        **run_metadata(),
        "rows": n,
        "argv": sys.argv[1:],
        "profiled": args.profile,
        "info": info,
        "results": results,
    }
    path = append_result("pg_collector", result)
    print(f"result appended to {path}; total {info['total_s']} s")
    if args.profile and collector is not None:
        profs: dict[str, list[cProfile.Profile]] = collector.profiles  # type: ignore[attr-defined]
        for phase in ("snapshot", "streaming"):
            if profs.get(phase):
                print(profile_report(profs[phase], phase, args.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
