"""`rdi api` as a real subprocess on a free loopback port, for the API and CLI tests (stopped by its PID).

The server gets its keys through the environment (never argv) and logs to a file the secret tests grep.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

__all__ = ["JWT_KEY", "SECRETS_KEY", "USER", "USER_PASSWORD", "ApiServer", "add_user", "running_api"]

JWT_KEY = "test-jwt-key-0123456789abcdef0123456789"
SECRETS_KEY = Fernet.generate_key().decode()
USER = "rdi-operator"
USER_PASSWORD = "op-pass-4711"
_START_TIMEOUT_S = 30


@dataclass(frozen=True)
class ApiServer:
    url: str
    pid: int
    log: Path

    def login(self, user: str = USER, password: str = USER_PASSWORD) -> str:
        body = {"username": user, "password": password}
        reply = httpx.post(f"{self.url}/api/v1/login", json=body, timeout=10, verify=False)
        reply.raise_for_status()
        token: str = reply.json()["access_token"]
        return token

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.login()}"}, timeout=30)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def add_user(redis_url: str) -> None:
    """An ACL user of the RDI DB the API logs in as (`ACL SETUSER` survives FLUSHDB)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        client.execute_command("ACL", "SETUSER", USER, "on", f">{USER_PASSWORD}", "~*", "&*", "+@all")
    finally:
        client.close()


@contextmanager
def running_api(
    redis_url: str, log: Path, *, extra_env: dict[str, str] | None = None, tls: tuple[Path, Path] | None = None
) -> Iterator[ApiServer]:
    """Starts `rdi api` against `redis_url` (HTTPS with `tls` = (certificate, key)), waits for `/healthz`, and
    stops it (SIGTERM, then SIGKILL) after."""
    add_user(redis_url)
    port = free_port()
    env = {
        **os.environ,
        "RDI_DB_URL": redis_url,
        "RDI_API_JWT_KEY": JWT_KEY,
        "RDI_SECRETS_KEY": SECRETS_KEY,
        "RDI_PROCESSOR_METRICS_URL": f"http://127.0.0.1:{free_port()}/metrics",
        **(extra_env or {}),
    }
    command = [sys.executable, "-m", "rdi", "api", "--host", "127.0.0.1", "--port", str(port)]
    if tls is not None:
        command += ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1, verify=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"`rdi api` did not come up:\n{log.read_text()}")
            time.sleep(0.1)
        yield ApiServer(url, process.pid, log)
    finally:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
