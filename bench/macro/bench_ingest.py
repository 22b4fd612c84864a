"""Benchmark: the ingest processor (``python -m bytewax.run flows.ingest``) next to the raw HSET ceiling of Redis.

    python bench/macro/bench_ingest.py [--rows 1000000] [--txn-rows 1000] [--cdc insert|update]
        [--pg-dsn postgresql://postgres:postgres@127.0.0.1:15432/rdi_test] [--redis-url redis://127.0.0.1:16379]
        [--rdi-db 1] [--ceiling-db 2] [--schema bench_ing] [--profile] [--profile-rows 200000] [-v]

Needs the test services (`bash tests/services.sh start postgres`, `... start redis`); `RDI_TEST_PG_DSN` and
`RDI_TEST_REDIS_URL` are honoured. On the Redis server of ``--redis-url``, db 0 (the target: a `targets`
connection has no db setting), ``--rdi-db`` (the RDI DB: staging streams) and ``--ceiling-db`` are FLUSHED before
and after the run. The pipeline has no jobs: the default mapping writes each row as a hash ``orders:id:<n>``.
One run, on a fresh schema (dropped at the end with the collector's slot and publication):

1. ``<schema>.orders``: ``--rows`` rows of ~1 KB (the table of ``bench_pg_collector.py``: 12 columns, an 800-byte
   text), filled server-side; then the real collector (``python -m rdi collector``, a subprocess) snapshots it
   into ``data:pg.<schema>.orders`` — ``collector_snapshot`` is shown for orientation only.
2. ``processor_snapshot``: the processor (one Bytewax worker: one process, one core for the Python work) starts
   on the staged entries; timed from its start until the consumer group has read and acknowledged every entry
   (``XINFO GROUPS``: entries-read = rows, lag 0, pending 0). ``processor_startup`` is the time until the first
   target key appears; ``processor_steady`` excludes it. ``cpu_s`` is the processor's CPU time (user + system,
   all threads) over the phase: ``records_per_cpu_s`` is the per-core figure.
3. ``end_to_end_cdc``: collector and processor both running, ``--rows`` rows INSERTed (``--cdc update``: UPDATEd)
   in PostgreSQL in transactions of ``--txn-rows`` rows (server-side generate_series, one statement each);
   timed from the first commit until the stream holds every change and the group has acknowledged them all
   (written before acknowledged). Bounded by the collector's streaming rate (``bench_pg_collector.py``).
4. Ceiling: the staged snapshot entries read back and run through :class:`rdi.processor.Processor` in this
   process (the exact commands the flow sends), packed beforehand by hiredis (the flow's packer) and sent in
   bulk into ``--ceiling-db``: ``redis-cli --pipe`` (C) and one ``sendall`` over a raw socket; plus a redis-py
   pipeline of 1000 commands per round trip for orientation. Ratio = processor rate / best of the first two.
   The same pass times the processor's steps without I/O: ``read`` (redis-py ``XRANGE`` of ``read_batch_size``
   entries, the reply parsing ``XREADGROUP`` also pays), ``process`` (decode + default job + plan) and ``pack``.
5. A table on stdout; one JSON line appended to ``bench/results/ingest-<date>.json``.

``--profile`` (after the rest): the stream is staged again with the first ``--profile-rows`` snapshot entries,
the target flushed, and the processor run under ``python -m cProfile`` until drained, then stopped with SIGINT;
the top ``--top`` functions by tottime (and cumulative) are printed and the profile is written to
``bench/results/ingest-processor.prof``. Bytewax runs its single worker on the main thread, which cProfile sees.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import pstats
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlsplit

import psycopg
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from _common import (
    RESULTS_DIR,
    Rate,
    append_result,
    encode_commands,
    encode_xadds,
    max_rss_mb,
    run_metadata,
    send_raw_socket,
    send_redis_cli,
)
from bench_pg_collector import (
    COLUMNS,
    ROWS_SQL,
    busy_between,
    drop_everything,
    insert_load,
    read_back,
    redis_busy_s,
    say,
    table_bytes,
)

from rdi import keys
from rdi.config import load_pipeline
from rdi.processor import Processor, StreamBatch
from rdi.stream_schema import StreamTypes
from tests.flows._ingest import stop_process

REPO = Path(__file__).resolve().parents[2]
SOURCE = "pg"
TABLE = "orders"
PIPELINE = "default"
GROUP = keys.consumer_group(PIPELINE)
PROFILE_PATH = RESULTS_DIR / "ingest-processor.prof"

UPDATE_SQL = """
UPDATE {table} SET quantity = ((quantity + 1) %% 100)::smallint, updated_at = updated_at + interval '1 day',
       status = 'updated', note = substr(repeat(md5((id + 7)::text) || md5(id::text), 13), 1, 800)
