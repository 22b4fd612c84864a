"""Records/s of SQL `evaluate_batch` (vectorised, one SQLite query, SQLite per row) and JMESPath per row.

Run: `python bench/micro/bench_expressions.py [rows]`. Seeded inputs are generated here; numbers only.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from typing import Any

from rdi.expressions import compile_jmespath, compile_sql

SQL = [
    "status <> 'draft'",
    "CASE WHEN total > 100 THEN 'big' ELSE 'small' END",
    "upper(name) || ':' || id",
    "total * 2 + qty / 3",
]
JMESPATH = ["concat(['order:', id])", "upper(name)", "after_total || total"]


def make_rows(n: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    statuses = ["draft", "paid", "shipped", "cancelled"]
    return [
        {
            "id": i,
            "name": f"customer-{rng.randrange(10_000)}",
            "status": rng.choice(statuses),
            "total": rng.randrange(0, 500),
            "qty": rng.randrange(1, 20),
            "price": round(rng.uniform(1, 100), 2),
            "city": rng.choice(["Paris", "Berlin", "Tel Aviv", "Zürich"]),
            "note": None if rng.random() < 0.3 else "x" * rng.randrange(20),
            "active": rng.random() < 0.5,
            "code": f"C{rng.randrange(1000):04d}",
        }
        for i in range(n)
    ]


def rate(fn: Callable[[], object], n: int, repeat: int = 3) -> float:
    best = min(_timed(fn) for _ in range(repeat))
    return n / best


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    rows = make_rows(n)
    print(f"rows={n} python={sys.version.split()[0]}")
    for text in SQL:
        expr = compile_sql(text)
        expr.evaluate_batch(rows)  # warm caches
        vector = rate(lambda e=expr: e.evaluate_vector(rows), n)
        batch = rate(lambda e=expr: e.evaluate_exact(rows), n)
        per_row = rate(lambda e=expr: [e.evaluate(r) for r in rows], n, repeat=1)
        print(f"sql {text!r}: vectorised {vector:,.0f}/s  one-query {batch:,.0f}/s  per-row {per_row:,.0f}/s")
    for text in JMESPATH:
        jexpr = compile_jmespath(text)
        print(f"jmespath {text!r}: per-row {rate(lambda e=jexpr: e.evaluate_batch(rows), n):,.0f}/s")


if __name__ == "__main__":
    main()
