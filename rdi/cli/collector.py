"""`rdi collector`: run one source's collector in the foreground until SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType

import psycopg
import pymysql
import redis

from rdi.collectors.mysql import MySqlCollector
from rdi.collectors.postgres import PostgresCollector
from rdi.collectors.settings import MySqlCollectorSettings, PgCollectorSettings
from rdi.config import Pipeline
from rdi.errors import ConfigError, FatalError, RdiError, RetryableError
from rdi.metrics import serve_health

__all__ = ["CollectorHealth", "run_collector"]

log = logging.getLogger("rdi.collector")


class CollectorHealth:
    """What a collector's ``/readyz`` answers: ready while the collector runs (it is not backing off after an
    error) and the RDI DB answers a PING. Every collector gets it from :func:`run_collector`'s one dispatch."""

    def __init__(self, rdi_url: str) -> None:
        self.running = False
        self._client = redis.Redis.from_url(rdi_url, socket_connect_timeout=2, socket_timeout=2)

    def ready(self) -> bool:
        if not self.running:
            return False
        try:
            return bool(self._client.ping())
        except redis.RedisError:
            return False

    def close(self) -> None:
        self._client.close()


def run_collector(
    pipeline: Pipeline,
    source: str,
    rdi_url: str,
    *,
    written: Pipeline | None = None,
    health_port: int | None = None,
    health_addr: str = "0.0.0.0",
) -> int:
    """Runs the collector of ``source``; returns the process exit code (0 stopped, 1 failed, 2 config).

    ``written`` is the same pipeline validated with its ``${...}`` references kept: the Debezium Server
    collector (for sources rdi has no native collector for, or `collector: debezium`) writes them, never their
    values, into Debezium's properties. Without it, secret fields still stay out of the file.
    With ``health_port``, ``/healthz`` and ``/readyz`` (:class:`CollectorHealth`) are served on it.
    """
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    health = CollectorHealth(rdi_url)
    server = None
    if health_port is not None:
        try:
            server = serve_health(health.ready, health_port, health_addr)
        except OSError as exc:
            print(f"rdi collector: health port {health_port}: {exc.strerror}; use --health-port", file=sys.stderr)
            return 2
        log.info("health on http://%s:%d/healthz and /readyz", health_addr, server.port)
    try:
        return _dispatch(pipeline, source, rdi_url, written or pipeline, health)
    finally:
        if server is not None:
            server.close()
        health.close()


def _dispatch(pipeline: Pipeline, source: str, rdi_url: str, written: Pipeline, health: CollectorHealth) -> int:
    if source not in pipeline.config.sources:  # legacy write-behind: the capture of the RDI DB itself
        return _run_redis_capture(pipeline, source, rdi_url, health)
    config = pipeline.config.sources[source]
    if config.uses_debezium_server:
        return _run_debezium_server(pipeline, source, rdi_url, written, health)
    if config.is_redis:
        return _run_redis_capture(pipeline, source, rdi_url, health)
    kind = getattr(config.connection, "type", None)
    settings: PgCollectorSettings | MySqlCollectorSettings
    try:
        if kind == "postgresql":
            settings = PgCollectorSettings.from_source(source, config)
        elif kind in ("mysql", "mariadb"):
            settings = MySqlCollectorSettings.from_source(source, config)
        else:
            raise ConfigError(f"sources.{source}.connection.type: no native collector for `{kind}` yet")
    except ConfigError as exc:
        return _config_failed(exc)

    def run(client: redis.Redis, stop: threading.Event) -> None:
        if isinstance(settings, PgCollectorSettings):
            PostgresCollector(settings, client, stop=stop).run()
        else:
            MySqlCollector(settings, client, stop=stop).run()

    return _run_until_stopped(run, rdi_url, health, (psycopg.OperationalError, pymysql.OperationalError))


def _run_redis_capture(pipeline: Pipeline, source: str, rdi_url: str, health: CollectorHealth) -> int:
    from rdi.collectors.redis_capture import RedisCapture
    from rdi.collectors.settings import RedisCaptureSettings

    try:
        if source in pipeline.config.sources:
            count = len(pipeline.config.redis_sources)
            config = pipeline.config.sources[source]
            settings = RedisCaptureSettings.from_source(source, config, pipeline.jobs, redis_sources=count)
        else:
            settings = RedisCaptureSettings.for_rdi_db(source, rdi_url, pipeline.jobs)
    except ConfigError as exc:
        return _config_failed(exc)

    def run(client: redis.Redis, stop: threading.Event) -> None:
        RedisCapture(settings, client, stop=stop).run()

    return _run_until_stopped(run, rdi_url, health, ())


def _config_failed(exc: ConfigError) -> int:
    for issue in exc.issues:
        print(str(issue).lstrip(": "), file=sys.stderr)
    return 2


def _run_until_stopped(
    run: Callable[[redis.Redis, threading.Event], None],
    rdi_url: str,
    health: CollectorHealth,
    transient: tuple[type[BaseException], ...],
) -> int:
    """Runs a collector (``run(rdi_client, stop)``) until SIGTERM/SIGINT; a lost connection (the RDI DB's, or one
    of ``transient``) starts it over with a doubling backoff (1 s to 30 s). Returns the exit code."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("stopping (signal %d): finishing the current write", signum)
        stop.set()

    _on_stop_signals(on_signal)
    client = redis.Redis.from_url(rdi_url)
    retryable: tuple[type[BaseException], ...] = (RetryableError, redis.ConnectionError, redis.TimeoutError, *transient)
    delay = 1.0
    try:
        while not stop.is_set():
            try:
                health.running = True
                run(client, stop)
                return 0
            except retryable as exc:
                # Safe to start over: positions live in the RDI DB, and the source resends unstaged work.
                health.running = False
                log.warning(
                    "%s; starting over in %.0f s", str(exc).splitlines()[0] if str(exc) else type(exc).__name__, delay
                )
                stop.wait(delay)
                delay = min(delay * 2, 30.0)
            except (FatalError, ConfigError, RdiError) as exc:
                log.error("%s", exc)
                return 1
    finally:
        client.close()
    return 0


def _on_stop_signals(handler: Callable[[int, FrameType | None], None]) -> None:
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _run_debezium_server(
    pipeline: Pipeline, source: str, rdi_url: str, written: Pipeline, health: CollectorHealth
) -> int:
    from rdi.collectors.debezium import debezium_properties
    from rdi.collectors.debezium_server import DebeziumServerCollector, publish_source_types

    resolved = pipeline.config.sources[source]
    try:
        config = debezium_properties(source, written.config.sources[source], rdi_url)
    except ConfigError as exc:
        return _config_failed(exc)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("stopping (signal %d): stopping Debezium Server", signum)
        stop.set()

    _on_stop_signals(on_signal)
    topic = config.properties["debezium.source.topic.prefix"]
    client = redis.Redis.from_url(rdi_url)
    try:
        collector = DebeziumServerCollector(
            source, config, client, stop=stop, types=lambda: publish_source_types(source, resolved, client, topic)
        )
        health.running = True
        return collector.run()
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except FatalError as exc:
        log.error("%s", exc)
        return 1
    finally:
        client.close()