WHERE id BETWEEN %s AND %s
"""

log = logging.getLogger("bench.ingest")


# ---- helpers ----------------------------------------------------------------------------------------------------


def db_url(base: str, db: int) -> str:
    parts = urlsplit(base)
    return parts._replace(path=f"/{db}").geturl()


def connect(url: str) -> redis.Redis:
    """A client without redis-py's 5 s default read timeout (FLUSHDB of a million hashes takes longer)."""
    return redis.Redis.from_url(url, socket_timeout=600)


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads) so far; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def redis_cpu_s(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def write_pipeline(folder: Path, dsn: str, redis_url: str, *, schema: str, processors: dict[str, int]) -> None:
    pg, rd = urlparse(dsn), urlparse(redis_url)
    (folder / "jobs").mkdir(parents=True, exist_ok=True)
    extra = "".join(f"\n  {k}: {v}" for k, v in processors.items())
    (folder / "config.yaml").write_text(f"""
sources:
  {SOURCE}:
    type: cdc
    connection:
      type: postgresql
      host: {pg.hostname}
      port: {pg.port or 5432}
      database: {pg.path.lstrip("/")}
      user: {pg.username}
      password: ${{SOURCE_DB_PASSWORD}}
    schemas: [{schema}]
    advanced:
      source:
        slot.name: {schema}
        publication.name: {schema}
        publication.autocreate.mode: filtered
targets:
  target:
    connection: {{type: redis, host: {rd.hostname}, port: {rd.port or 6379}}}
processors:
  read_batch_timeout_ms: 100{extra}
""")


class Group:
    """The processor's consumer group on the staging stream, as ``XINFO GROUPS`` reports it."""

    def __init__(self, client: redis.Redis, stream: str) -> None:
        self.client = client
        self.stream = stream

    def state(self) -> tuple[int, int | None, int]:
        """(entries read, lag, pending); (0, None, 0) while the group does not exist."""
        try:
            groups = self.client.xinfo_groups(self.stream)
        except redis.ResponseError:
            return 0, None, 0
        for g in groups:
            if g["name"] in (GROUP, GROUP.encode()):
                return int(g.get("entries-read") or 0), g.get("lag"), int(g["pending"])
        return 0, None, 0

    def acked(self) -> int:
        read, _, pending = self.state()
        return read - pending

    def drained(self, total: int) -> bool:
        read, lag, pending = self.state()
        return read >= total and lag == 0 and pending == 0


def wait_until(what: str, condition: Callable[[], bool], *, progress: Callable[[], int], stall_s: float,
               alive: Callable[[], bool], poll_s: float = 0.02, log_path: Path | None = None) -> float:  # fmt: skip
    """Polls until ``condition``; returns the time it first held. Fails when ``progress`` stalls ``stall_s``
    or a process died (with the tail of the processes' log)."""
    last, last_change = progress(), time.monotonic()
    while True:
        if condition():
            return time.perf_counter()
        problem = None
        if not alive():
            problem = f"a process died while waiting for {what}"
        now_progress = progress()
        if now_progress != last:
            last, last_change = now_progress, time.monotonic()
        elif time.monotonic() - last_change > stall_s:
            problem = f"no progress for {stall_s:.0f} s waiting for {what} (at {now_progress})"
        if problem:
            tail = log_path.read_text(errors="replace")[-3000:] if log_path and log_path.exists() else ""
            raise RuntimeError(f"{problem}\n{tail}")
        time.sleep(poll_s)


class Processes:
    """The collector and processor subprocesses, logging to one file; stopped by PID."""

    def __init__(self, folder: Path, rdi_url: str, password: str) -> None:
        self.folder = folder
        self.log = folder / "run.log"
        self.env = {
            **os.environ,
            "SOURCE_DB_PASSWORD": password,
            "RDI_DB_URL": rdi_url,
            "RDI_PIPELINE_DIR": str(folder),
            "RDI_METRICS_PORT": "off",
            "PYTHONUNBUFFERED": "1",
        }
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, role: str, command: list[str]) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as out:
            out.write(f"--- start {role}: {' '.join(command)}\n".encode())
            process = subprocess.Popen(command, env=self.env, stdout=out, stderr=out, cwd=REPO)
        self.running[role] = process
        return process

    def alive(self, *roles: str) -> bool:
        return all(role in self.running and self.running[role].poll() is None for role in roles)

    def stop(self, role: str, timeout: float = 60) -> int | None:
        process = self.running.pop(role, None)
        if process is None:
            return None
        stop_process(process, timeout)
        return process.returncode

    def stop_all(self) -> None:
        for role in list(self.running):
            self.stop(role)


