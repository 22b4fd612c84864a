"""Write-behind: the Redis capture's streams in the RDI DB → the pipeline's jobs → SQL (and Redis) targets
(DESIGN §4).

Run with ``python -m bytewax.run flows.write_behind`` (``-w``/``-i``/``-a`` scale it; no ``-r``: positions are
the consumer group's acknowledged entries, and the output acknowledges only after the target's transaction
committed). Settings come from the environment: see :mod:`rdi.runtime`.
"""

from __future__ import annotations

import bytewax.operators as op
from bytewax.dataflow import Dataflow

from operators.ingest import write_behind_parts

parts = write_behind_parts()
flow = Dataflow("rdi-write-behind")
batches = op.input("staging", flow, parts.source)
processed = op.map("jobs", batches, parts.processing)
op.output("target", processed, parts.sink)
