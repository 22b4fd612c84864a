"""Backlog of the staging streams, read from the RDI database for ``rdi_incoming_entries{operation="pending"}``
and ``rdi_stream_event_latency_ms``.

For each stream matching the pattern, *pending* is what the processor's consumer group has not acknowledged
yet: the entries delivered but not acknowledged (``XINFO GROUPS`` ``pending``) plus those not delivered yet
(``lag``). The latency is the age of the oldest of them, from the millisecond part of its entry id (the
time the collector added it), or 0 when nothing is pending.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from redis.exceptions import RedisError, ResponseError

from rdi.keys import STREAM_PATTERN
from rdi.metrics.processor import ProcessorMetrics

if TYPE_CHECKING:
    import redis

__all__ = ["StreamMonitor", "stream_backlog"]

_log = logging.getLogger(__name__)

_LAG_COUNT_LIMIT: Final = 10_000
"""When Redis cannot compute a group's lag (deletions in the stream), count at most this many entries."""


def _now_ms() -> int:
    return int(time.time() * 1000)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _id_ms(entry_id: Any) -> int:
    return int(_text(entry_id).partition("-")[0])


def stream_backlog(rdi: redis.Redis, stream: str, group: str) -> tuple[int, Any]:
    """(entries of ``stream`` the consumer ``group`` has not acknowledged — delivered and pending plus not yet
    delivered —, id of the oldest of them or ``None``); a stream the group does not read yet: all its entries.
    Raises ``ResponseError`` when the stream is gone."""
    groups = rdi.xinfo_groups(stream)
    info = next((g for g in groups if _text(g["name"]) == group), None)
    if info is None:
        first = rdi.xrange(stream, count=1)
        return int(rdi.xlen(stream)), (first[0][0] if first else None)
    delivered = int(info["pending"])
    after = "(" + _text(info["last-delivered-id"])
    lag = info.get("lag")
    if lag is None:
        lag = len(rdi.xrange(stream, min=after, count=_LAG_COUNT_LIMIT) or [])
    if delivered:
        summary = rdi.xpending(stream, group)
        return delivered + int(lag), summary["min"]
    if lag:
        first = rdi.xrange(stream, min=after, count=1)
        return int(lag), (first[0][0] if first else None)
    return 0, None


class StreamMonitor:
    """Polls the RDI database every ``interval_s`` in a background thread and sets the backlog gauges."""

    def __init__(
        self,
        rdi: redis.Redis,
        group: str,
        metrics: ProcessorMetrics,
        *,
        pattern: str = STREAM_PATTERN,
        interval_s: float = 5.0,
        now_ms: Callable[[], int] = _now_ms,
    ) -> None:
        """``rdi`` is a client of the RDI database (either ``decode_responses``), ``group`` the processor's
        consumer group (:func:`rdi.keys.consumer_group`); ``now_ms`` is the clock latencies are measured by."""
        self.rdi = rdi
        self.group = group
        self.metrics = metrics
        self.pattern = pattern
        self.interval_s = interval_s
        self.now_ms = now_ms
        self._known: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self) -> None:
        """Set ``pending`` and latency of every stream matching the pattern; forget streams that are gone.

        A stream the group does not read yet counts all its entries as pending. Raises the client's
        ``RedisError`` if the database cannot be read (the gauges keep their last values).
        """
        streams = sorted(_text(k) for k in self.rdi.scan_iter(match=self.pattern, count=1000, _type="STREAM"))
        now = self.now_ms()
        seen: set[str] = set()
        for stream in streams:
            try:
                pending, oldest_id = stream_backlog(self.rdi, stream, self.group)
            except ResponseError:  # deleted since the scan
                continue
            latency = max(now - _id_ms(oldest_id), 0) if oldest_id is not None else 0
            self.metrics.set_pending(stream, pending, latency)
            seen.add(stream)
        for gone in self._known - seen:
            self.metrics.forget_pending(gone)
        self._known = seen

    def start(self) -> None:
        """Poll in a daemon thread until :meth:`stop`; a failed poll is logged and retried next interval."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="rdi-stream-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling and wait for the thread to end (at most one poll). Idempotent."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except RedisError as exc:
                _log.warning("stream monitor: cannot read the RDI database (%s: %s); retrying", type(exc).__name__, exc)
            except Exception:  # the thread must outlive a bug in one poll; the metrics just go stale
                _log.exception("stream monitor: poll failed; retrying")
            self._stop.wait(self.interval_s)