def ceiling_commands(
    pipeline_dir: Path, password: str, rdi: redis.Redis, stream: str, entries: list[tuple[bytes, bytes]],
    batch_size: int,
) -> tuple[bytearray, int, dict[str, Any]]:  # fmt: skip
    """The RESP of every command the processor plans for ``entries`` (in read-batch sized batches), the number of
    commands, and the in-process step times (``process``: decode + job + plan; ``pack``: hiredis)."""
    pipeline = load_pipeline(pipeline_dir, env={"SOURCE_DB_PASSWORD": password})
    processor = Processor(pipeline)
    types = StreamTypes(rdi).get(stream)
    resp = bytearray()
    commands = 0
    names: dict[str, int] = {}
    process_s = pack_s = 0.0
    clock = time.perf_counter
    for lo in range(0, len(entries), batch_size):
        chunk = entries[lo : lo + batch_size]
        batch = StreamBatch(stream, [b"0-%d" % i for i in range(lo, lo + len(chunk))],
                            [{b"key": k, b"value": v} for k, v in chunk])  # fmt: skip
        t0 = clock()
        done = processor.process(batch, types=types)
        t1 = clock()
        planned = [command for writes in done.writes.values() for _, command in writes]
        encode_commands(planned, resp)
        pack_s += clock() - t1
        process_s += t1 - t0
        if done.rejected:
            raise RuntimeError(f"the processor rejected {len(done.rejected)} entries: {done.rejected[0].reason}")
        commands += len(planned)
        for command in planned:
            names[command.name] = names.get(command.name, 0) + 1
    n = len(entries)
    steps = {
        "process_s": round(process_s, 2),
        "process_us_per_record": round(process_s / n * 1e6, 1),
        "pack_s": round(pack_s, 2),
        "pack_us_per_record": round(pack_s / n * 1e6, 1),
        "commands": names,
        "resp_mb": round(len(resp) / 1e6, 1),
    }
    return resp, commands, steps


def time_reads(rdi: redis.Redis, stream: str, count: int, batch_size: int) -> dict[str, Any]:
    """redis-py (hiredis) ``XRANGE`` of ``batch_size`` entries at a time over the first ``count`` entries: the
    round trips and reply parsing the processor's ``XREADGROUP`` pays."""
    client = redis.Redis(connection_pool=rdi.connection_pool)
    seen, start = 0, "-"
    t0 = time.perf_counter()
    while seen < count:
        page: Any = client.xrange(stream, start, "+", count=min(batch_size, count - seen))
        if not page:
            break
        seen += len(page)
        start = "(" + bytes(page[-1][0]).decode()
    elapsed = time.perf_counter() - t0
    return {"read_s": round(elapsed, 2), "read_us_per_record": round(elapsed / max(seen, 1) * 1e6, 1)}


