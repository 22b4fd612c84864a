"""`rdi collector`: run one source's collector in the foreground until SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

import psycopg
import pymysql
import redis

from rdi.collectors.mysql import MySqlCollector
from rdi.collectors.postgres import PostgresCollector
from rdi.collectors.settings import MySqlCollectorSettings, PgCollectorSettings
from rdi.config import Pipeline
from rdi.errors import ConfigError, FatalError, RdiError, RetryableError

__all__ = ["run_collector"]

log = logging.getLogger("rdi.collector")


def run_collector(pipeline: Pipeline, source: str, rdi_url: str) -> int:
    """Runs the collector of ``source``; returns the process exit code (0 stopped, 1 failed, 2 config)."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = pipeline.config.sources[source]
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
        for issue in exc.issues:
            print(str(issue).lstrip(": "), file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("stopping (signal %d): finishing the current write", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    client = redis.Redis.from_url(rdi_url)
    delay = 1.0
    try:
        while not stop.is_set():
            try:
                if isinstance(settings, PgCollectorSettings):
                    PostgresCollector(settings, client, stop=stop).run()
                else:
                    MySqlCollector(settings, client, stop=stop).run()
                return 0
            except (
                RetryableError,
                psycopg.OperationalError,
                pymysql.OperationalError,
                redis.ConnectionError,
                redis.TimeoutError,
            ) as exc:
                # Safe to start over: positions live in the RDI DB, and the source resends unstaged work.
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
