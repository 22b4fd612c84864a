"""The Bytewax step between the staging input and the target output: a batch through the pipeline's jobs."""

from __future__ import annotations

from rdi.connections import TargetConnections
from rdi.processor import ProcessedBatch, Processor, StreamBatch
from rdi.stream_schema import StreamTypes

__all__ = ["BatchProcessing"]


class BatchProcessing:
    """``op.map`` callable: decodes with the stream's column types, runs the jobs; a batch's `redis.lookup`
    commands go to the targets together, one pipeline per connection for each wave of lookups (`Processor.process`)."""

    def __init__(self, processor: Processor, types: StreamTypes, targets: TargetConnections) -> None:
        self.processor = processor
        self.types = types
        self.targets = targets

    def __call__(self, batch: StreamBatch) -> ProcessedBatch:
        return self.processor.process(batch, types=self.types.get(batch.stream), lookup=self.targets.lookup_batch)
