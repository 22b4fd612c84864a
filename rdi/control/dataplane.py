"""What the data plane of a deployed pipeline consists of: one collector per source, the Bytewax processor.

:func:`plan_data_plane` turns a deployed pipeline into :class:`~rdi.control.supervisor.ChildSpec` s. Children
get everything through their environment (``RDI_DB_URL``, ``RDI_PIPELINE``, the decrypted secrets named as
their ``${NAME}`` references, ``RDI_METRICS_PORT``) — never a secret in argv. Each spec carries
``RDI_CONFIG_DIGEST``, a digest of exactly what that child depends on and cannot reload by itself:

* a collector — its ``sources.<name>`` section and the secrets: changing a source restarts only its collector;
* the processor — ``targets``, ``processors`` and the secrets, *not* the jobs: the processor reloads jobs
  itself at a batch boundary (:class:`operators.processing.JobReload`), so a jobs-only redeploy restarts nothing.

:func:`reset_sources` forgets where each collector was, so that it takes a new snapshot when started again.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import psycopg
import redis

from rdi import keys
from rdi.cli.processor import bytewax_command
from rdi.collectors.pg_replication import drop_slot
from rdi.collectors.settings import LEGACY_CAPTURE_SOURCE, MySqlCollectorSettings, PgCollectorSettings
from rdi.config import Pipeline
from rdi.control.supervisor import ChildSpec

__all__ = ["NATIVE_SOURCES", "ProcessorOptions", "plan_data_plane", "reset_sources"]

log = logging.getLogger("rdi.controller")

NATIVE_SOURCES = ("postgresql", "mysql", "mariadb")
"""Connection types with a collector of ours (``rdi collector``); other sources are fed from outside."""


@dataclass(frozen=True)
class ProcessorOptions:
    """How the processor runs: ``workers`` threads in each of ``processes`` processes (a cluster on
    ``127.0.0.1:cluster_port…`` when more than one); ``metrics_port`` as ``RDI_METRICS_PORT`` reads it."""

    workers: int = 1
    processes: int = 1
    cluster_port: int = 9400
    metrics_port: str = "9121"


def _digest(*parts: object) -> str:
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _flows_dir() -> str | None:
    """Where ``python -m bytewax.run flows.<flow>`` finds ``flows`` (the repository in a dev checkout)."""
    spec = importlib.util.find_spec("flows")
    if spec is None or spec.origin is None:
        return None
    return str(Path(spec.origin).resolve().parents[1])


def _collector(source: str, env: Mapping[str, str], digest: str) -> ChildSpec:
    """``rdi collector --source <source>``; ``digest`` changes when what it depends on does (then it restarts)."""
    return ChildSpec(
        name=f"collector-{source}",
        type="collector",
        command=(sys.executable, "-m", "rdi", "collector", "--source", source),
        env={**env, "RDI_CONFIG_DIGEST": digest},
    )


def plan_data_plane(
    pipeline: Pipeline,
    *,
    name: str,
    rdi_url: str,
    secrets: Mapping[str, str],
    processor: ProcessorOptions,
) -> list[ChildSpec]:
    """The children that run ``pipeline``: collectors (by source name order), then the processor's processes."""
    base = {"RDI_DB_URL": rdi_url, "RDI_PIPELINE": name, "RDI_PIPELINE_DIR": "", **secrets}
    secrets_digest = _digest(sorted(secrets.items()))
    specs = []
    # A capture tracks the write-behind jobs' key patterns: a deploy that changes them restarts it.
    captured = sorted(j.source.redis.model_dump_json() for j in pipeline.jobs.values() if j.source.redis is not None)
    for source, config in sorted(pipeline.config.sources.items()):
        kind = getattr(config.connection, "type", None)
        if not config.active or (kind not in NATIVE_SOURCES and not config.is_redis):
            continue
        digest = _digest(config.model_dump(mode="json"), secrets_digest, *(captured if config.is_redis else ()))
        specs.append(_collector(source, base, digest))
    if pipeline.write_behind and not pipeline.config.redis_sources:  # legacy form: capture the RDI DB itself
        specs.append(_collector(LEGACY_CAPTURE_SOURCE, base, _digest(secrets_digest, *captured)))
    targets = {k: v.model_dump(mode="json") for k, v in sorted(pipeline.config.targets.items())}
    processors = pipeline.config.processors.model_dump(mode="json")
    digest = _digest(targets, processors, secrets_digest, processor, pipeline.processor_flow)
    cluster = None
    if processor.processes > 1:
        cluster = ";".join(f"127.0.0.1:{processor.cluster_port + i}" for i in range(processor.processes))
    for i in range(processor.processes):
        command = bytewax_command(
            pipeline.processor_flow, workers=processor.workers, process_id=i if cluster else None, addresses=cluster
        )
        env = {**base, "RDI_CONFIG_DIGEST": digest, "RDI_METRICS_PORT": processor.metrics_port}
        if cluster:  # bytewax.run reads it as `-i` (and then wants `-a`)
            env["BYTEWAX_PROCESS_ID"] = str(i)
        specs.append(
            ChildSpec(
                name=f"processor-{i}",
                type="processor",
                command=tuple(command),
                env=env,
                cwd=_flows_dir(),
                group="processor",
            )
        )
    return specs


def reset_sources(client: redis.Redis, pipeline: Pipeline) -> list[str]:
    """Makes every native collector of ``pipeline`` start over with a new snapshot; returns the sources reset.

    Deletes each source's position (``metadata:debezium:offsets`` field, and the per-source tagged hash),
    its snapshot progress and status hashes; for PostgreSQL also drops the replication slot (terminating a
    walsender still using it), so the collector creates a new slot with an exported snapshot. The collectors
    must be stopped first. ``pipeline`` must have its secrets resolved (the slot is dropped as the source user).
    Raises ``psycopg.Error`` / ``redis.RedisError``; safe to repeat.
    """
    done = []
    for source, config in sorted(pipeline.config.sources.items()):
        kind = getattr(config.connection, "type", None)
        if kind not in NATIVE_SOURCES:
            continue
        settings: PgCollectorSettings | MySqlCollectorSettings
        if kind == "postgresql":
            settings = PgCollectorSettings.from_source(source, config)
            with psycopg.connect(
                host=settings.host, port=settings.port, dbname=settings.database, user=settings.user,
                password=settings.password, autocommit=True, connect_timeout=10,
            ) as conn:  # fmt: skip
                if drop_slot(conn, settings.slot, terminate_active=True):
                    log.info("reset %s: dropped replication slot `%s`", source, settings.slot)
        else:
            settings = MySqlCollectorSettings.from_source(source, config)
        pipe = client.pipeline(transaction=True)
        pipe.hdel(keys.DEBEZIUM_OFFSETS, keys.offset_field(settings.server_name))
        pipe.delete(keys.offset_key(settings.server_name))
        pipe.delete(keys.collector_snapshot(source), keys.collector_status(source))
        pipe.execute()
        log.info("reset %s: position and snapshot progress cleared; the collector takes a new snapshot", source)
        done.append(source)
    return done
