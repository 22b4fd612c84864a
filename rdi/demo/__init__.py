"""The demo: a PostgreSQL shop database kept in Redis by the real collector and processor (`rdi demo`).

* :mod:`rdi.demo.services` — embedded PostgreSQL and Valkey (+ RedisJSON) as child processes, no root needed;
* :mod:`rdi.demo.shop` — the sample schema, its seed data and a stream of random changes;
* :mod:`rdi.demo.progress` — what the demo prints: snapshot and live progress read from the RDI database;
* :mod:`rdi.demo.live` — the whole demo: services, collector, processor, changes, until Ctrl-C;
* ``pipeline/`` — the demo's pipeline (config.yaml + jobs), ``events.json`` — sample events for the offline run.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEMO_DIR", "PIPELINE_DIR"]

DEMO_DIR = Path(__file__).resolve().parent
PIPELINE_DIR = DEMO_DIR / "pipeline"
