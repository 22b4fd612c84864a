"""Shared pieces of the macro benchmarks: run metadata, result files, and the raw Redis XADD ceiling.

The ceiling is the rate at which this Redis accepts the *same* ``XADD <stream> * key <k> value <v>`` commands a flow
writes, when the client costs (almost) nothing: the commands are RESP-encoded beforehand and sent in bulk, either by
``redis-cli --pipe`` (C) or over a raw socket from Python (``sendall`` of the whole buffer, replies counted by a
reader thread). A redis-py pipeline of 1000 XADDs per round trip is measured too, for orientation: it is what a
plain Python producer reaches.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import redis
from hiredis import pack_command

__all__ = [
    "RESULTS_DIR",
    "Rate",
    "append_result",
    "ceiling_python_pipeline",
    "ceiling_raw_socket",
    "ceiling_redis_cli",
    "encode_commands",
    "encode_xadds",
    "max_rss_mb",
    "run_metadata",
    "send_raw_socket",
    "send_redis_cli",
]

RESULTS_DIR = Path(__file__).resolve().parents[1] / "results"

KV = tuple[bytes, bytes]


class Rate(dict[str, Any]):
    """One phase's figures: ``records``, ``bytes``, ``seconds`` and the derived ``records_per_s``, ``mb_per_s``."""

    @classmethod
    def of(cls, records: int, nbytes: int, seconds: float, **extra: Any) -> Rate:
        return cls(
            records=records,
            bytes=nbytes,
            seconds=round(seconds, 3),
            records_per_s=round(records / seconds) if seconds > 0 else None,
            mb_per_s=round(nbytes / seconds / 1e6, 2) if seconds > 0 else None,
            **extra,
        )


