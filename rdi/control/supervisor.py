"""Runs the data plane's processes and keeps them running: start, restart with exponential backoff, stop by PID.

The controller says *what* should run (:meth:`Supervisor.apply` with a list of :class:`ChildSpec`); the
supervisor makes it so and is polled (:meth:`Supervisor.poll`) from the controller's loop — it never blocks
except while stopping, and it owns no thread, so every child is started by the same (main) thread.

* A child whose spec changed (command, environment) is stopped and started again; one that disappeared from
  the list is stopped; the others are left alone (a redeploy that changes one source restarts one collector).
* A child that exits is started again after a delay that doubles from ``backoff_s`` up to ``backoff_max_s``
  and falls back to ``backoff_s`` once a child has run for ``backoff_max_s``.
* Children of one ``group`` live and die together: a Bytewax cluster is fail-stop (one process dying stops the
  others), so when one exits the rest are stopped and the whole group restarts.
* Stopping sends ``SIGTERM`` to each PID, waits up to ``stop_timeout_s`` and sends ``SIGKILL`` to what is left.
* On Linux each child gets ``PR_SET_PDEATHSIG`` = ``SIGKILL``: if the controller itself is killed, its data
  plane dies with it instead of running on beside the next leader's.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Literal, TypeAlias

__all__ = ["ChildSpec", "ChildState", "ChildStatus", "Supervisor"]

log = logging.getLogger("rdi.controller")

ChildStatus: TypeAlias = Literal["running", "restarting", "stopped", "error"]

CONFIG_EXIT = 2
"""Exit status of a child that refused its configuration: it is restarted only at the longest backoff."""


@dataclass(frozen=True)
class ChildSpec:
    """One process of the data plane. Two specs with the same name and different fields mean "restart it"."""

    name: str
    type: str  # collector | processor
    command: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    group: str | None = None


@dataclass
class ChildState:
    """What the supervisor knows of one child: its process (if running), restarts, last exit."""

    spec: ChildSpec
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0
    down_since: float | None = None
    """When it last stopped running properly (exit after less than ``backoff_max_s``); None while healthy."""
    next_start: float = 0.0
    delay: float = 0.0
    last_exit: int | None = None
    message: str = ""

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def status(self) -> ChildStatus:
        if self.process is not None:
            return "running"
        if self.last_exit == CONFIG_EXIT:
            return "error"
        return "restarting" if self.last_exit is not None else "stopped"


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Supervisor:
    """Keeps a set of child processes running; see the module docstring.

    ``output`` receives the children's stdout and stderr (default: this process's stderr); ``clock`` is a
    monotonic clock in seconds.
    """

    def __init__(
        self,
        *,
        backoff_s: float = 1.0,
        backoff_max_s: float = 30.0,
        stop_timeout_s: float = 10.0,
        output: IO[bytes] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.stop_timeout_s = stop_timeout_s
        self._output = output
        self._clock = clock
        self.children: dict[str, ChildState] = {}

    def apply(self, specs: Sequence[ChildSpec]) -> None:
        """Makes ``specs`` the set of children: stops removed or changed ones, starts new or changed ones."""
        wanted = {spec.name: spec for spec in specs}
        gone = [c for name, c in self.children.items() if wanted.get(name) != c.spec]
        self._stop([c for c in gone if c.process is not None])
        changed_groups = {c.spec.group for c in gone if c.spec.group is not None}
        for child in gone:
            del self.children[child.spec.name]
        # A changed member of a group restarts its whole group (a Bytewax cluster cannot take a new member).
        regroup = [c for c in self.children.values() if c.spec.group in changed_groups]
        self._stop([c for c in regroup if c.process is not None])
        for child in regroup:
            child.next_start = 0.0
        for name, spec in wanted.items():
            if name not in self.children:
                self.children[name] = ChildState(spec, delay=self.backoff_s)
        self.poll()

    def poll(self) -> None:
        """Reaps children that exited (stopping the rest of their group) and starts those that are due."""
        now = self._clock()
        for child in list(self.children.values()):
            if child.process is None:
                continue
            code = child.process.poll()
            if code is None:
                continue
            self._exited(child, code, now)
            if child.spec.group is not None:
                rest = [c for c in self.children.values() if c.spec.group == child.spec.group and c is not child]
                running = [c for c in rest if c.process is not None]
                self._stop(running)
                for other in running:
                    other.last_exit, other.message = -1, f"stopped with its group: {child.spec.name} exited"
                for other in rest:
                    other.next_start = max(other.next_start, child.next_start)
        for child in self.children.values():
            if child.process is None and now >= child.next_start:
                self._start(child, now)
            elif child.process is not None and now - child.started_at >= self.backoff_max_s:
                child.down_since = None  # ran long enough: healthy again

    def _exited(self, child: ChildState, code: int, now: float) -> None:
        ran, pid = now - child.started_at, child.pid
        if ran >= self.backoff_max_s:
            child.delay = self.backoff_s
        if child.down_since is None or ran >= self.backoff_max_s:
            child.down_since = now
        delay = self.backoff_max_s if code == CONFIG_EXIT else child.delay
        child.process, child.last_exit = None, code
        child.next_start = now + delay
        child.delay = min(max(child.delay, self.backoff_s) * 2, self.backoff_max_s)
        child.message = f"exited with status {code} after {ran:.1f} s; restarting in {delay:.0f} s"
        log.warning("%s (pid %s) %s", child.spec.name, pid, child.message)

    def _start(self, child: ChildState, now: float) -> None:
        spec = child.spec
        if child.last_exit is not None:
            child.restarts += 1
        try:
            child.process = subprocess.Popen(
                list(spec.command),
                env={**os.environ, **spec.env},
                cwd=spec.cwd,
                stdout=self._output,
                stderr=self._output,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C on the controller's terminal is the controller's to handle
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        except OSError as exc:
            child.last_exit, child.next_start = -1, now + child.delay
            child.down_since = now if child.down_since is None else child.down_since
            child.message = f"cannot start: {exc}"
            log.error("%s: %s", spec.name, child.message)
            return
        child.started_at = now
        child.message = ""
        log.info("%s started (pid %d)", spec.name, child.process.pid)

    def failing(self, for_s: float) -> list[ChildState]:
        """Children that have not run properly for ``for_s`` seconds (crash-looping or unable to start)."""
        now = self._clock()
        return [c for c in self.children.values() if c.down_since is not None and now - c.down_since >= for_s]

    def stop_all(self) -> None:
        """Stops every child (SIGTERM, bounded wait, SIGKILL) and forgets them."""
        self._stop([c for c in self.children.values() if c.process is not None])
        self.children.clear()

    def kill_all(self) -> None:
        """SIGKILLs every child at once and forgets them: for a leader that must stop acting *now*."""
        for child in self.children.values():
            if child.process is not None:
                child.process.kill()
        for child in self.children.values():
            if child.process is not None:
                child.process.wait()
        self.children.clear()

    def _stop(self, children: Sequence[ChildState]) -> None:
        for child in children:
            assert child.process is not None
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = self._clock() + self.stop_timeout_s
        for child in children:
            assert child.process is not None
            try:
                child.process.wait(timeout=max(0.0, deadline - self._clock()))
            except subprocess.TimeoutExpired:
                log.warning("%s (pid %d) ignored SIGTERM for %.0f s: SIGKILL", child.spec.name, child.process.pid,
                            self.stop_timeout_s)  # fmt: skip
                child.process.kill()
                child.process.wait()
            log.info("%s (pid %d) stopped", child.spec.name, child.process.pid)
            child.process = None
