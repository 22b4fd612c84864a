"""`rdi processor`: runs ``python -m bytewax.run flows.ingest`` for people who do not know Bytewax.

It sets the environment :mod:`rdi.runtime` reads, starts the dataflow as a child process and restarts it
with backoff when it dies (a restart replays the unacknowledged entries: nothing is lost). SIGINT/SIGTERM
are passed to the child and end the loop.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from types import FrameType

__all__ = ["bytewax_command", "run_processor"]

log = logging.getLogger("rdi.processor")

CONFIG_EXIT = 2
"""Exit status of a dataflow that refused its configuration: restarting cannot help."""


def bytewax_command(flow: str, *, workers: int, process_id: int | None, addresses: str | None) -> list[str]:
    command = [sys.executable, "-m", "bytewax.run", flow, "-w", str(workers)]
    if addresses:
        command += ["-a", addresses]
    if process_id is not None:
        command += ["-i", str(process_id)]
    return command


def run_processor(command: Sequence[str], env: Mapping[str, str], *, restart: bool = True) -> int:
    """Runs ``command`` until it exits 0 or with a configuration error, or a signal stops us."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    child: subprocess.Popen[bytes] | None = None

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    delay = 1.0
    while True:
        child = subprocess.Popen(list(command), env={**os.environ, **env})
        code = child.wait()
        if stop.is_set():
            return 0
        if code == 0 or code == CONFIG_EXIT or not restart:
            return code
        log.warning("the dataflow exited with status %d; restarting in %.0f s (unacknowledged entries replay)",
                    code, delay)  # fmt: skip
        if stop.wait(delay):
            return 0
        delay = min(delay * 2, 30.0)
