"""The Debezium Server collector: obtains the distribution, runs it for one source, watches it, stops it.

For a `type: cdc` source rdi has no native collector for (or with `collector: debezium`), ``rdi collector``
runs :class:`DebeziumServerCollector`: it writes the properties of :func:`rdi.collectors.debezium.
debezium_properties` into a private run directory (mode 0700), starts ``java … io.debezium.server.Main`` there
as a child process whose environment alone holds the resolved secrets, forwards its log lines, restarts it with
backoff when it dies, and stops it by PID (SIGTERM, a bounded wait, then SIGKILL). Its state is published in the
hash :func:`rdi.keys.collector_status`. For PostgreSQL, MySQL and MariaDB sources it also publishes the column
types of the captured tables (:mod:`rdi.stream_schema`), read from the source's catalog, so the processor
applies RDI's type table to Debezium's events as it does to ours.

The distribution (``io.debezium:debezium-server-dist:<version>:tar.gz``, Java 21+) is cached in
``$RDI_DEBEZIUM_HOME`` (default ``~/.cache/rdi/debezium-server-<version>``): :func:`ensure_distribution` downloads
it from Maven Central (or the mirror and proxy of ``~/.m2/settings.xml``; ``https_proxy`` is honoured), checks it
against :data:`DISTRIBUTION_SHA1` and the ``.sha1`` published next to it (when the repository has one), and
unpacks it atomically (temporary directory, then rename). A copy in the local Maven repository is used first.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import signal
import subprocess
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Final

import redis

from rdi import keys
from rdi.collectors.debezium import DebeziumConfig, render_properties
from rdi.config.secrets import SecretStore, resolve_references
from rdi.config.sources import Source
from rdi.errors import ConfigError, FatalError

__all__ = [
    "DEBEZIUM_VERSION",
    "DebeziumServerCollector",
    "debezium_home",
    "distribution_url",
    "ensure_distribution",
    "find_java",
    "publish_source_types",
]

log = logging.getLogger("rdi.collector.debezium")

DEBEZIUM_VERSION: Final = "3.6.1.Final"
_GROUP, _ARTIFACT = "io.debezium", "debezium-server-dist"
_CENTRAL: Final = "https://repo1.maven.org/maven2"
DISTRIBUTION_SHA1: Final = "ee31ea4e1a038ac03b9d64646ce2a1bd14adb4f5"
"""SHA-1 of ``debezium-server-dist-3.6.1.Final.tar.gz``, pinned: some mirrors serve the archive without its
``.sha1``; where the ``.sha1`` is published it must agree."""
_MIN_JAVA: Final = 21  # debezium-server-core 3.x is built for Java 21 (class file version 65)
_STOP_WAIT_S: Final = 30.0


# ---- the distribution -------------------------------------------------------------------------------------


def debezium_home(env: Mapping[str, str] | None = None) -> Path:
    """Where the unpacked distribution lives: ``$RDI_DEBEZIUM_HOME`` or ``~/.cache/rdi/debezium-server-<v>``."""
    env = os.environ if env is None else env
    if env.get("RDI_DEBEZIUM_HOME"):
        return Path(env["RDI_DEBEZIUM_HOME"])
    return Path.home() / ".cache" / "rdi" / f"debezium-server-{DEBEZIUM_VERSION}"


def _maven_settings() -> ET.Element | None:
    path = Path.home() / ".m2" / "settings.xml"
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return None
    for element in root.iter():  # drop the POM namespace so paths stay readable
        element.tag = element.tag.rpartition("}")[2]
    return root


def distribution_url(settings: ET.Element | None = None) -> str:
    """The ``.tar.gz`` URL: on the mirror of ``central`` (or ``*``) in ``~/.m2/settings.xml``, else Maven Central."""
    base = _CENTRAL
    for mirror in settings.findall("./mirrors/mirror") if settings is not None else []:
        of = {m.strip() for m in (mirror.findtext("mirrorOf") or "").split(",")}
        if of & {"central", "*", "external:*"} and mirror.findtext("url"):
            base = (mirror.findtext("url") or "").rstrip("/")
            break
    path = f"{_GROUP.replace('.', '/')}/{_ARTIFACT}/{DEBEZIUM_VERSION}/{_ARTIFACT}-{DEBEZIUM_VERSION}.tar.gz"
    return f"{base}/{path}"


def _opener(settings: ET.Element | None) -> urllib.request.OpenerDirector:
    proxies: dict[str, str] = {}
    for proxy in settings.findall("./proxies/proxy") if settings is not None else []:
        if (proxy.findtext("active") or "true").strip() != "true" or not proxy.findtext("host"):
            continue
        auth = ""
        if proxy.findtext("username"):
            auth = f"{proxy.findtext('username')}:{proxy.findtext('password') or ''}@"
        scheme, host, port = proxy.findtext("protocol") or "http", proxy.findtext("host"), proxy.findtext("port") or 80
        address = f"{scheme}://{auth}{host}:{port}"
        proxies.setdefault("https", address)
        proxies.setdefault("http", address)
    # Without Maven proxies urllib takes http(s)_proxy/no_proxy from the environment.
    handler = urllib.request.ProxyHandler(proxies) if proxies else urllib.request.ProxyHandler()
    return urllib.request.build_opener(handler)


def ensure_distribution(home: Path | None = None, *, progress: Callable[[str], None] = log.info) -> Path:
    """The unpacked distribution in ``home`` (default :func:`debezium_home`), downloaded first when missing.

    Idempotent; concurrent callers each unpack into their own temporary directory and the first rename wins.
    Raises :class:`FatalError` (one line) when it can't be downloaded (offline, no mirror), the checksum does
    not match, or the archive is not a Debezium Server distribution.
    """
    home = debezium_home() if home is None else home
    if (home / "lib").is_dir() and list(home.glob("debezium-server-*-runner.jar")):
        return home
    settings = _maven_settings()
    url = distribution_url(settings)
    opener = _opener(settings)
    home.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{home.name}.", dir=home.parent) as tmp:
        archive = Path(tmp) / "dist.tar.gz"
        expected = DISTRIBUTION_SHA1
        try:
            published = _published_sha1(opener, url + ".sha1")
            if published is not None and published != expected:
                raise FatalError(f"{url}.sha1 says {published}, rdi pins {expected}: refusing the download")
            local = _local_repository_copy()
            if local is not None and _sha1(local) == expected:
                progress(f"using Debezium Server {DEBEZIUM_VERSION} from the local Maven repository ({local})")
                shutil.copyfile(local, archive)
            else:
                progress(f"downloading Debezium Server {DEBEZIUM_VERSION} from {url}")
                with opener.open(url, timeout=60) as response, archive.open("wb") as out:
                    shutil.copyfileobj(response, out, 1 << 20)
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", None) or exc
            msg = (
                f"cannot download Debezium Server from {url}: {reason}; "
                "set RDI_DEBEZIUM_HOME to an unpacked debezium-server-dist"
            )
            raise FatalError(msg) from None
        actual = _sha1(archive)
        if actual != expected:
            raise FatalError(f"checksum mismatch for {url}: sha1 {actual}, published {expected}")
        unpacked = Path(tmp) / "unpacked"
        with tarfile.open(archive) as tar:
            tar.extractall(unpacked, filter="tar")
        inner = unpacked / "debezium-server"
        if not (inner / "lib").is_dir():
            raise FatalError(f"{url} holds no debezium-server/lib directory")
        try:
            inner.rename(home)
        except OSError:
            if not (home / "lib").is_dir():  # not another process that got there first
                raise
    progress(f"Debezium Server {DEBEZIUM_VERSION} is in {home}")
    return home


def _published_sha1(opener: urllib.request.OpenerDirector, url: str) -> str | None:
    """The checksum file's hex digest; None when the repository does not publish one (HTTP 404)."""
    try:
        with opener.open(url, timeout=60) as response:
            text: bytes = response.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise
    return text.decode().split()[0].strip().lower() if text.strip() else None


