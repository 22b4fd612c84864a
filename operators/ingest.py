"""The parts of the processor's dataflows, built from the processor's settings: ``flows/ingest.py`` (staging
streams ``data:*`` → targets) and ``flows/write_behind.py`` (the Redis capture's streams ``wb:*`` → SQL and Redis
targets) wire the same parts; only the streams they read differ."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from urllib.parse import urlsplit

import redis

from operators.processing import BatchProcessing, JobReload
from operators.staging_source import StagingSource
from operators.target_sink import TargetSink
from rdi import keys
from rdi.config import Pipeline
from rdi.connections import TargetConnections
from rdi.control.store import PipelineStore
from rdi.errors import ConfigError, ConfigIssue
from rdi.metrics import MetricsServer, ProcessorMetrics, StreamMonitor, serve_metrics
from rdi.processor import ProcessedBatch, Processor
from rdi.runtime import ProcessorSettings, load_runtime_pipeline, pipeline_from_files, process_index
from rdi.stream_schema import StreamTypes

__all__ = ["IngestParts", "ingest_parts", "write_behind_parts"]

log = logging.getLogger("rdi.processor")


@dataclass
class IngestParts:
    settings: ProcessorSettings
    pipeline: Pipeline
    source: StagingSource
    processing: BatchProcessing
    sink: TargetSink
    metrics: ProcessorMetrics
    server: MetricsServer | None
    monitor: StreamMonitor


def _fail(message: str) -> SystemExit:
    print(f"rdi processor: {message}", file=sys.stderr)
    return SystemExit(2)


def _safe_url(url: str) -> str:
    """``url`` without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


def ingest_parts(settings: ProcessorSettings | None = None) -> IngestParts:
    """The ingest dataflow's parts: staging streams (``processors`` stream pattern, default ``data:*``)."""
    return _parts(settings, write_behind=False)


def write_behind_parts(settings: ProcessorSettings | None = None) -> IngestParts:
    """The write-behind dataflow's parts: the capture's streams (``wb:*``, see ``rdi.keys.write_behind_stream``)."""
    return _parts(settings, write_behind=True)


def _parts(settings: ProcessorSettings | None, *, write_behind: bool) -> IngestParts:
    """Loads the pipeline and builds input, job step and output; starts the metrics endpoint.

    ``settings`` default to the environment's (:meth:`ProcessorSettings.from_env`).
    A user mistake (invalid pipeline, bad setting, unreachable RDI DB) ends the process with one line per
    problem on stderr and exit status 2 — never a traceback.
    """
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    version: int | None = None
    try:
        settings = settings or ProcessorSettings.from_env()
        process_id = str(process_index())
        if settings.pipeline_dir is None:
            pipeline, version = _deployed_pipeline(settings)
        else:
            pipeline = load_runtime_pipeline(settings)
    except ConfigError as exc:
        for issue in exc.issues:
            print(str(issue).lstrip(": "), file=sys.stderr)
        raise _fail("the pipeline is not valid; fix the problems above") from None
    except redis.RedisError as exc:
        raise _fail(f"cannot read the pipeline from the RDI DB: {exc}") from None
    processors = pipeline.config.processors
    metrics = ProcessorMetrics()
    metrics.set_engine_state("RUNNING", "STREAMING")
    pattern = keys.WB_STREAM_PATTERN if write_behind else processors.effective_stream_pattern
    source = StagingSource(
        settings.rdi_url,
        settings.group,
        pattern=pattern,
        read_batch_size=processors.effective_read_batch_size,
        read_batch_timeout_ms=processors.effective_read_batch_timeout_ms,
        discovery_interval_s=processors.effective_discovery_interval_ms / 1000.0,
        partitions=settings.partitions,
    )
    server = None
    if settings.metrics_port is not None:
        try:
            server = serve_metrics(metrics, settings.metrics_port, settings.metrics_addr, ready=source.health.ready)
        except OSError as exc:
            raise _fail(f"metrics port {settings.metrics_port}: {exc.strerror}; set RDI_METRICS_PORT") from None
        log.info("metrics on http://%s:%d/metrics (/healthz, /readyz)", settings.metrics_addr, server.port)
    rdi_client = redis.Redis.from_url(settings.rdi_url)
    try:
        rdi_client.ping()
    except redis.AuthenticationError as exc:
        raise _fail(f"the RDI DB refused the login ({exc}); check the user and password of RDI_DB_URL") from None
    except redis.RedisError as exc:
        raise _fail(f"cannot reach the RDI DB at {_safe_url(settings.rdi_url)}: {exc}") from None
    monitor = StreamMonitor(rdi_client, settings.group, metrics, pattern=pattern)
    monitor.start()

    def observed(batch: ProcessedBatch, write_ms: float, ack_ms: float) -> None:
        metrics.observe_batch(batch, write_ms=write_ms, ack_ms=ack_ms)

    targets = TargetConnections(pipeline.config.targets)
    processor = Processor(pipeline)
    reload = None
    if version is not None:  # deployed in the RDI DB: follow redeploys (zero-downtime)
        reload = JobReload(rdi_client, settings.pipeline, pipeline, processor, version, process_id=process_id,
                           secrets_dir=settings.secrets_dir)  # fmt: skip
        reload.publish()
        reload.start()
    return IngestParts(
        settings=settings,
        pipeline=pipeline,
        source=source,
        processing=BatchProcessing(processor, StreamTypes(rdi_client), targets, reload=reload),
        sink=TargetSink(settings.rdi_url, settings.group, pipeline.config.targets, processors, on_batch=observed),
        metrics=metrics,
        server=server,
        monitor=monitor,
    )


def _deployed_pipeline(settings: ProcessorSettings) -> tuple[Pipeline, int]:
    """The pipeline deployed in the RDI DB and its version, read together (one MULTI)."""
    client = redis.Redis.from_url(settings.rdi_url)
    try:
        deployed = PipelineStore(client, settings.pipeline).deployed()
    finally:
        client.close()
    if deployed is None:
        message = f"no pipeline `{settings.pipeline}` deployed in the RDI DB; set RDI_PIPELINE_DIR or deploy one"
        raise ConfigError([ConfigIssue("RDI_PIPELINE_DIR", 0, "", message)])
    return pipeline_from_files(deployed.files, secrets_dir=settings.secrets_dir), deployed.meta.version
