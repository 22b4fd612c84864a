"""What a running processor takes from its environment: the RDI DB, the pipeline, ports (DESIGN §5).

``python -m bytewax.run flows.ingest`` has no options of ours, so everything comes from environment variables
(the same ones ``rdi processor`` sets, the Kubernetes chart sets, and waxctl would pass through):

* ``RDI_DB_URL`` — the RDI database (default ``redis://localhost:6379/0``), or ``RDI_DB_URL_FILE`` — a file
  holding it (a mounted Kubernetes Secret: the password stays out of the pod spec and ``/proc/<pid>/environ``);
* ``RDI_PIPELINE_DIR`` — a pipeline folder; without it, the pipeline deployed in the RDI DB
  (hash ``rdi:pipeline:<name>:config``: field = file path relative to the folder, value = file text);
* ``RDI_PIPELINE`` — the pipeline's name (default ``default``): names its consumer group and deployed config;
* ``RDI_SECRETS_DIR`` — files holding ``${NAME}`` secrets (else the environment);
* ``RDI_METRICS_PORT`` (default 9121; ``0`` picks a free port, ``off`` disables) and ``RDI_METRICS_ADDR``
  (default ``0.0.0.0``) — the Prometheus endpoint; process ``i`` of a cluster listens on port + ``i``;
* ``RDI_PROCESSOR_PARTITIONS`` (default 8) — stream buckets spread over the Bytewax workers.

The cluster itself is Bytewax's contract (the one its Helm chart and waxctl use, read by ``bytewax.run``):
``BYTEWAX_WORKERS_PER_PROCESS``, ``BYTEWAX_PROCESS_ID`` + ``BYTEWAX_ADDRESSES``, or on Kubernetes
``BYTEWAX_POD_NAME`` + ``BYTEWAX_STATEFULSET_NAME`` (the process id is the pod's ordinal) + ``BYTEWAX_HOSTFILE_PATH``
(one address per line); :func:`process_index` reads the process id the same way.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import redis

from rdi import keys
from rdi.config import Pipeline, load_pipeline
from rdi.errors import ConfigError, ConfigIssue

__all__ = [
    "DEFAULT_RDI_URL",
    "ProcessorSettings",
    "deployed_files",
    "load_runtime_pipeline",
    "pipeline_from_files",
    "process_index",
    "rdi_url_from_env",
]

DEFAULT_RDI_URL = "redis://localhost:6379/0"
_DEFAULT_METRICS_PORT = 9121


@dataclass(frozen=True, slots=True)
class ProcessorSettings:
    rdi_url: str = DEFAULT_RDI_URL
    pipeline_dir: Path | None = None
    pipeline: str = "default"
    secrets_dir: Path | None = None
    metrics_port: int | None = _DEFAULT_METRICS_PORT
    metrics_addr: str = "0.0.0.0"
    partitions: int = 8

    @property
    def group(self) -> str:
        return keys.consumer_group(self.pipeline)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ProcessorSettings:
        """Reads the variables of the module docstring; raises ConfigError naming the variable on a bad value."""
        env = os.environ if env is None else env
        directory = env.get("RDI_PIPELINE_DIR") or None
        secrets = env.get("RDI_SECRETS_DIR") or None
        port_text = env.get("RDI_METRICS_PORT", str(_DEFAULT_METRICS_PORT)).strip().lower()
        port: int | None
        if port_text in ("off", "none", "false", "-1", ""):
            port = None
        else:
            port = _int(env, "RDI_METRICS_PORT", port_text, 0, 65535)
            if port:
                port += _int(env, "BYTEWAX_PROCESS_ID", env.get("BYTEWAX_PROCESS_ID", "0"), 0, 65535)
        return cls(
            rdi_url=rdi_url_from_env(env),
            pipeline_dir=Path(directory) if directory else None,
            pipeline=env.get("RDI_PIPELINE") or "default",
            secrets_dir=Path(secrets) if secrets else None,
            metrics_port=port,
            metrics_addr=env.get("RDI_METRICS_ADDR") or "0.0.0.0",
            partitions=_int(env, "RDI_PROCESSOR_PARTITIONS", env.get("RDI_PROCESSOR_PARTITIONS", "8"), 1, 4096),
        )


def rdi_url_from_env(env: Mapping[str, str] | None = None) -> str:
    """``RDI_DB_URL``, else the first line of the file ``RDI_DB_URL_FILE``, else :data:`DEFAULT_RDI_URL`.

    Raises ConfigError naming ``RDI_DB_URL_FILE`` when that file cannot be read or is empty.
    """
    env = os.environ if env is None else env
    if env.get("RDI_DB_URL"):
        return env["RDI_DB_URL"]
    path = env.get("RDI_DB_URL_FILE")
    if not path:
        return DEFAULT_RDI_URL
    try:
        url = Path(path).read_text().strip()
    except OSError as exc:
        raise ConfigError([ConfigIssue("RDI_DB_URL_FILE", 0, "", f"cannot read {path}: {exc.strerror}")]) from None
    if not url:
        raise ConfigError([ConfigIssue("RDI_DB_URL_FILE", 0, "", f"{path} is empty; put the RDI DB URL in it")])
    return url


def process_index(env: Mapping[str, str] | None = None) -> int:
    """This process's index in the Bytewax cluster, found as ``bytewax.run`` finds it: ``BYTEWAX_PROCESS_ID``,
    else the ordinal of ``BYTEWAX_POD_NAME`` in the StatefulSet ``BYTEWAX_STATEFULSET_NAME``, else 0.

    Raises ConfigError naming the variable when the value is not a process index.
    """
    env = os.environ if env is None else env
    if env.get("BYTEWAX_PROCESS_ID"):
        return _int(env, "BYTEWAX_PROCESS_ID", env["BYTEWAX_PROCESS_ID"], 0, 65535)
    pod, statefulset = env.get("BYTEWAX_POD_NAME"), env.get("BYTEWAX_STATEFULSET_NAME")
    if pod and statefulset:
        prefix = statefulset + "-"
        if not pod.startswith(prefix):
            message = f"must be `{prefix}<ordinal>` (BYTEWAX_STATEFULSET_NAME={statefulset!r}), got {pod!r}"
            raise ConfigError([ConfigIssue("BYTEWAX_POD_NAME", 0, "", message)])
        return _int(env, "BYTEWAX_POD_NAME", pod.removeprefix(prefix), 0, 65535)
    return 0


def _int(env: Mapping[str, str], name: str, text: str, low: int, high: int) -> int:
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ConfigError([ConfigIssue(name, 0, "", f"must be a whole number from {low} to {high}, got {text!r}")])
    return value


def deployed_files(client: redis.Redis, pipeline: str = "default") -> dict[str, str] | None:
    """The files of the pipeline deployed in the RDI DB (path → text), or ``None`` when none is deployed."""
    raw = client.hgetall(keys.pipeline_config(pipeline))
    if not raw:
        return None
    return {_text(k): _text(v) for k, v in raw.items()}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def load_runtime_pipeline(settings: ProcessorSettings) -> Pipeline:
    """The pipeline the settings name: the folder, else the one deployed in the RDI DB.

    Raises ConfigError (with located issues) for an invalid pipeline or when there is none to run.
    """
    if settings.pipeline_dir is not None:
        return load_pipeline(settings.pipeline_dir, secrets_dir=settings.secrets_dir)
    client = redis.Redis.from_url(settings.rdi_url)
    try:
        files = deployed_files(client, settings.pipeline)
    finally:
        client.close()
    if files is None:
        message = f"no pipeline `{settings.pipeline}` deployed in the RDI DB; set RDI_PIPELINE_DIR or deploy one"
        raise ConfigError([ConfigIssue("RDI_PIPELINE_DIR", 0, "", message)])
    return pipeline_from_files(files, secrets_dir=settings.secrets_dir)


def pipeline_from_files(
    files: Mapping[str, str],
    *,
    secrets_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
    resolve_secrets: bool = True,
) -> Pipeline:
    """Loads deployed files (path relative to the pipeline folder → text) as :func:`load_pipeline` loads a folder.

    Raises ConfigError (with located issues) for an invalid pipeline or a path that leaves the folder.
    """
    with tempfile.TemporaryDirectory(prefix="rdi-pipeline-") as tmp:
        for relative, text in files.items():
            path = Path(tmp, relative).resolve()
            if not path.is_relative_to(Path(tmp).resolve()):
                raise ConfigError([ConfigIssue(relative, 0, "", "deployed file path leaves the pipeline folder")])
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        return load_pipeline(tmp, secrets_dir=secrets_dir, env=env, resolve_secrets=resolve_secrets)
