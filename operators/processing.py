"""The Bytewax step between the staging input and the target output: a batch through the pipeline's jobs.

Zero-downtime redeploy: a :class:`JobReload` thread looks at the deployed ``version`` every ``interval_s`` (one
``HGET``). When it changed, it reads the files and their meta in one MULTI (:meth:`PipelineStore.deployed`),
compiles the new jobs off the data path and swaps them in; the step takes the jobs once per batch — so each
batch, hence each entry, is processed by exactly one version, and per stream (one stream is read by one worker,
batch after batch) no entry of the old version follows one of the new. The check does not wait for traffic, so
an idle process reports the new version too. A new pipeline that does not
load keeps the old jobs running and logs one line; one whose targets or processor settings changed is left
to the controller, which restarts the processor (the output's connections are built once).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import redis

from rdi import keys
from rdi.config import Pipeline
from rdi.connections import TargetConnections
from rdi.control.store import PipelineStore
from rdi.errors import ConfigError
from rdi.processor import ProcessedBatch, Processor, StreamBatch
from rdi.runtime import pipeline_from_files
from rdi.stream_schema import StreamTypes

__all__ = ["BatchProcessing", "JobReload"]

log = logging.getLogger("rdi.processor")


class JobReload:
    """Watches the deployed pipeline's ``version``; :meth:`current` gives the processor of the jobs to apply now.

    :meth:`start` runs :meth:`poll` in a daemon thread every ``interval_s``.

    ``version`` is the version ``pipeline`` was loaded from; ``process_id`` names this Bytewax process in the
    ``rdi:pipeline:<name>:applied`` hash, where the applied version is published for the controller.
    Thread-safe: the worker threads of one process share it. A lost RDI DB connection skips the check.
    """

    def __init__(
        self,
        client: redis.Redis,
        name: str,
        pipeline: Pipeline,
        processor: Processor,
        version: int,
        *,
        process_id: str = "0",
        secrets_dir: Path | None = None,
        interval_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.store = PipelineStore(client, name)
        self.name = name
        self.pipeline = pipeline
        self.processor = processor
        self.version = version
        """The last deployed version looked at (applied, or refused)."""
        self.applied = version
        self.process_id = process_id
        self.secrets_dir = secrets_dir
        self.interval_s = interval_s
        self._clock = clock
        self._next = 0.0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def publish(self) -> None:
        """Records the version this process applies, with its PID (``rdi:pipeline:<name>:applied``)."""
        self.client.hset(keys.processor_applied(self.name), self.process_id, f"{self.applied} {os.getpid()}")

    def current(self) -> Processor:
        """The processor to run the next batch with: the newly deployed jobs once loaded, else the running ones."""
        with self._lock:
            return self.processor

    def poll(self) -> None:
        """Checks the deployed version if ``interval_s`` passed since the last check; swaps in new jobs."""
        now = self._clock()
        if now < self._next:
            return
        self._next = now + self.interval_s
        try:
            self._reload()
        except redis.RedisError as exc:
            log.warning("cannot check the deployed version: %s", exc)

    def start(self) -> None:
        """Polls in a daemon thread for the life of the process."""

        def loop() -> None:
            while True:
                self.poll()
                time.sleep(max(0.0, self._next - self._clock()))

        self._thread = threading.Thread(target=loop, name="rdi-job-reload", daemon=True)
        self._thread.start()

    def _reload(self) -> None:
        raw = self.client.hget(keys.pipeline_meta(self.name), "version")
        if raw is None or int(raw) == self.version:
            return
        deployed = self.store.deployed()
        if deployed is None or deployed.meta.version == self.version:
            return
        version = deployed.meta.version
        try:
            pipeline = pipeline_from_files(deployed.files, secrets_dir=self.secrets_dir)
            processor = Processor(pipeline)
        except ConfigError as exc:
            self.version = version  # not again for this version
            issue = exc.issues[0] if exc.issues else exc
            log.error("version %d is not valid (%s); keeping the jobs of version %d", version, issue, self.applied)
            return
        old = self.pipeline.config
        if pipeline.config.targets != old.targets or pipeline.config.processors != old.processors:
            self.version = version
            log.info("version %d changes targets or processors: the controller restarts the processor", version)
            return
        with self._lock:
            self.version = self.applied = version
            self.pipeline, self.processor = pipeline, processor
        self.publish()
        log.info("applying the jobs of version %d from the next batch on", version)


class BatchProcessing:
    """``op.map`` callable: decodes with the stream's column types, runs the jobs; a batch's `redis.lookup`
    commands go to the targets together, one pipeline per connection for each wave of lookups (`Processor.process`)."""

    def __init__(
        self,
        processor: Processor,
        types: StreamTypes,
        targets: TargetConnections,
        *,
        reload: JobReload | None = None,
    ) -> None:
        self.processor = processor
        self.types = types
        self.targets = targets
        self.reload = reload

    def __call__(self, batch: StreamBatch) -> ProcessedBatch:
        processor = self.processor if self.reload is None else self.reload.current()  # one version per batch
        return processor.process(batch, types=self.types.get(batch.stream), lookup=self.targets.lookup_batch)
