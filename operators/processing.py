"""The Bytewax step between the staging input and the target output: a batch through the pipeline's jobs."""

from __future__ import annotations

from typing import Any

from rdi.connections import TargetConnections
from rdi.processor import ProcessedBatch, Processor, StreamBatch
from rdi.stream_schema import StreamTypes

__all__ = ["BatchProcessing"]


class BatchProcessing:
    """``op.map`` callable: decodes with the stream's column types, runs the jobs (lookups against the targets)."""

    def __init__(self, processor: Processor, types: StreamTypes, targets: TargetConnections) -> None:
        self.processor = processor
        self.types = types
        self.targets = targets

    def _lookup(self, connection: str, command: tuple[str, ...]) -> Any:
        return self.targets.lookup(connection, command)

    def __call__(self, batch: StreamBatch) -> ProcessedBatch:
        return self.processor.process(batch, types=self.types.get(batch.stream), lookup=self._lookup)
