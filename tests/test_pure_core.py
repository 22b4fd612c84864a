"""The core (config, expressions, events, transforms, writer plans, jobs) imports no I/O or engine package."""

from __future__ import annotations

import subprocess
import sys

BLOCKED = ("bytewax", "redis", "sqlalchemy", "psycopg", "fastapi", "typer", "pymysql")
CORE = ("rdi.config", "rdi.expressions", "rdi.events", "rdi.transforms", "rdi.writers.redis", "rdi.jobs",
        "rdi.writers.sql", "rdi.keys", "rdi.scaffold", "rdi.errors", "rdi.writers.nest", "rdi.collectors.debezium",
        "rdi.dry_run", "rdi.collectors.redis_commands", "rdi.collectors.settings")  # fmt: skip

PROBE = f"""
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] in {BLOCKED!r}:
            raise ImportError('blocked: ' + name)
sys.meta_path.insert(0, Block())
for module in {CORE!r}:
    __import__(module)
print('ok')
"""


def test_core_imports_without_engine_or_driver_packages() -> None:
    run = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=False)
    assert (run.returncode, run.stdout.strip(), run.stderr.strip()[-300:]) == (0, "ok", "")