def ceiling(name: str, url: str, send: Callable[[], Any], records: int, nbytes: int, client_note: str) -> Rate:
    client = connect(url)
    client.flushdb()
    t0 = time.perf_counter()
    send()
    elapsed = time.perf_counter() - t0
    written = int(client.dbsize())
    client.flushdb()
    if written != records:
        raise RuntimeError(f"{name}: {written} keys written, expected {records}")
    return Rate.of(records, nbytes, elapsed, client=client_note)


def python_pipeline(url: str, resp_commands: list[tuple[Any, ...]], batch: int = 1000) -> None:
    client = connect(url)
    for i in range(0, len(resp_commands), batch):
        pipe = client.pipeline(transaction=False)
        for command in resp_commands[i : i + batch]:
            pipe.execute_command(*command)
        pipe.execute()


def profile_report(path: Path, top: int) -> str:
    stats = pstats.Stats(str(path))
    out = io.StringIO()
    stats.stream = out  # type: ignore[attr-defined]
    for key in ("tottime", "cumulative"):
        out.write(f"\n==== processor under cProfile: top {top} by {key} ====\n")
        stats.sort_stats(key).print_stats(top)
    return out.getvalue()


# ---- the run ----------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--txn-rows", type=int, default=1000, help="rows per transaction of the CDC load")
    parser.add_argument("--cdc", choices=["insert", "update"], default="insert", help="the CDC load's statements")
    default_dsn = os.environ.get("RDI_TEST_PG_DSN", "postgresql://postgres:postgres@127.0.0.1:15432/rdi_test")
    parser.add_argument("--pg-dsn", default=default_dsn)
    default_redis = os.environ.get("RDI_TEST_REDIS_URL", "redis://127.0.0.1:16379/0")
    parser.add_argument("--redis-url", default=default_redis, help="the Redis server (its db is ignored)")
    parser.add_argument("--rdi-db", type=int, default=1, help="db of the RDI DB (staging); FLUSHED")
    parser.add_argument("--ceiling-db", type=int, default=2, help="db the ceiling writes into; FLUSHED")
    parser.add_argument("--schema", default="bench_ing")
    parser.add_argument("--read-batch-size", type=int, help="processors.read_batch_size (default: RDI's)")
    parser.add_argument("--write-batch-size", type=int, help="processors.write_batch_size (default: RDI's)")
    parser.add_argument("--profile", action="store_true", help="also run the processor under cProfile")
    parser.add_argument("--profile-rows", type=int, default=200_000, help="entries the profiled run processes")
    parser.add_argument("--top", type=int, default=25, help="profile rows to print")
    parser.add_argument("--skip-python-pipeline", action="store_true", help="skip the redis-py orientation figure")
    parser.add_argument("--stall", type=float, default=120.0, help="seconds without progress before giving up")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr)

    n, schema, dsn = args.rows, args.schema, args.pg_dsn
    table = f"{schema}.{TABLE}"
    stream = f"data:{SOURCE}.{schema}.{TABLE}"
    rdi_url = db_url(args.redis_url, args.rdi_db)
    target_url = db_url(args.redis_url, 0)
    ceiling_url = db_url(args.redis_url, args.ceiling_db)
    rdi, target = connect(rdi_url), connect(target_url)
    password = urlparse(dsn).password or ""
    processors = {k: v for k, v in (("read_batch_size", args.read_batch_size),
                                    ("write_batch_size", args.write_batch_size)) if v}  # fmt: skip
    results: dict[str, Any] = {}
    info: dict[str, Any] = {"load_avg": {"start": load()}, "cdc": args.cdc}
    tmp = tempfile.TemporaryDirectory(prefix="rdi-bench-ingest-")
    folder = Path(tmp.name)
    procs = Processes(folder, rdi_url, password)
    group = Group(rdi, stream)
    started = time.perf_counter()
    profile_text = ""

    def xlen() -> int:
        try:
            return int(rdi.xlen(stream))
        except redis.ResponseError:
            return 0

    drop_everything(dsn, schema)
    for client in (rdi, target, connect(ceiling_url)):
        client.flushdb()
    try:
        # 1. the table, and the collector's snapshot
        say(f"creating {table} with {n:,} rows of ~1 KB (load {load()})")
        t0 = time.perf_counter()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
            conn.execute(f"CREATE TABLE {table} ({COLUMNS})")
            for lo in range(1, n + 1, 100_000):
                conn.execute(ROWS_SQL.format(table=table), [lo, min(lo + 100_000, n + 1) - 1])
            conn.execute(f"VACUUM (ANALYZE) {table}")
        info["table_bytes"] = table_bytes(dsn, table)
        info["fill_s"] = round(time.perf_counter() - t0, 1)
        write_pipeline(folder, dsn, args.redis_url, schema=schema, processors=processors)
        pipeline = load_pipeline(folder, env={"SOURCE_DB_PASSWORD": password})
        read_batch = pipeline.config.processors.effective_read_batch_size
        info["read_batch_size"] = read_batch
        info["write_batch_size"] = pipeline.config.processors.effective_write_batch_size

        say("collector: snapshot")
        t0 = time.perf_counter()
        procs.start("collector", [sys.executable, "-m", "rdi", "collector", "--dir", str(folder), "--source", SOURCE])
        t_done = wait_until("the snapshot", lambda: xlen() >= n, progress=xlen, stall_s=args.stall,
                            alive=lambda: procs.alive("collector"), log_path=procs.log)  # fmt: skip
        snap_entries, snap_bytes = read_back(rdi, stream, 0, n, keep=True)
        results["collector_snapshot"] = Rate.of(n, snap_bytes, t_done - t0, note="orientation: the collector alone")
        say(f"collector: {n:,} entries staged in {t_done - t0:.1f} s ({snap_bytes / n:.0f} B per entry)")

        # 2. the processor on the staged snapshot
        info["load_avg"]["processor_snapshot"] = load()
        say(f"processor_snapshot: starting the processor (load {load()})")
        redis_cpu0 = redis_cpu_s(rdi)
        busy0 = redis_busy_s(rdi)
        t0 = time.perf_counter()
        processor = procs.start("processor", [sys.executable, "-m", "bytewax.run", "flows.ingest"])
        t_first = wait_until("the first target key", lambda: int(target.dbsize()) > 0, progress=lambda: 0,
                             stall_s=args.stall, alive=lambda: procs.alive("processor"), poll_s=0.005,
                             log_path=procs.log)  # fmt: skip
        cpu_first = cpu_s(processor.pid)
        t_done = wait_until("the processor to drain the snapshot", lambda: group.drained(n), progress=group.acked,
                            stall_s=args.stall, alive=lambda: procs.alive("processor"), log_path=procs.log)  # fmt: skip
        cpu_done = cpu_s(processor.pid)
        keys_written = int(target.dbsize())
        if keys_written != n:
            raise RuntimeError(f"the target holds {keys_written} keys after the snapshot, expected {n}")
        total_s, steady_s = t_done - t0, t_done - t_first
        results["processor_snapshot"] = Rate.of(
            n, snap_bytes, total_s, cpu_s=round(cpu_done, 2), records_per_cpu_s=round(n / cpu_done),
            note="one process, one worker; from its start, startup included",
        )  # fmt: skip
        results["processor_steady"] = Rate.of(
            n, snap_bytes, steady_s, cpu_s=round(cpu_done - cpu_first, 2),
            records_per_cpu_s=round(n / max(cpu_done - cpu_first, 1e-9)),
            note="from the first target key until drained",
        )  # fmt: skip
        info["processor_startup_s"] = round(t_first - t0, 3)
        info["processor_startup_cpu_s"] = round(cpu_first, 2)
        info["redis_cpu_s_processor_snapshot"] = round(redis_cpu_s(rdi) - redis_cpu0, 2)
        info["redis_server_s_processor_snapshot"] = busy_between(busy0, redis_busy_s(rdi))
        say(f"processor_snapshot: {n:,} entries in {total_s:.1f} s (startup {t_first - t0:.2f} s); "
            f"{cpu_done:.1f} CPU s")  # fmt: skip

        # 3. end to end CDC
        info["load_avg"]["end_to_end_cdc"] = load()
        say(f"end_to_end_cdc: {args.cdc} {n:,} rows in {args.txn_rows}-row transactions (load {load()})")
        busy0, redis_cpu0 = redis_busy_s(rdi), redis_cpu_s(rdi)
        cpu0, ccpu0 = cpu_s(processor.pid), cpu_s(procs.running["collector"].pid)
        if args.cdc == "insert":
            t_start, t_first, t_last = insert_load(dsn, table, n + 1, n, args.txn_rows)
        else:
            t_start, t_first, t_last = update_load(dsn, table, n, args.txn_rows)
        staged_at_last, acked_at_last = xlen() - n, group.acked() - n
        t_done = wait_until("the CDC load to reach the target", lambda: xlen() >= 2 * n and group.drained(2 * n),
                            progress=lambda: xlen() + group.acked(), stall_s=args.stall,
                            alive=lambda: procs.alive("processor", "collector"), log_path=procs.log)  # fmt: skip
        expected_keys = 2 * n if args.cdc == "insert" else n
        keys_written = int(target.dbsize())
        if keys_written != expected_keys:
            raise RuntimeError(f"the target holds {keys_written} keys after the CDC load, expected {expected_keys}")
        if args.cdc == "update" and target.hget(f"{TABLE}:id:{n}", "status") != b"updated":
            raise RuntimeError(f"`{TABLE}:id:{n}` was not updated")
        _, cdc_bytes = read_back(rdi, stream, n, n, keep=False)
        results["end_to_end_cdc"] = Rate.of(
            n, cdc_bytes, t_done - t_first, txn_rows=args.txn_rows, staged_at_last_commit=staged_at_last,
            written_at_last_commit=acked_at_last, drain_after_last_commit_s=round(t_done - t_last, 3),
            processor_cpu_s=round(cpu_s(processor.pid) - cpu0, 2),
            collector_cpu_s=round(cpu_s(procs.running["collector"].pid) - ccpu0, 2),
        )  # fmt: skip
        results["pg_load"] = Rate.of(n, 0, t_last - t_start, note="PostgreSQL commit time of the load")
        info["redis_cpu_s_end_to_end_cdc"] = round(redis_cpu_s(rdi) - redis_cpu0, 2)
        info["redis_server_s_end_to_end_cdc"] = busy_between(busy0, redis_busy_s(rdi))
        say(f"end_to_end_cdc: all {n:,} changes in the target {t_done - t_first:.1f} s after the first commit "
            f"(PG load {t_last - t_start:.1f} s)")  # fmt: skip
        info["exit_codes"] = {"processor": procs.stop("processor"), "collector": procs.stop("collector")}
        info["redis_used_mb"] = round(int(rdi.info("memory")["used_memory"]) / 1e6)
        target.flushdb()

        # 4. ceiling: the processor's own commands for the snapshot entries, pre-encoded, sent in bulk
        info["load_avg"]["ceiling"] = load()
        say("ceiling: planning and packing the processor's commands in this process")
        steps = time_reads(rdi, stream, n, read_batch)
        resp, n_commands, more = ceiling_commands(folder, password, rdi, stream, snap_entries, read_batch)
        steps.update(more)
        info["steps_in_process"] = steps
        if n_commands != n:
            say(f"note: {n_commands:,} commands for {n:,} records")
        crlfs = n_commands  # integer replies (HSET): one line end each
        try:
            send_cli = partial(send_redis_cli, ceiling_url, resp)
            results["hset_redis_cli_pipe"] = ceiling("redis-cli", ceiling_url, send_cli, n, snap_bytes,
                                                     "redis-cli --pipe, pre-encoded RESP")  # fmt: skip
        except RuntimeError as exc:
            say(f"redis-cli ceiling skipped: {exc}")
        send_raw = partial(send_raw_socket, ceiling_url, resp, crlfs)
        results["hset_raw_socket"] = ceiling("raw socket", ceiling_url, send_raw, n, snap_bytes,
                                             "python raw socket, pre-encoded RESP")  # fmt: skip
        del resp, send_raw
        if not args.skip_python_pipeline:
            planned = replan(folder, password, rdi, stream, snap_entries, read_batch)
            send_py = partial(python_pipeline, ceiling_url, planned)
            results["hset_python_pipeline"] = ceiling("redis-py", ceiling_url, send_py, n, snap_bytes,
                                                      "redis-py pipeline, 1000 commands per round trip")  # fmt: skip
            del planned, send_py

        # 5. profile
        if args.profile:
            m = min(args.profile_rows, n)
            say(f"profile: staging {m:,} snapshot entries again; the processor under cProfile")
            rdi.delete(stream)
            xadds = encode_xadds(stream, snap_entries[:m])
            send_raw_socket(rdi_url, xadds, 2 * m)
            del xadds
            if xlen() != m:
                raise RuntimeError(f"re-staged {xlen()} of {m} entries")
            target.flushdb()
            PROFILE_PATH.unlink(missing_ok=True)
            t0 = time.perf_counter()
            command = [sys.executable, "-m", "cProfile", "-o", str(PROFILE_PATH), "-m", "bytewax.run", "flows.ingest"]
            profiled = procs.start("profiled", command)
            t_done = wait_until("the profiled processor to drain", lambda: group.drained(m),
                                progress=group.acked, stall_s=args.stall, alive=lambda: procs.alive("profiled"),
                                log_path=procs.log)  # fmt: skip
            cpu_done = cpu_s(profiled.pid)
            code = procs.stop("profiled", timeout=120)
            results["processor_profiled"] = Rate.of(m, 0, t_done - t0, cpu_s=round(cpu_done, 2),
                                                    note="under cProfile, startup included")  # fmt: skip
            if not PROFILE_PATH.exists():
                raise RuntimeError(f"cProfile wrote no {PROFILE_PATH} (exit status {code})")
            profile_text = profile_report(PROFILE_PATH, args.top)
        del snap_entries
    finally:
        procs.stop_all()
        drop_everything(dsn, schema)
        for client in (rdi, target, connect(ceiling_url)):
            client.flushdb()
        log_text = procs.log.read_text(errors="replace") if procs.log.exists() else ""
        tmp.cleanup()

    ceilings = [r["records_per_s"] for k, r in results.items() if k in ("hset_redis_cli_pipe", "hset_raw_socket")]
    best = max(ceilings)
    info["load_avg"]["end"] = load()
    info["max_rss_mb_bench"] = max_rss_mb()
    order = ["collector_snapshot", "processor_snapshot", "processor_steady", "end_to_end_cdc", "pg_load",
             "hset_redis_cli_pipe", "hset_raw_socket", "hset_python_pipeline", "processor_profiled"]  # fmt: skip
    print(f"\nIngest processor (flows.ingest, 1 worker = 1 process), {n:,} rows of ~1 KB "
          f"({snap_bytes / n:.0f} B per staged entry), no jobs (hash per row), read_batch_size {read_batch}, "
          f"write_batch_size {info['write_batch_size']}; CDC = {args.cdc}")  # fmt: skip
    print(f"{'phase':<22}{'records/s':>12}{'MB/s':>9}{'seconds':>10}{'CPU s':>8}{'rec/CPU s':>11}{'vs ceiling':>12}")
    for key in order:
        if key not in results:
            continue
        r = results[key]
        r["ratio_to_ceiling"] = round(r["records_per_s"] / best, 3)
        mb = f"{r['mb_per_s']:.1f}" if r["bytes"] else "-"
        cpu = r.get("cpu_s", r.get("processor_cpu_s"))
        per_cpu = r.get("records_per_cpu_s") or (round(r["records"] / cpu) if cpu else None)
        cpu_text = f"{cpu:.1f}" if cpu else "-"
        per_cpu_text = f"{per_cpu:,}" if per_cpu else "-"
        print(f"{key:<22}{r['records_per_s']:>12,}{mb:>9}{r['seconds']:>10.1f}{cpu_text:>8}{per_cpu_text:>11}"
              f"{r['ratio_to_ceiling']:>12.2f}")  # fmt: skip
    e = results["end_to_end_cdc"]
    print(f"processor startup (start → first target key): {info['processor_startup_s']} s "
          f"({info['processor_startup_cpu_s']} CPU s)")  # fmt: skip
    print(f"end_to_end_cdc: at the load's last commit {e['staged_at_last_commit']:,} staged, "
          f"{e['written_at_last_commit']:,} written; drained {e['drain_after_last_commit_s']} s later; "
          f"CPU s processor {e['processor_cpu_s']}, collector {e['collector_cpu_s']}")  # fmt: skip
    s = info["steps_in_process"]
    print(f"processor steps in this process, no I/O but the read (µs per record): read {s['read_us_per_record']}, "
          f"process (decode+job+plan) {s['process_us_per_record']}, pack {s['pack_us_per_record']}; "
          f"commands {s['commands']}, RESP {s['resp_mb']} MB")  # fmt: skip
    for phase in ("processor_snapshot", "end_to_end_cdc"):
        busy = info[f"redis_server_s_{phase}"]
        print(f"{phase}: Redis CPU s {info[f'redis_cpu_s_{phase}']}, busy per command {busy}")
    print(f"load average (1/5/15 min): {info['load_avg']}; targets: ≥ 50,000 records/s per core, ≥ 0.40 of ceiling")
    info["total_s"] = round(time.perf_counter() - started, 1)
    result = {
        "benchmark": "bench/macro/bench_ingest.py",
        **run_metadata(),
        "rows": n,
        "argv": sys.argv[1:],
        "info": info,
        "results": results,
    }
    path = append_result("ingest", result)
    print(f"result appended to {path}; total {info['total_s']} s")
    if profile_text:
        print(f"profile written to {PROFILE_PATH}")
        print(profile_text)
    if args.verbose:
        print(log_text[-5000:], file=sys.stderr)
    return 0


