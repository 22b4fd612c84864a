"""Shared pieces of the control-plane tests: a pipeline deployed in the RDI DB (its source password in the secret
vault) and run by real ``rdi controller`` processes, started and stopped by PID; a row-level load on Postgres."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from rdi.control.secrets import SecretVault, generate_key
from rdi.control.store import PipelineStatus, PipelineStore

from ._ingest import REPO, Ingest, running_ingest, wait_for

SECRETS_KEY = generate_key()


class Controlled:
    """An :class:`Ingest` whose data plane is run by controllers instead of by the test."""

    def __init__(self, ingest: Ingest) -> None:
        self.ingest = ingest
        self.store = PipelineStore(ingest.db)

    def files(self, jobs: dict[str, str] | None = None) -> dict[str, str]:
        """The pipeline folder's files, with ``jobs`` (name → text, ``{schema}`` filled in) instead of its jobs."""
        folder = self.ingest.folder
        files = {"config.yaml": (folder / "config.yaml").read_text()}
        if jobs is None:
            files.update({f"jobs/{p.name}": p.read_text() for p in sorted((folder / "jobs").glob("*.yaml"))})
        else:
            files.update({f"jobs/{k}.yaml": v.replace("{schema}", self.ingest.schema) for k, v in jobs.items()})
        return files

    def deploy(self, jobs: dict[str, str] | None = None) -> int:
        return self.store.deploy(self.files(jobs))

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in self.ingest.env().items() if k not in ("RDI_PIPELINE_DIR", "SOURCE_DB_PASSWORD")}
        return {**env, "RDI_SECRETS_KEY": SECRETS_KEY.decode()}

    def start_controller(self, instance: str, *args: str, ttl_ms: int = 10_000) -> subprocess.Popen[bytes]:
        command = [
            sys.executable, "-m", "rdi", "--rdi-url", self.ingest.redis_url, "controller", "--instance-id", instance,
            "--lease-ttl-ms", str(ttl_ms), "--metrics-port", "off", "--processor-metrics-port", "off", *args,
        ]  # fmt: skip
        with self.ingest.log.open("ab") as out:
            out.write(f"--- start controller {instance}: {' '.join(command)}\n".encode())
            process = subprocess.Popen(command, env=self.env(), stdout=out, stderr=out, cwd=REPO)
        self.ingest.processes[f"controller-{instance}"] = process
        return process

    def kill_controller(self, instance: str) -> None:
        process = self.ingest.processes.pop(f"controller-{instance}")
        process.send_signal(signal.SIGKILL)
        process.wait()

    def stop_controller(self, instance: str) -> None:
        self.ingest.stop(f"controller-{instance}")

    def status(self) -> PipelineStatus | None:
        return self.store.status()

    def wait_status(self, what: str, timeout: float = 90, **expected: Any) -> PipelineStatus:
        """Waits until the status has every ``expected`` attribute value; returns it."""

        def matches() -> PipelineStatus | None:
            status = self.store.status()
            if status is None or any(getattr(status, k) != v for k, v in expected.items()):
                return None
            return status

        result: PipelineStatus = wait_for(matches, timeout, what, log=self.ingest.log)
        return result

    def pids(self, status: PipelineStatus, kind: str) -> dict[str, int | None]:
        return {c.name: c.pid for c in status.components if c.type == kind}


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


@contextmanager
def controlled(pg_dsn: str, redis_url: str, folder: Path, *, tables: str, jobs: dict[str, str]) -> Iterator[Controlled]:
    """A scratch schema with ``tables`` (SQL run with ``{s}`` = the schema) and the pipeline folder, the source
    password stored in the secret vault; nothing deployed or started yet. Stops every process on exit."""
    with running_ingest(pg_dsn, redis_url, folder, jobs=jobs, start=False) as ingest:
        for statement in tables.split(";"):
            if statement.strip():
                ingest.sql(statement)
        SecretVault(ingest.db, key=SECRETS_KEY).set("SOURCE_DB_PASSWORD", urlparse(pg_dsn).password or "")
        yield Controlled(ingest)
