"""A staging writer on a background thread: the collector encodes the next chunk while Redis runs the last one.

Writes happen one at a time, in the order they were queued, so positions still only grow. Each job may carry a
``tag`` (a source position such as a commit's end LSN) that becomes :attr:`PipelinedStager.done` once the job and
every job before it are staged — the caller confirms that position to the source, never one still queued.
An error stops all later writes (order matters more than progress) and is raised to the caller at its next call.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence

from rdi.collectors.staging import Checkpoint, Entry, StagingWriter

_Job = tuple[Sequence[Entry], Checkpoint | None, int | None]


class PipelinedStager:
    def __init__(self, writer: StagingWriter, *, depth: int = 3, keepalive: Callable[[], None] | None = None) -> None:
        self._writer = writer
        self._jobs: queue.Queue[_Job | None] = queue.Queue(maxsize=depth)
        self._keepalive = keepalive
        self._error: BaseException | None = None
        self.done: int | None = None
        self._thread = threading.Thread(target=self._run, name="rdi-stager", daemon=True)
        self._thread.start()

    def put(self, entries: Sequence[Entry], checkpoint: Checkpoint | None, tag: int | None = None) -> None:
        """Queues one atomic staging write (``checkpoint`` None: only the tag, in order); blocks while full."""
        job: _Job = (entries, checkpoint, tag)
        while True:
            self._raise()
            try:
                self._jobs.put(job, timeout=1.0)
                return
            except queue.Full:
                if self._keepalive is not None:  # the RDI DB is slow or full: keep the source connection alive
                    self._keepalive()

    def idle(self) -> bool:
        """True when every queued write is staged."""
        self._raise()
        return self._jobs.unfinished_tasks == 0

    def flush(self) -> None:
        """Waits until every queued write is staged; raises the first error of the background thread."""
        while not self.idle():
            if self._keepalive is not None:
                self._keepalive()
            threading.Event().wait(0.01)

    def close(self) -> None:
        """Stops the thread after the queued writes (without raising their error)."""
        if self._thread.is_alive():
            self._jobs.put(None)
            self._thread.join()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                if job is None:
                    return
                if self._error is None:
                    entries, checkpoint, tag = job
                    if checkpoint is not None:
                        self._writer.write(entries, checkpoint)
                    if tag is not None:
                        self.done = tag
            except BaseException as exc:  # handed to the caller; later jobs are not written
                self._error = exc
            finally:
                self._jobs.task_done()
