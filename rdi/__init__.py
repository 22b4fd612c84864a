"""rdi: Redis Data Integration, open source — the public API used by notebooks, tests and benchmarks.

Everything here is pure (no I/O): load a pipeline folder, decode Debezium events, run them through a job and
see the exact Redis commands it would send.

>>> from rdi import JobRouter, WriteDefaults, decode_event
>>> event = decode_event('{"id": 1}', '{"op": "c", "before": null, "after": {"id": 1, "name": "Ann"}, '
...                      '"source": {"name": "rdi", "db": "shop", "schema": "public", "table": "customers"}}')
>>> [list(c) for c in JobRouter({}, WriteDefaults()).apply([event])[0].outputs[0].commands]
[['HSET', 'customers:id:1', 'id', '1', 'name', 'Ann']]
"""

from __future__ import annotations

from rdi.config import Job, Pipeline, PipelineConfig, load_config_text, load_job_text, load_pipeline
from rdi.dry_run import dry_run, dry_run_pipeline, validate_pipeline
from rdi.errors import (
    BadRecordError,
    ConfigError,
    ConfigIssue,
    FatalError,
    RdiError,
    RetryableError,
    format_config_error,
)
from rdi.events import ChangeEvent, ColumnType, Record, decode_event, default_key, to_record
from rdi.expressions import Expression, ExpressionError, compile_expression
from rdi.jobs import CompiledJob, JobResult, JobRouter, Output
from rdi.writers.redis import Command, WriteDefaults, plan_write

__all__ = [
    "BadRecordError",
    "ChangeEvent",
    "ColumnType",
    "Command",
    "CompiledJob",
    "ConfigError",
    "ConfigIssue",
    "Expression",
    "ExpressionError",
    "FatalError",
    "Job",
    "JobResult",
    "JobRouter",
    "Output",
    "Pipeline",
    "PipelineConfig",
    "RdiError",
    "Record",
    "RetryableError",
    "WriteDefaults",
    "compile_expression",
    "decode_event",
    "default_key",
    "dry_run",
    "dry_run_pipeline",
    "format_config_error",
    "load_config_text",
    "load_job_text",
    "load_pipeline",
    "plan_write",
    "to_record",
    "validate_pipeline",
]
