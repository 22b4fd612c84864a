"""Micro-benchmark: `plan_batch` for `redis.write` outputs on seeded records (no Redis, no Bytewax).

    python bench/micro/bench_plan.py [--records 100000] [--repeat 5] [--batch-size 2000] [--out result.json]

Prints one JSON object (commit, Python, machine, dataset size, results); records/s is the best of `--repeat`
runs over the whole dataset, planned as one batch and in batches of `--batch-size` (`read_batch_size`).
Cases: hash with the default key, hash with a JMESPath key and a 60 s TTL, and JSON replace; every record
has 10 fields (ints, strings, a float, a bool, a null).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rdi.config.job import RedisWriteSettings
from rdi.events.event import Record
from rdi.writers.redis import WriteDefaults, plan_batch

CASES: dict[str, dict[str, Any]] = {
    "hash_default_key": {},
    "hash_jmespath_key_expire": {
        "key": {"expression": "concat(['order:', to_string(id)])", "language": "jmespath"},
        "expire": 60,
    },
    "json_replace": {"data_type": "json"},
}


def make_records(n: int, seed: int = 42) -> list[Record]:
    rng = random.Random(seed)
    records = []
    for i in range(n):
        row = {
            "id": i,
            "customer_id": rng.randrange(1_000_000),
            "status": rng.choice(["new", "paid", "shipped", "cancelled"]),
            "total": f"{rng.randrange(10_000)}.{rng.randrange(100):02d}",
            "discount": rng.random(),
            "created_at": 1_529_507_596_945.104 + i,
            "express": rng.random() < 0.5,
            "note": None if rng.random() < 0.3 else "leave at the door",
            "city": rng.choice(["Oslo", "Lyon", "Austin", "Pune"]),
            "items": rng.randrange(1, 20),
        }
        records.append(
            Record(
                data=row,
                key={"id": i},
                row_format="partial",
                op="c" if rng.random() < 0.7 else "u",
                server_name="rdi",
                db="shop",
                schema="public",
                table="orders",
            )
        )
    return records


def run(records: list[Record], with_: dict[str, Any], repeat: int, batch: int) -> dict[str, float]:
    settings = RedisWriteSettings.model_validate(with_)
    defaults = WriteDefaults()
    best = float("inf")
    commands = 0
    for _ in range(repeat):
        commands = 0
        start = time.perf_counter()
        for i in range(0, len(records), batch):
            commands += len(plan_batch(records[i : i + batch], settings, defaults).commands)
        best = min(best, time.perf_counter() - start)
    return {
        "records_per_s": round(len(records) / best),
        "commands_per_s": round(commands / best),
        "best_s": round(best, 4),
    }


def commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=2000, help="also plan in batches of this size")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    records = make_records(args.records)
    result = {
        "benchmark": "bench/micro/bench_plan.py",
        "commit": commit(),
        "python": sys.version.split()[0],
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count()},
        "dataset": {"records": args.records, "fields_per_record": 10, "seed": 42},
        "results": {
            f"{name}/batch={batch}": run(records, with_, args.repeat, batch)
            for name, with_ in CASES.items()
            for batch in (args.records, args.batch_size)
        },
    }
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
