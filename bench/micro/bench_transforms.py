"""Micro-benchmark: the job transform steps over seeded `partial` records (~10 columns each).

Run: ``python bench/micro/bench_transforms.py [--records N] [--repeat R] [--batch B]``. For each step, prints
records/s applied one by one (`apply`) and in batches (`apply_batch`, where SQL is vectorised), then a JSON
summary (Python, machine, dataset size, best-of-R records/s). No Redis, no Bytewax: the pure core only.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from collections.abc import Callable
from typing import Any

from rdi.config.job import Job
from rdi.events.event import Record
from rdi.transforms import LookupStep, Transform, compile_transforms

BLOCKS: dict[str, dict[str, Any]] = {
    "add_field jmespath": {"uses": "add_field", "with": {
        "field": "label", "expression": "join(' ', [customer, email])", "language": "jmespath"}},
    "add_field sql": {"uses": "add_field", "with": {
        "field": "total", "expression": "price * qty", "language": "sql"}},
    "add_field nested path": {"uses": "add_field", "with": {
        "field": "meta.source.kind", "expression": "'orders'", "language": "jmespath"}},
    "filter jmespath": {"uses": "filter", "with": {"expression": "qty > `50`", "language": "jmespath"}},
    "filter sql": {"uses": "filter", "with": {"expression": "qty > 50 AND paid", "language": "sql"}},
    "map jmespath": {"uses": "map", "with": {
        "expression": "{id: id, who: customer, money: {price: price, qty: qty}}", "language": "jmespath"}},
    "map sql": {"uses": "map", "with": {
        "expression": {"id": "id", "who": "UPPER(customer)", "total": "price * qty"}, "language": "sql"}},
    "rename_field": {"uses": "rename_field", "with": {"from_field": "email", "to_field": "contact.email"}},
    "remove_field": {"uses": "remove_field", "with": {"fields": [{"field": "note"}, {"field": "attrs"}]}},
}  # fmt: skip


def make_records(n: int, seed: int) -> list[Record]:
    rnd = random.Random(seed)
    records = []
    for i in range(n):
        row = {
            "id": i,
            "customer": f"customer-{rnd.randrange(10_000)}",
            "email": f"user{rnd.randrange(10**6)}@example.com",
            "price": rnd.randrange(10**6) / 100,
            "qty": rnd.randrange(100),
            "paid": int(rnd.random() < 0.5),
            "created": 1_700_000_000_000 + rnd.randrange(10**9),
            "day": 19_000 + rnd.randrange(1000),
            "attrs": '{"color":"red","size":3}',
            "note": None if rnd.random() < 0.7 else "fragile",
        }
        records.append(Record(row, {"id": i}, "partial", "c", "rdi", "shop", "public", "orders"))
    return records


def best_rate(fn: Callable[[], object], n: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return n / best


def per_record(step: Transform, records: list[Record]) -> Callable[[], object]:
    return lambda: [step.apply(r) for r in records]


def per_batch(step: Transform, batches: list[list[Record]]) -> Callable[[], object]:
    return lambda: [step.apply_batch(b) for b in batches]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args(argv)
    n, size = args.records, args.batch
    records = make_records(n, seed=1)
    batches = [records[i : i + size] for i in range(0, n, size)]
    results: dict[str, Any] = {}
    for name, block in BLOCKS.items():
        job = Job.model_validate({"source": {"table": "orders"}, "transform": [block]})
        step = compile_transforms(job.transform)[0]
        assert not isinstance(step, LookupStep)  # lookups need a Redis; not measured here
        one = best_rate(per_record(step, records), n, args.repeat)
        many = best_rate(per_batch(step, batches), n, args.repeat)
        results[name] = {"apply": round(one), "apply_batch": round(many)}
        print(f"{name:24s} apply {one:>12,.0f} records/s   apply_batch({size}) {many:>12,.0f} records/s")
    summary = {
        "bench": "transforms",
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "processor": platform.processor() or platform.platform(),
        "records": n,
        "batch": size,
        "records_per_s": results,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
