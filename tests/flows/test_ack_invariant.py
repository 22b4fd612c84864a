"""DESIGN §5's invariant — an entry is acknowledged only after everything it produced is written — checked at
every acknowledgement by an audit (tests/flows/ack_audit_flow.py), and the audit proven by the unsafe variant
that acknowledges inside the input's ``snapshot()``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from ._ingest import REPO, stage_rows, wait_for

pytestmark = [pytest.mark.redis]

ENTRIES = 3000


def stage(db: redis.Redis) -> str:
    """The audited entries, and in ``audit:keys`` the target key each of them must produce."""
    stream = stage_rows(db, "rows", range(ENTRIES), server="audit", note="x" * 50)
    db.hset("audit:keys", mapping={entry_id: f"rows:id:{i}" for i, (entry_id, _) in enumerate(db.xrange(stream))})
    return stream


def run_audited(redis_url: str, folder: Path, variant: str) -> tuple[int, int]:
    """Runs the audited flow until it acknowledged everything (or, unsafe, caught a violation); returns
    (violations, entries written)."""
    db = redis.Redis.from_url(redis_url)
    db.flushdb()
    stage(db)
    port = db.connection_pool.connection_kwargs["port"]
    (folder / "config.yaml").write_text(
        f"targets:\n  target: {{connection: {{type: redis, host: 127.0.0.1, port: {port}}}}}\n"
        "processors: {read_batch_size: 50, write_batch_size: 50}\n"
    )
    env = {**os.environ, "RDI_DB_URL": redis_url, "RDI_PIPELINE_DIR": str(folder), "RDI_METRICS_PORT": "off",
           "AUDIT_VARIANT": variant}  # fmt: skip
    log = folder / "flow.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "bytewax.run", "tests.flows.ack_audit_flow", "-s", "1"],
                                   env=env, cwd=REPO, stdout=out, stderr=out)  # fmt: skip
    try:

        def done() -> bool:
            if variant == "unsafe" and int(db.get("audit:violations") or 0):
                return True
            return int(db.get("audit:acked") or 0) >= ENTRIES

        wait_for(done, 120, f"the {variant} flow to acknowledge its entries", log=log)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    written = sum(1 for _ in db.scan_iter(match="rows:id:*", count=1000))
    violations = int(db.get("audit:violations") or 0)
    db.flushdb()
    return violations, written


def test_the_output_acknowledges_only_what_it_wrote(redis_url: str, tmp_path: Path) -> None:
    assert run_audited(redis_url, tmp_path, "safe") == (0, ENTRIES)


def test_the_audit_catches_acknowledging_in_snapshot(redis_url: str, tmp_path: Path) -> None:
    violations, _ = run_audited(redis_url, tmp_path, "unsafe")
    assert violations > 0