def _git(*args: str) -> str:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run_metadata() -> dict[str, Any]:
    """Commit (and whether the tree had uncommitted changes), Python, machine."""
    return {
        "commit": _git("rev-parse", "HEAD"),
        "dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "machine": platform.machine(),
        "system": platform.platform(),
        "cpus": os.cpu_count(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def append_result(name: str, result: dict[str, Any]) -> Path:
    """Append ``result`` as one JSON line to ``bench/results/<name>-<date>.json``."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}-{dt.date.today().isoformat()}.json"
    with path.open("ab") as out:
        out.write(orjson.dumps(result) + b"\n")
    return path


def max_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _bulk(b: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(b), b)


def encode_xadds(stream: str, entries: Iterable[KV]) -> bytearray:
    """RESP for ``XADD <stream> * key <k> value <v>``, one command per entry, concatenated."""
    head = b"*7\r\n$4\r\nXADD\r\n" + _bulk(stream.encode()) + b"$1\r\n*\r\n$3\r\nkey\r\n"
    value = b"$5\r\nvalue\r\n"
    out = bytearray()
    for k, v in entries:
        out += head
        out += b"$%d\r\n%b\r\n" % (len(k), k)
        out += value
        out += b"$%d\r\n%b\r\n" % (len(v), v)
    return out


def _address(url: str) -> tuple[str, int, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 6379, int(parts.path.strip("/") or 0)


def ceiling_redis_cli(url: str, stream: str, resp: bytes | bytearray, records: int, nbytes: int) -> Rate | None:
    """``redis-cli --pipe`` sending the pre-encoded commands from a file (in the page cache)."""
    exe = shutil.which("redis-cli")
    if exe is None:
        return None
    host, port, db = _address(url)
    client = redis.Redis.from_url(url)
    client.delete(stream)
    with tempfile.NamedTemporaryFile(prefix="rdi-bench-", suffix=".resp") as f:
        f.write(resp)
        f.flush()
        with open(f.name, "rb") as stdin:
            start = time.perf_counter()
            done = subprocess.run([exe, "-h", host, "-p", str(port), "-n", str(db), "--pipe"], stdin=stdin,
                                  capture_output=True, text=True, check=True)  # fmt: skip
            elapsed = time.perf_counter() - start
    staged = client.xlen(stream)
    client.delete(stream)
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    if staged != records:
        raise RuntimeError(f"redis-cli --pipe staged {staged} of {records} entries: {last}")
    return Rate.of(records, nbytes, elapsed, client="redis-cli --pipe")


def ceiling_raw_socket(url: str, stream: str, resp: bytes | bytearray, records: int, nbytes: int) -> Rate:
    """One ``sendall`` of the whole buffer over a raw socket; a reader thread counts the replies."""
    host, port, db = _address(url)
    client = redis.Redis.from_url(url)
    client.delete(stream)
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    select = b"*2\r\n$6\r\nSELECT\r\n" + _bulk(str(db).encode())
    sock.sendall(select)
    if not sock.recv(64).startswith(b"+OK"):
        raise RuntimeError("SELECT failed")
    sock.settimeout(120)  # a lost reply (an error reply has one CRLF, not two) ends the run instead of hanging

    def reader() -> None:
        # Each XADD reply is `$<n>\r\n<id>\r\n`: two CRLFs. The count is checked against XLEN afterwards.
        seen, want, last = 0, 2 * records, b""
        while seen < want:
            try:
                chunk = sock.recv(1 << 20)
            except TimeoutError:
                return
            if not chunk:
                return
            seen += chunk.count(b"\r\n") + (1 if last == b"\r" and chunk[:1] == b"\n" else 0)
            last = chunk[-1:]

    thread = threading.Thread(target=reader, daemon=True)
    start = time.perf_counter()
    thread.start()
    sock.sendall(memoryview(resp))
    thread.join()
    elapsed = time.perf_counter() - start
    sock.close()
    staged = client.xlen(stream)
    client.delete(stream)
    if staged != records:
        raise RuntimeError(f"raw socket staged {staged} of {records} entries")
    return Rate.of(records, nbytes, elapsed, client="python raw socket, pre-encoded RESP")


def ceiling_python_pipeline(url: str, stream: str, entries: Sequence[KV], nbytes: int, batch: int = 1000) -> Rate:
    """redis-py (hiredis parser when installed): ``batch`` XADDs per non-transactional pipeline round trip."""
    client = redis.Redis.from_url(url)
    client.delete(stream)
    start = time.perf_counter()
    for i in range(0, len(entries), batch):
        pipe = client.pipeline(transaction=False)
        for k, v in entries[i : i + batch]:
            pipe.xadd(stream, {"key": k, "value": v})
        pipe.execute()
    elapsed = time.perf_counter() - start
    staged = client.xlen(stream)
    client.delete(stream)
    if staged != len(entries):
        raise RuntimeError(f"pipeline staged {staged} of {len(entries)} entries")
    return Rate.of(len(entries), nbytes, elapsed, client=f"redis-py pipeline, {batch} XADD per round trip")


# ---- generic bulk senders (any command shape) ----------------------------------------------------------------


def encode_commands(commands: Iterable[Sequence[Any]], out: bytearray | None = None) -> bytearray:
    """RESP of ``commands`` (each a sequence of str/bytes/int arguments), concatenated onto ``out``.

    Packed by hiredis's ``pack_command``: the packer the ingest output uses.
    """
    buffer = bytearray() if out is None else out
    for command in commands:
        buffer += pack_command(tuple(command))
    return buffer


def send_redis_cli(url: str, resp: bytes | bytearray) -> tuple[float, str]:
    """``redis-cli --pipe`` sending ``resp`` (from a file in the page cache) to the db of ``url``.

    Returns the wall seconds and redis-cli's summary line; raises ``RuntimeError`` when redis-cli is missing or
    reports errors.
    """
    exe = shutil.which("redis-cli")
    if exe is None:
        raise RuntimeError("redis-cli is not installed")
    host, port, db = _address(url)
    with tempfile.NamedTemporaryFile(prefix="rdi-bench-", suffix=".resp") as f:
        f.write(resp)
        f.flush()
        with open(f.name, "rb") as stdin:
            start = time.perf_counter()
            done = subprocess.run([exe, "-h", host, "-p", str(port), "-n", str(db), "--pipe"], stdin=stdin,
                                  capture_output=True, text=True, check=False)  # fmt: skip
            elapsed = time.perf_counter() - start
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr.strip()
    if done.returncode != 0 or "errors: 0" not in last:
        raise RuntimeError(f"redis-cli --pipe failed: {last}")
    return elapsed, last


def send_raw_socket(url: str, resp: bytes | bytearray, crlfs: int) -> float:
    """One ``sendall`` of ``resp`` to the db of ``url`` over a raw socket; a reader thread waits for ``crlfs``
    reply line ends (an integer reply such as HSET's has one, a bulk string such as XADD's two). Returns the wall
    seconds; the caller checks the result in Redis (a missing reply ends the wait after 120 s of silence)."""
    host, port, db = _address(url)
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(b"*2\r\n$6\r\nSELECT\r\n" + _bulk(str(db).encode()))
    if not sock.recv(64).startswith(b"+OK"):
        raise RuntimeError("SELECT failed")
    sock.settimeout(120)

    def reader() -> None:
        seen, last = 0, b""
        while seen < crlfs:
            try:
                chunk = sock.recv(1 << 20)
            except TimeoutError:
                return
            if not chunk:
                return
            seen += chunk.count(b"\r\n") + (1 if last == b"\r" and chunk[:1] == b"\n" else 0)
            last = chunk[-1:]

    thread = threading.Thread(target=reader, daemon=True)
    start = time.perf_counter()
    thread.start()
    sock.sendall(memoryview(resp))
    thread.join()
    elapsed = time.perf_counter() - start
    sock.close()
    return elapsed
