"""Micro-benchmark: ``Processor.process`` with and without `redis.lookup`, and what batching lookups saves.

Run: ``python bench/micro/bench_lookup.py [--entries N] [--batch B] [--repeat R] [--url URL] [--only no-lookup]``.

* ``no lookups``: a batch through the default mapping and through a job with a filter and an `add_field`; the
  path every job without a lookup takes, which must cost nothing more for lookups existing elsewhere
  (``--only no-lookup`` runs just these, so a checkout from before lookups were batched can run it too);
* ``lookup, answered in memory``: one `HGET` per record, the replies from a dict, counting the calls;
* with ``--url``, the same batches against that Redis (``send_raw``, what ``TargetConnections.lookup_batch``
  sends): a round trip per record, as lookups were sent before, next to one per wave. The keys are written under
  ``bench:lookup:`` in the URL's db and deleted after; nothing is flushed.

Prints one line per scenario and a JSON summary (Python, machine, sizes, best-of-R records/s).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from rdi.config import Pipeline, load_config_text, load_job_text
from rdi.processor import Processor, StreamBatch

CONFIG = """
sources:
  pg: {type: cdc, connection: {type: postgresql, host: localhost, port: 5432, database: shop, user: u, password: p}}
targets:
  target: {connection: {type: redis, host: localhost, port: 6379}}
"""

TRANSFORMED = """
name: products
source: {table: products}
transform:
  - uses: filter
    with: {language: sql, expression: price > 0}
  - uses: add_field
    with: {field: label, expression: "concat(['p-', name])", language: jmespath}
output:
  - uses: redis.write
    with: {data_type: hash}
"""

LOOKUP = """
name: orders
source: {table: orders}
transform:
  - uses: redis.lookup
    with:
      cmd: HGET
      args: ["concat(['bench:lookup:customer:', to_string(customer_id)])", "'name'"]
      language: jmespath
      field: customer
output:
  - uses: redis.write
"""

CUSTOMERS = 1000


def pipeline(*jobs: str) -> Pipeline:
    config = load_config_text(CONFIG)
    loaded = [load_job_text(text, f"jobs/job{i}.yaml") for i, text in enumerate(jobs)]
    return Pipeline(config, {job.name or f"job{i}": job for i, job in enumerate(loaded)})


def make_batches(table: str, n: int, size: int) -> list[StreamBatch]:
    entries = []
    for i in range(n):
        row = {"id": i, "name": f"n{i}", "price": i % 100 + 1, "customer_id": i % CUSTOMERS, "qty": 3, "paid": True}
        value = {
            "before": None, "after": row, "op": "c", "ts_ms": 1_700_000_000_000,
            "source": {"connector": "postgresql", "name": "pg", "db": "shop", "schema": "public", "table": table},
        }  # fmt: skip
        entries.append({b"key": orjson.dumps({"id": i}), b"value": orjson.dumps(value)})
    return [
        StreamBatch("data:pg.public." + table, [f"1-{j}".encode() for j in range(len(part))], part, read_at=0.0)
        for part in (entries[k : k + size] for k in range(0, n, size))
    ]


def best_rate(fn: Callable[[], None], n: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return n / best


class Calls:
    """A lookup answering from memory and counting its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, connection: str, commands: Sequence[tuple[str, ...]]) -> list[Any]:
        self.calls += 1
        return [b"Ann"] * len(commands)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--entries", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=2000, help="entries per batch (processors.read_batch_size)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--url", help="a Redis to look up against, e.g. redis://127.0.0.1:16379/14")
    parser.add_argument("--only", choices=["no-lookup"])
    args = parser.parse_args(argv)
    n, size = args.entries, args.batch
    default_mapping = Processor(pipeline())
    transformed = Processor(pipeline(TRANSFORMED))
    products = make_batches("products", n, size)

    def run(processor: Processor, batches: list[StreamBatch], **options: Any) -> None:
        for item in batches:
            processor.process(item, **options)

    scenarios: dict[str, Callable[[], None]] = {
        "no lookups: default mapping": lambda: run(default_mapping, products),
        "no lookups: filter + add_field": lambda: run(transformed, products),
    }
    looked_up = Processor(pipeline(LOOKUP))
    orders = make_batches("orders", n, size)
    calls = Calls()
    if args.only is None:
        scenarios["lookup, answered in memory"] = lambda: run(looked_up, orders, lookup=calls)
    client = None
    if args.url and args.only is None:
        import redis

        from rdi.connections import send_raw

        client = redis.Redis.from_url(args.url)
        for c in range(CUSTOMERS):
            client.hset(f"bench:lookup:customer:{c}", "name", f"c{c}")
        target = client

        def batched(connection: str, commands: Sequence[tuple[str, ...]]) -> list[Any]:
            return send_raw(target, commands)

        def one_by_one(connection: str, commands: Sequence[tuple[str, ...]]) -> list[Any]:
            return [send_raw(target, [command])[0] for command in commands]

        scenarios["lookup against Redis, a round trip per record"] = lambda: run(looked_up, orders, lookup=one_by_one)
        scenarios["lookup against Redis, a round trip per wave"] = lambda: run(looked_up, orders, lookup=batched)
    results: dict[str, Any] = {}
    try:
        for name, fn in scenarios.items():
            rate = best_rate(fn, n, args.repeat)
            results[name] = round(rate)
            print(f"{name:50s} {rate:>12,.0f} records/s")
    finally:
        if client is not None:
            client.delete(*(f"bench:lookup:customer:{c}" for c in range(CUSTOMERS)))
            client.close()
    if "lookup, answered in memory" in scenarios:
        print(f"lookup calls per run: {calls.calls // args.repeat} for {n} records in {len(orders)} batches")
    summary = {
        "bench": "processor lookups",
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "processor": platform.processor() or platform.platform(),
        "entries": n,
        "batch": size,
        "records_per_s": results,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
