"""Micro-benchmark: ``decode_event`` + ``to_record`` over seeded Debezium entries (~10 columns each).

Run: ``python bench/micro/bench_decode.py [--events N] [--repeat R]``. Prints one line per scenario and a JSON
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

import orjson

from rdi.events import ColumnType, decode_event, to_record

SOURCE = {
    "version": "3.0.8.Final",
    "connector": "postgresql",
    "name": "rdi",
    "ts_ms": 1700000000000,
    "snapshot": "false",
    "db": "shop",
    "sequence": '[null,"22681576"]',
    "schema": "public",
    "table": "orders",
    "txId": 745,
    "lsn": 22681576,
    "xmin": None,
}
TYPES = {
    "created": ColumnType("io.debezium.time.MicroTimestamp", "int64"),
    "day": ColumnType("io.debezium.time.Date", "int32"),
    "attrs": ColumnType("io.debezium.data.Json", "string"),
    "price": ColumnType("org.apache.kafka.connect.data.Decimal", "bytes", scale=2),
}


def make_entries(n: int, seed: int, *, precise: bool = False) -> list[tuple[bytes, bytes]]:
    rnd = random.Random(seed)
    entries = []
    for i in range(n):
        op = rnd.choice("ccccuud")
        row = {
            "id": i,
            "customer": f"customer-{rnd.randrange(10_000)}",
            "email": f"user{rnd.randrange(10**6)}@example.com",
            "price": "BNI=" if precise else f"{rnd.randrange(10**6) / 100:.2f}",
            "qty": rnd.randrange(100),
            "paid": rnd.random() < 0.5,
            "created": 1_700_000_000_000_000 + rnd.randrange(10**9),
            "day": 19_000 + rnd.randrange(1000),
            "attrs": '{"color":"red","size":3}',
            "note": None if rnd.random() < 0.7 else "fragile",
        }
        value = {
            "before": row if op == "d" else None,
            "after": None if op == "d" else row,
            "source": SOURCE,
            "transaction": None,
            "op": op,
            "ts_ms": 1_700_000_000_123,
        }
        entries.append((orjson.dumps({"id": i}), orjson.dumps(value)))
    return entries


def run(entries: list[tuple[bytes, bytes]], types: dict[str, ColumnType] | None) -> None:
    for key, value in entries:
        event = decode_event(key, value, types=types)
        if event is not None:
            to_record(event, "partial")


def parse_only(entries: list[tuple[bytes, bytes]]) -> None:
    for _, value in entries:
        orjson.loads(value)


def best_rate(fn: Callable[[], None], n: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return n / best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    n = args.events
    plain = make_entries(n, seed=1)
    precise = make_entries(n, seed=1, precise=True)
    mb = sum(len(k) + len(v) for k, v in plain) / 1e6
    scenarios: dict[str, Callable[[], None]] = {
        "orjson.loads only (floor)": lambda: parse_only(plain),
        "untyped (RDI default, schemas off)": lambda: run(plain, None),
        "typed: 4 of 10 columns converted": lambda: run(precise, TYPES),
    }
    results: dict[str, Any] = {}
    for name, fn in scenarios.items():
        rate = best_rate(fn, n, args.repeat)
        results[name] = round(rate)
        print(f"{name:40s} {rate:>12,.0f} records/s  {rate * mb / n:8.1f} MB/s")
    summary = {
        "bench": "decode_event+to_record",
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "processor": platform.processor() or platform.platform(),
        "events": n,
        "mb": round(mb, 2),
        "records_per_s": results,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
