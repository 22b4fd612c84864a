"""Benchmark: `SqlTarget.write` upserting ~1 KB rows in batches, next to the raw batched insert of the same rows.

    python bench/micro/bench_sql_target.py [--rows 20000] [--batch-sizes 200,1000] [--repeat 2]
                                           [--dbs postgresql,mariadb,sqlite] [--out bench/results/x.json]

Needs the test services (`bash tests/services.sh start postgres mysql`; `RDI_TEST_PG_DSN` / `RDI_TEST_MYSQL_URL`
are honoured, else the script's defaults); SQLite is a file in a temporary directory. Writes only the table
`bench_sql_target`, dropped at the end. Per database and batch size, best of `--repeat` runs on a fresh table:

* `plan`: `RelationalPlanner.plan` alone (UPSERT, keys [id], 10 mapped fields) — no database;
* `upsert_new`: `SqlTarget.write` of every batch (one transaction each) into an empty table: all inserts;
* `upsert_existing`: the same batches again: every row conflicts and is updated;
* `raw_insert`: the same rows by the driver alone, one transaction per batch — PostgreSQL: psycopg `executemany`
  of a plain INSERT (pipeline mode) and `COPY` (`raw_copy`); MariaDB: PyMySQL's multi-row INSERT
  (`executemany`); SQLite: sqlite3 `executemany`.

Reports rows/s and MB/s (the bytes of the values sent) and `ratio` = upsert_new ÷ the best raw insert. Prints the
JSON and appends it to `bench/results/sql_target-<time>.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pymysql  # type: ignore[import-untyped]
from pydantic import SecretStr

from rdi.config.job import RelationalWriteSettings
from rdi.config.targets import SqlConnection
from rdi.events.event import Record
from rdi.sql_target import SqlTarget
from rdi.writers.sql import RelationalPlanner, SqlWrite

TABLE = "bench_sql_target"
FIELDS = [f"f{i}" for i in range(10)]
DDL = f"CREATE TABLE {TABLE} (id INTEGER PRIMARY KEY, " + ", ".join(f"{f} VARCHAR(200)" for f in FIELDS) + ")"
PG_DSN = os.environ.get("RDI_TEST_PG_DSN", "postgresql://postgres:postgres@127.0.0.1:15432/rdi_test")
MYSQL_URL = os.environ.get("RDI_TEST_MYSQL_URL", "mysql://root:root@127.0.0.1:13306/rdi_test")


def make_rows(n: int, seed: int = 7) -> list[dict[str, str]]:
    """Hash-like rows (every value a string) of ~1 KB: an id and 10 fields of ~100 characters."""
    rng = random.Random(seed)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789 "
    return [{"id": str(i), **{f: "".join(rng.choices(alphabet, k=100)) for f in FIELDS}} for i in range(n)]


def row_bytes(rows: list[dict[str, str]]) -> int:
    return sum(len(v) for row in rows for v in row.values())


def server_connection(kind: str, url: str) -> SqlConnection:
    p = urlsplit(url)
    return SqlConnection(type=kind, host=p.hostname, port=p.port, database=p.path.lstrip("/"),  # type: ignore[arg-type]
                         user=p.username, password=SecretStr(p.password or ""))  # fmt: skip


class Db:
    """Raw driver access for setup and the raw insert rate."""

    def __init__(self, kind: str, sqlite_path: str) -> None:
        self.kind = kind
        self.sqlite_path = sqlite_path
        if kind == "postgresql":
            self.connection = server_connection(kind, PG_DSN)
        elif kind == "mariadb":
            self.connection = server_connection(kind, MYSQL_URL)
        else:
            self.connection = SqlConnection(type="sqlite", database=sqlite_path)

    def connect(self) -> Any:
        if self.kind == "postgresql":
            return psycopg.connect(PG_DSN)
        if self.kind == "mariadb":
            p = urlsplit(MYSQL_URL)
            return pymysql.connect(host=p.hostname, port=p.port, user=p.username, password=p.password,
                                   database=p.path.lstrip("/"))  # fmt: skip
        conn = sqlite3.connect(self.sqlite_path)
        conn.execute("PRAGMA journal_mode=WAL")
        return conn

    def reset(self) -> None:
        conn = self.connect()
        cur = conn.cursor()
        cur.execute(f"DROP TABLE IF EXISTS {TABLE}")
        cur.execute(DDL)
        conn.commit()
        conn.close()

    def count(self) -> int:
        conn = self.connect()
        cur = conn.cursor()
        cur.execute(f"SELECT COUNT(*) FROM {TABLE}")
        n = int(cur.fetchone()[0])
        conn.close()
        return n

    def raw_insert(self, batches: list[list[dict[str, str]]]) -> None:
        columns = ["id", *FIELDS]
        marks = ", ".join(("?" if self.kind == "sqlite" else "%s") for _ in columns)
        sql = f"INSERT INTO {TABLE} ({', '.join(columns)}) VALUES ({marks})"
        conn = self.connect()
        cur = conn.cursor()
        for batch in batches:
            cur.executemany(sql, [tuple(row[c] for c in columns) for row in batch])
            conn.commit()
        conn.close()

    def raw_copy(self, batches: list[list[dict[str, str]]]) -> None:
        columns = ["id", *FIELDS]
        conn = psycopg.connect(PG_DSN)
        for batch in batches:
            with conn.cursor() as cur, cur.copy(f"COPY {TABLE} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in batch:
                    copy.write_row([row[c] for c in columns])
            conn.commit()
        conn.close()


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def rate(rows: int, nbytes: int, seconds: float) -> dict[str, float]:
    return {
        "seconds": round(seconds, 4),
        "rows_per_s": round(rows / seconds),
        "mb_per_s": round(nbytes / seconds / 1e6, 2),
    }


def measure(
    db: Db, rows: list[dict[str, str]], writes: list[SqlWrite], size: int, repeat: int, nbytes: int
) -> dict[str, Any]:
    row_batches = [rows[i : i + size] for i in range(0, len(rows), size)]
    write_batches = [list(enumerate(writes[i : i + size])) for i in range(0, len(writes), size)]
    best: dict[str, float] = {}

    def keep(name: str, seconds: float) -> None:
        best[name] = min(best.get(name, float("inf")), seconds)

    for _ in range(repeat):
        db.reset()
        target = SqlTarget("bench", db.connection)
        target.write([(0, SqlWrite(None, TABLE, "delete", {"id": -1}, {}))])  # connect before timing

        def run_all(target: SqlTarget = target) -> None:
            for batch in write_batches:
                if target.write(batch):
                    raise RuntimeError("rows were rejected")

        keep("upsert_new", timed(run_all))
        keep("upsert_existing", timed(run_all))
        target.close()
        if db.count() != len(rows):
            raise RuntimeError("the table does not hold every row")
        db.reset()
        keep("raw_insert", timed(lambda: db.raw_insert(row_batches)))
        if db.kind == "postgresql":
            db.reset()
            keep("raw_copy", timed(lambda: db.raw_copy(row_batches)))
    case: dict[str, Any] = {name: rate(len(rows), nbytes, seconds) for name, seconds in best.items()}
    raw = min(v for k, v in best.items() if k.startswith("raw_"))
    case["ratio_upsert_new_to_raw"] = round(raw / best["upsert_new"], 3)
    case["ratio_upsert_new_to_raw_insert"] = round(best["raw_insert"] / best["upsert_new"], 3)
    return case


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--batch-sizes", default="200,1000")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--dbs", default="postgresql,mariadb,sqlite")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    rows = make_rows(args.rows)
    nbytes = row_bytes(rows)
    settings = RelationalWriteSettings.model_validate(
        {"connection": "t", "schema": "", "table": TABLE, "keys": ["id"], "mapping": FIELDS, "load_strategy": "UPSERT"}
    )
    planner = RelationalPlanner(settings)
    records = [Record(data=row, key={"key": f"r:{row['id']}"}, row_format="partial", op="c", server_name="app",
                      db="0", schema=None, table="r:*") for row in rows]  # fmt: skip
    writes: list[SqlWrite] = []
    plan_s = min(timed(lambda: writes.__setitem__(slice(None), [w for r in records for w in planner.plan(r)]))
                 for _ in range(args.repeat))  # fmt: skip
    results: dict[str, Any] = {"plan": rate(len(rows), nbytes, plan_s)}

    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.dbs.split(","):
            db = Db(kind, str(Path(tmp) / "bench.db"))
            for size in (int(s) for s in args.batch_sizes.split(",")):
                results[f"{kind}/batch_{size}"] = measure(db, rows, writes, size, args.repeat, nbytes)
            conn = db.connect()
            conn.cursor().execute(f"DROP TABLE IF EXISTS {TABLE}")
            conn.commit()
            conn.close()

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    report = {
        "benchmark": "sql_target",
        "commit": commit.stdout.strip(),
        "python": sys.version.split()[0],
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "dataset": {"rows": len(rows), "bytes": nbytes, "row_bytes": nbytes // len(rows), "repeat": args.repeat},
        "results": results,
    }
    text = json.dumps(report, indent=2)
    print(text)
    out = Path(args.out) if args.out else Path("bench/results") / f"sql_target-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")


if __name__ == "__main__":
    main()
