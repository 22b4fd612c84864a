"""Pipeline configuration: `config.yaml` and job files as validated models, loaded with located issues."""

from __future__ import annotations

from rdi.config.job import Job, JobSource
from rdi.config.load import load_config_text, load_job_text, load_pipeline, parse_config, parse_job
from rdi.config.pipeline import (
    Metadata,
    Pipeline,
    PipelineConfig,
    PipelineProblem,
    SecretProvider,
    json_schema,
)
from rdi.config.processors import Processors
from rdi.config.secrets import SecretStore, resolve_references
from rdi.config.sources import Source
from rdi.config.targets import CassandraConnection, RedisConnection, SqlConnection, Target

__all__ = [
    "CassandraConnection",
    "Job",
    "JobSource",
    "Metadata",
    "Pipeline",
    "PipelineConfig",
    "PipelineProblem",
    "Processors",
    "RedisConnection",
    "SecretProvider",
    "SecretStore",
    "Source",
    "SqlConnection",
    "Target",
    "json_schema",
    "load_config_text",
    "load_job_text",
    "load_pipeline",
    "parse_config",
    "parse_job",
    "resolve_references",
]
