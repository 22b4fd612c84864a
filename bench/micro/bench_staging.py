"""Benchmark: staging ~1 KB Debezium events into the RDI DB — the atomic Lua write vs a plain XADD pipeline.

    python bench/micro/bench_staging.py [--url redis://127.0.0.1:16379/0] [--records 100000] [--repeat 3]
                                        [--batch-sizes 500,1000,2000,5000] [--out result.json]

Needs a running Redis (the test service: `bash tests/services.sh start redis`; `RDI_TEST_REDIS_URL` is honoured).
Writes only `bench:staging:*` keys and deletes them after every run. Prints one JSON object (commit, Python,
machine, dataset, results); per case the best of `--repeat` runs: records/s, MB/s (key + value bytes) and the
per-call latency as the client sees it (p50/max ms) and the server's busy time per call (`INFO commandstats`;
a Lua call blocks every other client for that long). Cases, per batch size:

* `lua_write`: :meth:`StagingWriter.write` — one EVALSHA per batch: XADDs + checkpoint, position-checked;
* `pipeline`: one non-transactional pipeline of XADDs + an HSET of the offset (Debezium Server's Redis sink);
* `multi_exec`: the same commands in MULTI/EXEC (atomic, but no replay check);
* `ceiling`: `redis-benchmark -P <batch>` sending the same XADD (C client), when it is on PATH.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import redis

from rdi.collectors.staging import Checkpoint, Entry, StagingWriter

PREFIX = "bench:staging:"
STREAM = PREFIX + "data:rdi.public.orders"
OFFSETS = PREFIX + "offsets"
FIELD = '["redis",{"server":"rdi"}]'


def make_entries(n: int, seed: int = 42) -> list[Entry]:
    """Debezium `extended` key/value pairs whose value is ~1 KB."""
    rng = random.Random(seed)
    entries = []
    for i in range(n):
        after = {
            "id": i,
            "customer_id": rng.randrange(1_000_000),
            "status": rng.choice(["new", "paid", "shipped"]),
            "total": f"{rng.randrange(10_000)}.{rng.randrange(100):02d}",
            "note": "".join(rng.choice("abcdefghijklmnopqrstuvwxyz ") for _ in range(620)),
        }
        value = {
            "before": None,
            "after": after,
            "source": {
                "version": "rdi-0.1.0",
                "connector": "postgresql",
                "name": "rdi",
                "ts_ms": 1_700_000_000_000 + i,
                "snapshot": "false",
                "db": "shop",
                "sequence": f'["{i * 64}","{i * 64 + 32}"]',
                "schema": "public",
                "table": "orders",
                "txId": 1000 + i // 1000,
                "lsn": i * 64 + 32,
                "xmin": None,
            },
            "op": "c",
            "ts_ms": 1_700_000_000_100 + i,
            "transaction": None,
        }
        entries.append(Entry(STREAM, orjson.dumps({"id": i}), orjson.dumps(value)))
    return entries


def checkpoint(i: int) -> Checkpoint:
    position = f"{i:016x}:{0:010d}"
    return Checkpoint(OFFSETS, FIELD, position, orjson.dumps({"lsn_commit": i, "txId": i, "position": position}))


def lua_write(client: redis.Redis) -> Callable[[list[Entry], int], None]:
    writer = StagingWriter(client)

    def call(batch: list[Entry], i: int) -> None:
        writer.write(batch, checkpoint(i))

    return call


def piped(client: redis.Redis, *, transaction: bool) -> Callable[[list[Entry], int], None]:
    def call(batch: list[Entry], i: int) -> None:
        pipe = client.pipeline(transaction=transaction)
        for e in batch:
            pipe.xadd(e.stream, {"key": e.key, "value": e.value})
        c = checkpoint(i)
        pipe.hset(c.key, c.field, c.value)
        pipe.execute()

    return call


def run(client: redis.Redis, make: Callable[[], Callable[[list[Entry], int], None]], entries: list[Entry],
        batch: int, repeat: int) -> dict[str, float]:  # fmt: skip
    size = sum(len(e.key) + len(e.value) for e in entries)
    best = float("inf")
    latencies: list[float] = []
    server_ms = 0.0
    for _ in range(repeat):
        client.delete(STREAM, OFFSETS)
        client.config_resetstat()
        call = make()
        calls: list[float] = []
        start = time.perf_counter()
        for n, i in enumerate(range(0, len(entries), batch)):
            t0 = time.perf_counter()
            call(entries[i : i + batch], n + 1)
            calls.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - start
        assert client.xlen(STREAM) == len(entries)
        if elapsed < best:
            best, latencies, server_ms = elapsed, calls, server_busy_ms(client) / len(calls)
    client.delete(STREAM, OFFSETS)
    return {
        "records_per_s": round(len(entries) / best),
        "mb_per_s": round(size / best / 1e6, 1),
        "call_ms_p50": round(statistics.median(latencies) * 1000, 2),
        "call_ms_max": round(max(latencies) * 1000, 2),
        "server_ms_per_call": round(server_ms, 2),
    }


def server_busy_ms(client: redis.Redis) -> float:
    """Time Redis spent executing the run's commands (a script's inner commands are inside its own time)."""
    stats = client.info("commandstats")
    if "cmdstat_evalsha" in stats or "cmdstat_eval" in stats:
        names = ["cmdstat_evalsha", "cmdstat_eval"]
    else:
        names = ["cmdstat_xadd", "cmdstat_hset", "cmdstat_multi", "cmdstat_exec"]
    return float(sum(stats[n]["usec"] for n in names if n in stats)) / 1000


def ceiling(url: str, entry: Entry, records: int, batch: int) -> dict[str, float] | None:
    """The same XADD sent by redis-benchmark (C client), pipelined `batch` deep."""
    exe = shutil.which("redis-benchmark")
    if exe is None:
        return None
    parts = urlsplit(url)
    cmd = [exe, "-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 6379), "-n", str(records),
           "-P", str(batch), "-c", "1", "-q", "--csv",
           "XADD", STREAM, "*", "key", entry.key.decode(), "value", entry.value.decode()]  # fmt: skip
    if parts.path.strip("/"):
        cmd[1:1] = ["--dbnum", parts.path.strip("/")]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    redis.Redis.from_url(url).delete(STREAM)
    # The CSV's first column is the command line, quotes unescaped: count the 7 numbers from the right.
    lines = out.splitlines()
    if len(lines) < 2:
        return None
    rate = float(lines[1].rsplit(",", 7)[1].strip('"'))
    return {"records_per_s": round(rate), "mb_per_s": round(rate * (len(entry.key) + len(entry.value)) / 1e6, 1)}


def commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("RDI_TEST_REDIS_URL", "redis://127.0.0.1:16379/0"))
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch-sizes", default="500,1000,2000,5000")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    client: redis.Redis = redis.Redis.from_url(args.url)
    entries = make_entries(args.records)
    cases: dict[str, Callable[[], Callable[[list[Entry], int], None]]] = {
        "lua_write": lambda: lua_write(client),
        "pipeline": lambda: piped(client, transaction=False),
        "multi_exec": lambda: piped(client, transaction=True),
    }
    results: dict[str, Any] = {}
    for batch in (int(b) for b in args.batch_sizes.split(",")):
        for name, make in cases.items():
            results[f"{name}/batch={batch}"] = run(client, make, entries, batch, args.repeat)
        results[f"ceiling/batch={batch}"] = ceiling(args.url, entries[0], args.records, batch)
    result = {
        "benchmark": "bench/micro/bench_staging.py",
        "commit": commit(),
        "python": sys.version.split()[0],
        "redis": client.info("server")["redis_version"],
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count()},
        "dataset": {
            "records": args.records,
            "bytes_per_record": round(sum(len(e.key) + len(e.value) for e in entries) / len(entries)),
            "seed": 42,
        },
        "results": results,
    }
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