def _local_repository_copy() -> Path | None:
    path = (
        Path.home() / ".m2" / "repository" / _GROUP.replace(".", "/") / _ARTIFACT / DEBEZIUM_VERSION
        / f"{_ARTIFACT}-{DEBEZIUM_VERSION}.tar.gz"
    )  # fmt: skip
    return path if path.is_file() else None


def _sha1(path: Path) -> str:
    digest = hashlib.sha1(usedforsecurity=False)
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _java_major(java: Path) -> int | None:
    try:
        out = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if match is None:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def find_java(env: Mapping[str, str] | None = None) -> Path:
    """A ``java`` of version 21 or later: ``$JAVA_HOME``'s, else the newest under ``/usr/lib/jvm``, else on PATH.

    Raises :class:`FatalError` naming what was found when none is recent enough.
    """
    env = os.environ if env is None else env
    candidates: list[Path] = []
    if env.get("JAVA_HOME"):
        candidates.append(Path(env["JAVA_HOME"]) / "bin" / "java")
    jvms = Path("/usr/lib/jvm")
    if jvms.is_dir():
        candidates += sorted((p / "bin" / "java" for p in jvms.iterdir() if not p.is_symlink()), reverse=True)
    on_path = shutil.which("java", path=env.get("PATH"))
    if on_path:
        candidates.append(Path(on_path))
    seen: list[str] = []
    best: tuple[int, Path] | None = None
    for java in candidates:
        if not java.is_file():
            continue
        major = _java_major(java)
        seen.append(f"{java} ({major})")
        if major is not None and major >= _MIN_JAVA and (best is None or major > best[0]):
            best = (major, java)
            if java == candidates[0] and env.get("JAVA_HOME"):
                break  # JAVA_HOME wins when it is recent enough
    if best is None:
        found = ", ".join(seen) or "none"
        raise FatalError(f"Debezium Server {DEBEZIUM_VERSION} needs Java {_MIN_JAVA}+; found: {found}")
    return best[1]


