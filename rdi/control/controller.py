"""`rdi controller`: makes the running data plane match the pipeline deployed in the RDI DB (DESIGN §2).

Every ``interval_s`` the leader reads the deployment (files + meta in one MULTI) and reconciles:

* nothing deployed → nothing runs (phase ``Pending``); ``meta.active`` false → collectors and processor are
  stopped (``Inactive``, status ``stopped``) — persisted in the RDI DB, so it survives controller restarts;
* ``meta.reset`` above the reset last carried out → status ``resetting``: collectors stopped, their positions,
  snapshot progress and (PostgreSQL) replication slot dropped, ``observed_reset`` recorded, collectors started
  again — they take a new snapshot;
* otherwise the children of :func:`~rdi.control.dataplane.plan_data_plane` run, restarted with backoff when
  they die (:class:`~rdi.control.supervisor.Supervisor`); a redeploy restarts only what it changed;
* an invalid deployment (it should have been refused at deploy) keeps what runs and reports ``error``.

Status goes to ``rdi:pipeline:<name>:status`` through :func:`~rdi.control.store.write_status`, which refuses a
writer that no longer holds the lease. HA: controllers compete for the :class:`~rdi.control.lease.Lease`
(renewed by a thread of its own, so a slow stop cannot let it lapse); only the leader runs the data plane;
a leader whose lease ran out (another instance holds it, or the RDI DB is unreachable) SIGKILLs its data
plane at once — before anyone else can acquire it. Metrics: ``rdi_operator_pipeline_phase{namespace,name,phase}``
and ``rdi_operator_is_leader{instance_id}`` (rdi-compat-spec §5.5).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

import psycopg
import redis
from prometheus_client import CollectorRegistry, Gauge, generate_latest

from rdi import keys
from rdi.config import Pipeline
from rdi.control.dataplane import ProcessorOptions, plan_data_plane, reset_sources
from rdi.control.lease import Lease
from rdi.control.store import Component, Deployed, PipelineStatus, PipelineStore, write_status
from rdi.control.supervisor import ChildSpec, Supervisor
from rdi.errors import ConfigError, RdiError
from rdi.runtime import pipeline_from_files

__all__ = ["PHASES", "Controller", "ControllerMetrics", "ControllerOptions", "Phase"]

log = logging.getLogger("rdi.controller")

Phase: TypeAlias = Literal["Active", "Inactive", "Pending", "Resetting", "Error"]
PHASES: tuple[Phase, ...] = ("Active", "Inactive", "Pending", "Resetting", "Error")

_RESET_RETRY_S = 5.0


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class ControllerMetrics:
    """The operator's metrics, with RDI's names; :meth:`render` gives the Prometheus text."""

    def __init__(self, namespace: str, pipeline: str, instance_id: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.namespace, self.pipeline, self.instance_id = namespace, pipeline, instance_id
        self.phase = Gauge(
            "rdi_operator_pipeline_phase",
            "1 for the pipeline's current phase (Active, Inactive, Pending, Resetting, Error), 0 for the others.",
            ["namespace", "name", "phase"],
            registry=self.registry,
        )
        self.leader = Gauge(
            "rdi_operator_is_leader", "1 while this controller holds the HA lease.", ["instance_id"],
            registry=self.registry,
        )  # fmt: skip
        self.set_leader(False)

    def set_phase(self, phase: Phase | None) -> None:
        """Marks ``phase`` current (``None``: a follower reports no phase: every one is 0)."""
        for name in PHASES:
            self.phase.labels(self.namespace, self.pipeline, name).set(1 if name == phase else 0)

    def set_leader(self, leader: bool) -> None:
        self.leader.labels(self.instance_id).set(1 if leader else 0)

    def render(self) -> bytes:
        return generate_latest(self.registry)


@dataclass(frozen=True)
class ControllerOptions:
    rdi_url: str
    instance_id: str
    pipeline: str = "default"
    lease_ttl_ms: int = 10_000
    interval_s: float = 0.5
    error_after_s: float = 120.0
    namespace: str = "rdi"
    processor: ProcessorOptions = field(default_factory=ProcessorOptions)
    external_data_plane: bool = False
    """True where something else runs the collectors and the processor (the Kubernetes chart's Deployments and
    StatefulSet): the leader then only holds the lease, follows the deployment and publishes status and metrics
    (the version the processes report applied); it starts no child and refuses resets (it cannot stop the
    collectors first)."""


class _LeaseKeeper(threading.Thread):
    """Acquires the lease while follower, renews it (every third of the TTL) while leader."""

    def __init__(self, lease: Lease) -> None:
        super().__init__(name="rdi-lease", daemon=True)
        self.lease = lease
        self.stopping = threading.Event()
        self.last_ok = time.monotonic()
        self._failing = False

    def run(self) -> None:
        ttl_s = self.lease.ttl_ms / 1000.0
        while not self.stopping.is_set():
            try:
                if self.lease.held():
                    if not self.lease.renew():
                        log.error("lease lost: `%s` holds it now", self.lease.holder())
                elif self.lease.acquire():
                    log.info("leader now (fencing token %d)", self.lease.token)
                self.last_ok = time.monotonic()
                if self._failing:
                    log.info("the RDI DB answers again")
                self._failing = False
            except redis.RedisError as exc:
                if not self._failing:
                    log.error("cannot reach the RDI DB for the lease: %s", exc)
                self._failing = True
            self.stopping.wait(ttl_s / 3 if self.lease.held() else min(ttl_s / 5, 1.0))


class Controller:
    """Reconciles one pipeline; :meth:`run` loops until ``stop`` is set (see the module docstring).

    ``secrets`` gives the decrypted ``${NAME}`` values for the children's environments (read every round, so
    a rotated secret restarts the children that use it).
    """

    def __init__(
        self,
        client: redis.Redis,
        options: ControllerOptions,
        *,
        secrets: Callable[[], Mapping[str, str]] = dict,
        supervisor: Supervisor | None = None,
    ) -> None:
        self.client = client
        self.options = options
        self.store = PipelineStore(client, options.pipeline)
        self.lease = Lease(client, options.instance_id, options.lease_ttl_ms)
        self.supervisor = supervisor or Supervisor()
        self.metrics = ControllerMetrics(options.namespace, options.pipeline, options.instance_id)
        self._secrets = secrets
        self._keeper = _LeaseKeeper(self.lease)
        self.leading = False
        self.observed_reset = 0
        self.observed_version = 0
        self._plan: list[ChildSpec] | None = None
        self._planned: tuple[int, str] | None = None
        self._errors: list[str] = []
        self._errors_of_plan: list[str] = []
        self._status = ""
        self._status_changed_at = 0
        self._reset_retry_at = 0.0

    def ready(self) -> bool:
        """Healthy leader or standby: the lease thread reached the RDI DB within the lease TTL."""
        return time.monotonic() - self._keeper.last_ok < self.options.lease_ttl_ms / 1000.0

    def run(self, stop: threading.Event) -> None:
        """Runs until ``stop`` is set; then stops the data plane (by PID) and hands the lease over."""
        self._keeper.start()
        try:
            while not stop.is_set():
                try:
                    self.step()
                except Exception:  # the loop is the boundary: a bug in one round must not end the data plane
                    log.exception("reconcile round failed; trying again")
                stop.wait(self.options.interval_s)
        finally:
            self._keeper.stopping.set()
            self._keeper.join()
            self.supervisor.stop_all()
            if self.leading:
                try:
                    self.lease.release()
                    log.info("data plane stopped; lease released")
                except redis.RedisError as exc:
                    log.warning("cannot release the lease (it expires by itself): %s", exc)

    def step(self) -> None:
        """One round: follow the lease, then (leader only) reconcile and supervise."""
        held = self.lease.held()
        self.metrics.set_leader(held)
        if not held:
            if self.leading:
                self._depose("the lease ran out (another instance holds it, or the RDI DB is unreachable)")
            return
        try:
            if not self.leading:
                self._take_over()
            self._reconcile()
        except redis.RedisError as exc:
            log.warning("cannot reach the RDI DB: %s", exc)
        if self.leading:
            self.supervisor.poll()

    def _take_over(self) -> None:
        status = self.store.status()
        meta = self.store.meta()
        # Resets already carried out (by an earlier leader), so that a new leader does not repeat one.
        self.observed_reset = status.observed_reset if status is not None else (meta.reset if meta else 0)
        self.leading = True
        self._status = ""
        what = "following the external data plane" if self.options.external_data_plane else "running the data plane"
        log.info("%s of `%s` (fencing token %d)", what, self.options.pipeline, self.lease.token)

    def _depose(self, why: str) -> None:
        self.supervisor.kill_all()
        self.leading = False
        self._plan, self._planned = None, None
        self.metrics.set_phase(None)
        self.metrics.set_leader(False)
        log.error("%s: data plane killed (self-fencing)", why)

    def _reconcile(self) -> None:
        deployed = self.store.deployed()
        if deployed is None:
            self.observed_reset = 0  # a pipeline deployed again starts counting resets from 0
            self.supervisor.stop_all()
            self.client.delete(keys.processor_applied(self.options.pipeline))
            self._publish("pending", "Pending", deployed)
            return
        meta = deployed.meta
        if not meta.active:
            self.supervisor.stop_all()
            self.observed_version = meta.version
            self._publish("stopped", "Inactive", deployed)
            return
        try:
            secrets = dict(self._secrets())
        except RdiError as exc:  # e.g. secrets stored with another key
            self._errors = [str(exc)]
            self._publish("error", "Error", deployed)
            return
        if not self._replan(deployed, secrets) or self._plan is None:
            self._publish("error", "Error", deployed)
            return
        if self.options.external_data_plane:
            self._observe_external(deployed)
            return
        if meta.reset > self.observed_reset and not self._reset(deployed, secrets):
            if self.leading:
                self._publish("error", "Error", deployed)
            return
        self.supervisor.apply(self._plan)
        self._observe_version()
        children = self.supervisor.children.values()
        # RDI: phase Error once a deployment has been unavailable for 2 minutes (or a child refused its config).
        down = {id(c) for c in self.supervisor.failing(self.options.error_after_s)}
        failed = [f"{c.spec.name}: {c.message}" for c in children if c.status == "error" or id(c) in down]
        self._errors = failed
        if failed:
            self._publish("error", "Error", deployed)
        elif all(c.status == "running" for c in children) and self.observed_version == meta.version:
            self._publish("running", "Active", deployed)
        else:
            self._publish("starting", "Active", deployed)

    def _replan(self, deployed: Deployed, secrets: dict[str, str]) -> bool:
        """Loads a newly deployed version (or new secrets) into :attr:`_plan`; False when it does not load."""
        digest = hashlib.sha256(repr(sorted(secrets.items())).encode()).hexdigest()
        key = (deployed.meta.version, digest)
        if key == self._planned:
            return not self._errors_of_plan
        self._planned = key
        try:
            pipeline = self._load(deployed, secrets, resolve=False)
        except ConfigError as exc:
            self._errors = self._errors_of_plan = [str(i).lstrip(": ") for i in exc.issues]
            log.error("version %d is not valid; keeping what runs: %s", deployed.meta.version, self._errors[0])
            return False
        self._errors_of_plan = []
        o = self.options
        self._plan = plan_data_plane(pipeline, name=o.pipeline, rdi_url=o.rdi_url, secrets=secrets,
                                     processor=o.processor)  # fmt: skip
        return True

    @staticmethod
    def _load(deployed: Deployed, secrets: Mapping[str, str], *, resolve: bool) -> Pipeline:
        return pipeline_from_files(deployed.files, env={**os.environ, **secrets}, resolve_secrets=resolve)

    def _reset(self, deployed: Deployed, secrets: Mapping[str, str]) -> bool:
        assert self._plan is not None
        if time.monotonic() < self._reset_retry_at:
            return False
        if not self._publish("resetting", "Resetting", deployed):
            return False
        self.supervisor.apply([s for s in self._plan if s.type != "collector"])  # stops the collectors
        try:
            sources = reset_sources(self.client, self._load(deployed, secrets, resolve=True))
        except (RdiError, psycopg.Error, redis.RedisError, OSError) as exc:  # the source is down: retry later
            return self._reset_failed(exc)
        self.observed_reset = deployed.meta.reset
        log.info("reset %d done (%s): collectors start over with a snapshot", self.observed_reset,
                 ", ".join(sources) or "no native source")  # fmt: skip
        return True

    def _reset_failed(self, exc: BaseException) -> bool:
        self._reset_retry_at = time.monotonic() + _RESET_RETRY_S
        self._errors = [f"reset failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"]
        log.error("%s; retrying in %.0f s", self._errors[0], _RESET_RETRY_S)
        return False

    def _observe_external(self, deployed: Deployed) -> None:
        """Status of a data plane run by others: the lowest version its processor processes report applied."""
        meta = deployed.meta
        if meta.reset > self.observed_reset:
            self._errors = ["reset: the data plane runs outside the controller (Kubernetes); scale the collectors to "
                            "0, reset, then scale them up (or run the controller with the data plane)"]  # fmt: skip
            self._publish("error", "Error", deployed)
            return
        raw = self.client.hgetall(keys.processor_applied(self.options.pipeline))
        versions = [int(_text(v).split()[0]) for v in raw.values() if _text(v).split()]
        if versions:
            self.observed_version = min(versions)
        self._errors = []
        self._publish("running" if self.observed_version == meta.version else "starting", "Active", deployed)

    def _observe_version(self) -> None:
        processes = [c for c in self.supervisor.children.values() if c.spec.type == "processor"]
        if not processes or any(c.status != "running" for c in processes):
            return
        raw = self.client.hgetall(keys.processor_applied(self.options.pipeline))
        applied = {_text(k): _text(v).split() for k, v in raw.items()}
        versions = []
        for child in processes:  # a value written by an earlier process (another PID) says nothing of this one
            parts = applied.get(child.spec.env.get("BYTEWAX_PROCESS_ID", "0"), [])
            if len(parts) != 2 or int(parts[1]) != child.pid:
                return
            versions.append(int(parts[0]))
        self.observed_version = min(versions)

    def _publish(self, status: str, phase: Phase, deployed: Deployed | None) -> bool:
        """Writes the status (fenced); False when the write was refused, and then the data plane is gone."""
        now = _now_ms()
        if status != self._status:
            self._status, self._status_changed_at = status, now
            log.info("pipeline `%s`: %s", self.options.pipeline, status)
        if status in ("pending", "stopped"):
            self._errors = []
        version = deployed.meta.version if deployed is not None else 0
        components = [
            Component(f"controller-{self.options.instance_id}", "controller", "running", pid=os.getpid()),
            *(
                Component(c.spec.name, c.spec.type, c.status, pid=c.pid, restarts=c.restarts, message=c.message)
                for c in self.supervisor.children.values()
            ),
        ]
        record = PipelineStatus(
            status=status,
            status_changed_at=self._status_changed_at,
            errors=list(self._errors),
            components=components,
            current=deployed is not None and self.observed_version == version,
            observed_version=self.observed_version,
            observed_reset=self.observed_reset,
            leader=self.options.instance_id,
            fencing_token=self.lease.token,
            updated_at_ms=now,
        )
        self.metrics.set_phase(phase)
        if not write_status(self.client, self.options.pipeline, record, holder=self.options.instance_id):
            self.lease.deadline = 0.0
            self._depose("the status write was refused: another instance holds the lease")
            return False
        return True


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
