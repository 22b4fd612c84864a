"""The control plane's view of the RDI DB: deployed pipelines, their desired state and their observed status.

One :class:`PipelineStore` per pipeline name. What it reads and writes (names in :mod:`rdi.keys`):

* ``rdi:pipeline:<name>:config`` — file path → file text, what :func:`rdi.runtime.deployed_files` reads;
* ``rdi:pipeline:<name>:meta`` — ``version`` (+1 per deploy), ``active`` (desired started/stopped), ``reset``
  (+1 per reset request), ``deployed_at_ms``, ``updated_at_ms``;
* ``rdi:pipelines`` — the set of deployed names;
* ``rdi:pipeline:<name>:status`` — written only by the leader controller (:func:`write_status`, fenced by the
  HA lock), read by everyone else.

A deploy writes the config and the meta in one MULTI/EXEC and :meth:`PipelineStore.deployed` reads both in one
MULTI, so a reader never pairs files of one version with the meta of another. Nothing here validates a pipeline:
callers load it with :func:`rdi.config.load_pipeline` first.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from importlib import metadata
from typing import Any

import redis

from rdi import keys
from rdi.errors import RdiError

__all__ = [
    "VERSION",
    "Component",
    "Deployed",
    "PipelineMeta",
    "PipelineNotFoundError",
    "PipelineStatus",
    "PipelineStore",
    "write_status",
]


def _package_version() -> str:
    try:
        return metadata.version("rdi")
    except metadata.PackageNotFoundError:
        return "0.0.0"


VERSION = _package_version()


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class PipelineNotFoundError(RdiError, LookupError):
    """No pipeline of that name is deployed; ``pipeline`` keeps the name."""

    def __init__(self, pipeline: str) -> None:
        self.pipeline = pipeline
        super().__init__(f"no pipeline `{pipeline}` is deployed")


@dataclass(frozen=True)
class PipelineMeta:
    """What the operator asked for: the deployed version, started or stopped, how many resets."""

    version: int
    active: bool
    reset: int
    deployed_at_ms: int
    updated_at_ms: int


@dataclass(frozen=True)
class Deployed:
    """A deployed pipeline's files (path → text) with the meta written in the same transaction."""

    meta: PipelineMeta
    files: dict[str, str]


@dataclass(frozen=True)
class Component:
    """One process of the data plane as the controller sees it."""

    name: str
    type: str  # collector | processor | controller
    status: str  # running | stopped | restarting | error
    pid: int | None = None
    restarts: int = 0
    message: str = ""
    version: str = VERSION


@dataclass(frozen=True)
class PipelineStatus:
    """What the leader controller observed; ``current`` is true when the data plane runs the deployed version."""

    status: str  # running | stopped | starting | resetting | error | pending
    status_changed_at: int
    errors: list[str]
    components: list[Component]
    current: bool
    observed_version: int
    observed_reset: int
    leader: str
    fencing_token: int
    updated_at_ms: int
    extra: dict[str, str] = field(default_factory=dict)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _decode(raw: Mapping[Any, Any]) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in raw.items()}


def _meta(raw: Mapping[str, str]) -> PipelineMeta:
    return PipelineMeta(
        version=int(raw.get("version", 0)),
        active=raw.get("active", "1") == "1",
        reset=int(raw.get("reset", 0)),
        deployed_at_ms=int(raw.get("deployed_at_ms", 0)),
        updated_at_ms=int(raw.get("updated_at_ms", 0)),
    )


# KEYS: config, meta; ARGV: field, value, now. Updates the meta of a deployed pipeline; nil when none is deployed.
_SET_META = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
if ARGV[1] == 'reset' then
  redis.call('HINCRBY', KEYS[2], 'reset', 1)
else
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
end
redis.call('HSET', KEYS[2], 'updated_at_ms', ARGV[3])
return redis.call('HGETALL', KEYS[2])
"""

# KEYS: HA lock, status; ARGV: holder, then field/value pairs. Writes only while the caller holds the lock.
_WRITE_STATUS = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], unpack(ARGV, 2))
return 1
"""