# ---- column types for the processor -----------------------------------------------------------------------


def publish_source_types(name: str, source: Source, rdi: redis.Redis, server_name: str) -> int:
    """Publishes the column types of the tables a PostgreSQL/MySQL/MariaDB ``source`` captures to each table's
    stream schema hash (``data:<server_name>.<schema>.<table>``); returns how many tables. Other databases: 0
    (the processor then passes Debezium's values through). ``source`` must have its secrets resolved.
    Idempotent. Raises what the drivers raise."""
    kind = getattr(source.connection, "type", None)
    from rdi.stream_schema import publish_types

    if kind == "postgresql":
        import psycopg

        from rdi.collectors.pg_catalog import load_tables, load_types
        from rdi.collectors.pg_types import column_type_for
        from rdi.collectors.settings import PgCollectorSettings

        pg = PgCollectorSettings.from_source(name, source)
        specs = {f"{t.schema}.{t.table}" if t.schema else t.table: t.spec for t in pg.tables} if pg.tables else None
        with psycopg.connect(pg.dsn(), autocommit=True) as conn:
            tables = load_tables(conn, schemas=list(pg.schemas) if pg.schemas else None, tables=specs)
            types = load_types(conn, {c.type_oid for t in tables for c in t.columns})
        pipe = rdi.pipeline(transaction=False)
        for table in tables:
            columns = {c.name: column_type_for(c, types) for c in table.columns}
            publish_types(pipe, keys.staging_stream(server_name, table.schema, table.name), columns)
        pipe.execute()
        return len(tables)
    if kind in ("mysql", "mariadb"):
        import pymysql

        from rdi.collectors.mysql_snapshot import load_tables as load_mysql_tables
        from rdi.collectors.mysql_types import schema_entry
        from rdi.collectors.settings import MySqlCollectorSettings
        from rdi.events.types import ColumnType

        my = MySqlCollectorSettings.from_source(name, source)
        wanted = {(t.schema, t.table): t.spec for t in my.tables} if my.tables else None
        conn = pymysql.connect(**my.connect_args())
        try:
            found = load_mysql_tables(conn, my.databases, wanted)
        finally:
            conn.close()
        pipe = rdi.pipeline(transaction=False)
        for info in found:
            columns = {c.name: ColumnType(**schema_entry(c, my.decimal_mode)) for c in info.columns}
            publish_types(pipe, keys.staging_stream(server_name, info.database, info.name), columns)
        pipe.execute()
        return len(found)
    return 0


# ---- the process ------------------------------------------------------------------------------------------


