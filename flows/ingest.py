"""Ingest: staging streams in the RDI DB → the pipeline's jobs → the target Redis (DESIGN §3).

Run with ``python -m bytewax.run flows.ingest`` (``-w``/``-i``/``-a`` scale it; no ``-r``: positions are the
consumer group's acknowledged entries, and the output acknowledges only after its writes). Settings come
from the environment: see :mod:`rdi.runtime`.
"""

from __future__ import annotations

import bytewax.operators as op
from bytewax.dataflow import Dataflow

from operators.ingest import ingest_parts

parts = ingest_parts()
flow = Dataflow("rdi-ingest")
batches = op.input("staging", flow, parts.source)
processed = op.map("jobs", batches, parts.processing)
op.output("target", processed, parts.sink)
