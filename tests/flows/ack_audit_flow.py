"""``flows.ingest`` with an acknowledgement audit, for tests/flows/test_ack_invariant.py.

The output's writes are slowed down, and every acknowledgement first checks that each entry it acknowledges
is already in the target (the key its producer recorded in ``audit:keys``); an entry acknowledged before its
write increments ``audit:violations``. With ``AUDIT_VARIANT=unsafe`` the input acknowledges in ``snapshot()`` —
what DESIGN §5 forbids — and the audit must catch it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import bytewax.operators as op
import redis
from bytewax.dataflow import Dataflow

from operators.ingest import ingest_parts
from rdi.processor import ProcessedBatch, StreamBatch

AUDIT_KEYS = "audit:keys"
VIOLATIONS = "audit:violations"
ACKED = "audit:acked"

parts = ingest_parts()
audit = redis.Redis.from_url(parts.settings.rdi_url)
group = parts.settings.group


def check_then_ack(stream: str, ids: Sequence[bytes], ack: bool) -> None:
    keys = audit.hmget(AUDIT_KEYS, list(ids))
    missing = sum(1 for key in keys if key is None or not audit.exists(key))
    if missing:
        audit.incrby(VIOLATIONS, missing)
    audit.incrby(ACKED, len(ids))
    if ack:
        audit.xack(stream, group, *ids)


def audited_sink_partition(partition: Any) -> Any:
    write = partition.write_batch
    acknowledge = partition._acknowledge

    def slow_write(items: list[ProcessedBatch]) -> None:
        time.sleep(0.05)
        write(items)

    def audited_acknowledge(items: Sequence[ProcessedBatch]) -> None:
        for item in items:
            check_then_ack(item.stream, item.ids, ack=False)
        acknowledge(items)

    partition.write_batch = slow_write
    partition._acknowledge = audited_acknowledge
    return partition


def unsafe_source_partition(partition: Any) -> Any:
    next_batch = partition.next_batch
    read: list[StreamBatch] = []

    def remembering_next_batch() -> list[StreamBatch]:
        batches: list[StreamBatch] = next_batch()
        read.extend(batches)
        return batches

    def acknowledging_snapshot() -> None:  # the mistake: the epoch's entries have not reached the output yet
        for batch in read:
            check_then_ack(batch.stream, batch.ids, ack=True)
        read.clear()

    partition.next_batch = remembering_next_batch
    partition.snapshot = acknowledging_snapshot
    return partition


sink_build = parts.sink.build
parts.sink.build = lambda *args: audited_sink_partition(sink_build(*args))  # type: ignore[method-assign]
if os.environ.get("AUDIT_VARIANT") == "unsafe":
    source_build = parts.source.build_part
    parts.source.build_part = lambda *args: unsafe_source_partition(source_build(*args))  # type: ignore[method-assign]

flow = Dataflow("rdi-ingest-audit")
batches = op.input("staging", flow, parts.source)
processed = op.map("jobs", batches, parts.processing)
op.output("target", processed, parts.sink)