class DebeziumServerCollector:
    """Runs Debezium Server for one source until ``stop`` is set; ``run()`` returns 0 when stopped.

    ``config`` is the source's :class:`DebeziumConfig` (its ``secret_env`` as written in config.yaml, resolved
    here with ``secrets``); ``types`` publishes the captured tables' column types (called before each start
    and every ``types_every_s`` while running; None: nothing is published).
    """

    def __init__(
        self,
        source: str,
        config: DebeziumConfig,
        rdi: redis.Redis,
        *,
        secrets: SecretStore | None = None,
        stop: threading.Event | None = None,
        home: Path | None = None,
        types: Callable[[], int] | None = None,
        types_every_s: float = 10.0,
        max_backoff_s: float = 30.0,
    ) -> None:
        self.source = source
        self.config = config
        self.rdi = rdi
        self.secrets = secrets or SecretStore.from_environment()
        self.stop = stop or threading.Event()
        self.home = home
        self.types = types
        self.types_every_s = types_every_s
        self.max_backoff_s = max_backoff_s
        self.restarts = 0
        self.process: subprocess.Popen[bytes] | None = None

    def run(self) -> int:
        """Raises :class:`ConfigError` (a secret that can't be resolved) and :class:`FatalError` (no distribution,
        no Java 21+), after publishing the ``failed`` phase for the latter."""
        env = self._child_env()  # a missing secret fails before anything is downloaded or started
        try:
            home = ensure_distribution(self.home)
            java = find_java()
        except FatalError as exc:
            self._status("failed", error=str(exc))
            raise
        delay = 1.0
        with self._run_dir() as run_dir:
            while not self.stop.is_set():
                self._publish_types()
                started = time.monotonic()
                self._status("starting")
                self.process = self._spawn(java, home, run_dir, env)
                pump = threading.Thread(target=self._forward, args=(self.process,), daemon=True)
                pump.start()
                self._status("running", pid=self.process.pid)
                code = self._watch(self.process)
                pump.join(timeout=5)
                if self.stop.is_set():
                    break
                if time.monotonic() - started > 60:
                    delay = 1.0
                self.restarts += 1
                log.warning("Debezium Server exited with %s; restarting in %.0f s", code, delay)
                self._status("restarting", exit_code=code)
                self.stop.wait(delay)
                delay = min(delay * 2, self.max_backoff_s)
        self._status("stopped")
        return 0

    # ---- pieces ---------------------------------------------------------------------------------

    def _child_env(self) -> dict[str, str]:
        resolution = resolve_references(dict(self.config.secret_env), self.secrets)
        if resolution.problems:
            path, message = resolution.problems[0]
            raise ConfigError(f"sources.{self.source}: {path[0]}: {message}")
        env = {k: v for k, v in os.environ.items() if not k.startswith("DEBEZIUM_")}
        env.update(resolution.data)
        if self.config.java_options:
            env["JAVA_OPTS"] = self.config.java_options
        return env

    @contextmanager
    def _run_dir(self) -> Iterator[Path]:
        run_dir = Path(tempfile.mkdtemp(prefix=f"rdi-debezium-{self.source}-"))  # mkdtemp: mode 0700
        try:
            (run_dir / "config").mkdir(mode=0o700)
            (run_dir / "data").mkdir(mode=0o700)
            path = run_dir / "config" / "application.properties"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(render_properties(self.config.properties))
            log.info("Debezium Server configuration: %s", path)
            yield run_dir
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)

    def _spawn(self, java: Path, home: Path, run_dir: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
        runner = sorted(home.glob("debezium-server-*-runner.jar"))[0]
        classpath = os.pathsep.join([str(runner), str(home / "config" / "lib"), str(home / "lib" / "*")])
        # JBoss threads reset thread locals through java.lang internals: Java 24+ refuses unless it is opened.
        opts = ["--add-opens", "java.base/java.lang=ALL-UNNAMED", *env.get("JAVA_OPTS", "").split()]
        command = [str(java), *opts, "-cp", classpath, "io.debezium.server.Main"]
        setpriv = shutil.which("setpriv")
        if setpriv is not None:  # SIGTERM to Debezium Server if this process dies without stopping it (SIGKILL)
            command = [setpriv, "--pdeathsig", "TERM", "--", *command]
        log.info("starting Debezium Server %s with %s", DEBEZIUM_VERSION, java)
        return subprocess.Popen(
            command, cwd=run_dir, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def _forward(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.decode(errors="replace").rstrip()
            if line:
                log.info("debezium: %s", line)

    def _watch(self, process: subprocess.Popen[bytes]) -> int:
        next_types = time.monotonic() + self.types_every_s
        while True:
            try:
                return process.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                pass
            if self.stop.is_set():
                return self._terminate(process)
            if self.types is not None and time.monotonic() >= next_types:
                self._publish_types()
                next_types = time.monotonic() + self.types_every_s

    def _terminate(self, process: subprocess.Popen[bytes]) -> int:
        log.info("stopping Debezium Server (pid %d)", process.pid)
        with suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        try:
            return process.wait(timeout=_STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            log.warning("Debezium Server (pid %d) still running after %.0f s: SIGKILL", process.pid, _STOP_WAIT_S)
            with suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
            return process.wait()

    def _publish_types(self) -> None:
        if self.types is None:
            return
        try:
            self.types()
        except Exception as exc:  # the source may be down for a moment: Debezium retries on its own
            log.warning("cannot publish column types yet: %s", str(exc).splitlines()[0] if str(exc) else exc)

    def _status(self, phase: str, **extra: Any) -> None:
        fields: dict[str, Any] = {
            "phase": phase, "collector": "debezium-server", "version": DEBEZIUM_VERSION,
            "restarts": self.restarts, "updated_at": int(time.time() * 1000), **extra,
        }  # fmt: skip
        try:
            key = keys.collector_status(self.source)
            pipe = self.rdi.pipeline(transaction=True)
            pipe.delete(key)
            pipe.hset(key, mapping={k: str(v) for k, v in fields.items()})
            pipe.execute()
        except redis.RedisError as exc:
            log.warning("cannot publish the collector status: %s", exc)