class PipelineStore:
    """Reads and writes one pipeline's deployment in the RDI DB (``client`` may decode responses or not).

    ``clock`` returns epoch milliseconds (a parameter so that tests can fix it).
    """

    def __init__(self, client: redis.Redis, name: str = "default", *, clock: Callable[[], int] = _now_ms) -> None:
        self.client = client
        self.name = name
        self._clock = clock

    def deploy(self, files: Mapping[str, str], *, active: bool = True) -> int:
        """Replaces the deployed files with ``files`` and bumps ``version``; returns the new version.

        Validates nothing (callers load the pipeline first). Atomic: files and meta change in one MULTI/EXEC.
        Raises ValueError when ``files`` is empty.
        """
        if not files:
            msg = f"cannot deploy pipeline `{self.name}` without files"
            raise ValueError(msg)
        now = str(self._clock())
        meta = keys.pipeline_meta(self.name)
        mapping: dict[Any, Any] = dict(files)
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(keys.pipeline_config(self.name))
        pipe.hset(keys.pipeline_config(self.name), mapping=mapping)
        pipe.hincrby(meta, "version", 1)
        pipe.hset(meta, mapping={"active": "1" if active else "0", "deployed_at_ms": now, "updated_at_ms": now})
        pipe.hsetnx(meta, "reset", "0")
        pipe.sadd(keys.pipelines_index(), self.name)
        results = pipe.execute()
        return int(results[2])

    def deployed(self) -> Deployed | None:
        """The deployed files and their meta, read in one MULTI; ``None`` when nothing is deployed.

        Files deployed without a meta (by an older rdi) come with version 0, active.
        """
        pipe = self.client.pipeline(transaction=True)
        pipe.hgetall(keys.pipeline_config(self.name))
        pipe.hgetall(keys.pipeline_meta(self.name))
        files, meta = pipe.execute()
        if not files:
            return None
        return Deployed(meta=_meta(_decode(meta)), files=_decode(files))

    def meta(self) -> PipelineMeta | None:
        """The meta of the deployed pipeline, or ``None`` when nothing is deployed."""
        deployed = self.deployed()
        return None if deployed is None else deployed.meta

    def set_active(self, active: bool) -> PipelineMeta:
        """Records whether the pipeline should run (persists across restarts); raises PipelineNotFoundError."""
        return self._set_meta("active", "1" if active else "0")

    def request_reset(self) -> PipelineMeta:
        """Asks the controller for a reset (re-snapshot) by bumping ``reset``; raises PipelineNotFoundError."""
        return self._set_meta("reset", "")

    def _set_meta(self, name: str, value: str) -> PipelineMeta:
        keys_ = [keys.pipeline_config(self.name), keys.pipeline_meta(self.name)]
        raw = self.client.eval(_SET_META, 2, *keys_, name, value, str(self._clock()))
        if not raw:
            raise PipelineNotFoundError(self.name)
        flat = [_text(v) for v in raw]
        return _meta(dict(zip(flat[::2], flat[1::2], strict=True)))

    def delete(self) -> None:
        """Removes the config, meta and status of the pipeline (its secrets stay). Idempotent."""
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(keys.pipeline_config(self.name), keys.pipeline_meta(self.name), keys.pipeline_status(self.name))
        pipe.srem(keys.pipelines_index(), self.name)
        pipe.execute()

    def status(self) -> PipelineStatus | None:
        """What the leader controller last wrote, or ``None`` when it wrote nothing yet."""
        raw = _decode(self.client.hgetall(keys.pipeline_status(self.name)))
        return None if not raw else _parse_status(raw)

    @staticmethod
    def names(client: redis.Redis) -> list[str]:
        """The names of the deployed pipelines, sorted."""
        return sorted(_text(n) for n in client.smembers(keys.pipelines_index()))


_STATUS_FIELDS = {
    "status",
    "status_changed_at",
    "errors",
    "components",
    "current",
    "observed_version",
    "observed_reset",
    "leader",
    "fencing_token",
    "updated_at_ms",
}


def _parse_status(raw: Mapping[str, str]) -> PipelineStatus:
    components = [Component(**c) for c in json.loads(raw.get("components") or "[]")]
    return PipelineStatus(
        status=raw.get("status", "pending"),
        status_changed_at=int(raw.get("status_changed_at", 0)),
        errors=list(json.loads(raw.get("errors") or "[]")),
        components=components,
        current=raw.get("current", "0") == "1",
        observed_version=int(raw.get("observed_version", 0)),
        observed_reset=int(raw.get("observed_reset", 0)),
        leader=raw.get("leader", ""),
        fencing_token=int(raw.get("fencing_token", 0)),
        updated_at_ms=int(raw.get("updated_at_ms", 0)),
        extra={k: v for k, v in raw.items() if k not in _STATUS_FIELDS},
    )


def _status_fields(status: PipelineStatus) -> dict[str, str]:
    fields = {
        "status": status.status,
        "status_changed_at": str(status.status_changed_at),
        "errors": json.dumps(status.errors),
        "components": json.dumps([asdict(c) for c in status.components]),
        "current": "1" if status.current else "0",
        "observed_version": str(status.observed_version),
        "observed_reset": str(status.observed_reset),
        "leader": status.leader,
        "fencing_token": str(status.fencing_token),
        "updated_at_ms": str(status.updated_at_ms),
    }
    return {**status.extra, **fields}


def write_status(client: redis.Redis, name: str, status: PipelineStatus, *, holder: str) -> bool:
    """Replaces the status of pipeline ``name`` if ``holder`` holds the HA lock (``rdi:ha:lock``).

    Returns False, writing nothing, when another instance (or nobody) holds it: a deposed leader cannot
    overwrite its successor's status. The check and the write are one Lua script.
    """
    flat = [item for pair in _status_fields(status).items() for item in pair]
    written = client.eval(_WRITE_STATUS, 2, keys.HA_LOCK, keys.pipeline_status(name), holder, *flat)
    return bool(written)