def update_load(dsn: str, table: str, rows: int, txn_rows: int) -> tuple[float, float, float]:
    """Every row ``1..rows`` UPDATEd, ``txn_rows`` per transaction: (start, first commit, last commit) times."""
    sql = UPDATE_SQL.format(table=table)
    t_first = 0.0
    with psycopg.connect(dsn, autocommit=False) as conn:
        conn.execute("SET synchronous_commit = on")
        conn.commit()
        t_start = time.perf_counter()
        for lo in range(1, rows + 1, txn_rows):
            conn.execute(sql, [lo, min(lo + txn_rows, rows + 1) - 1])
            conn.commit()
            if not t_first:
                t_first = time.perf_counter()
        t_last = time.perf_counter()
    return t_start, t_first, t_last


def replan(
    pipeline_dir: Path, password: str, rdi: redis.Redis, stream: str, entries: list[tuple[bytes, bytes]],
    batch_size: int,
) -> list[tuple[Any, ...]]:  # fmt: skip
    """The processor's commands for ``entries`` as tuples (for the redis-py orientation figure)."""
    processor = Processor(load_pipeline(pipeline_dir, env={"SOURCE_DB_PASSWORD": password}))
    types = StreamTypes(rdi).get(stream)
    out: list[tuple[Any, ...]] = []
    for lo in range(0, len(entries), batch_size):
        chunk = entries[lo : lo + batch_size]
        batch = StreamBatch(stream, [b"0-0"] * len(chunk), [{b"key": k, b"value": v} for k, v in chunk])
        done = processor.process(batch, types=types)
        out.extend(tuple(command) for writes in done.writes.values() for _, command in writes)
    return out


if __name__ == "__main__":
    raise SystemExit(main())
