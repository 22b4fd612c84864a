"""The HA leader lease in the RDI DB: one controller at a time runs the data plane (rdi-compat-spec §6.3).

Protocol (names in :mod:`rdi.keys`):

* **acquire** — ``SET rdi:ha:lock <instance id> NX PX <ttl>``; on success ``INCR rdi:ha:fence`` gives the new
  leader's *fencing token* (both in one Lua script, so every acquisition gets a larger token than the last);
* **renew** — a Lua compare-and-``PEXPIRE``: extends the lease only while the lock still holds our id;
* **release** — a Lua compare-and-``DEL`` (a clean shutdown hands over at once instead of after the TTL).

A leader must stop acting *before* anyone else can acquire: the lock may expire in Redis ``ttl`` after the
last renewal was *sent*, so :attr:`Lease.deadline` is measured from the moment the request left, on the
monotonic clock, minus a safety margin for clock drift. :meth:`Lease.held` turns false at that deadline even
when the RDI DB cannot be reached at all — the self-fencing rule of a leader cut off from its database.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import redis

from rdi import keys

__all__ = ["Lease"]

# KEYS: lock, fence; ARGV: holder, ttl ms. Returns the new fencing token, or 0 when someone else holds it.
# Re-acquiring a lock we still hold (a restart with the same id inside the TTL) counts as a new acquisition.
_ACQUIRE = """
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return redis.call('INCR', KEYS[2])
"""

# KEYS: lock; ARGV: holder, ttl ms. 1 when extended, 0 when the lock is gone or someone else's.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Lease:
    """One controller's view of the leader lease.

    ``clock`` is a monotonic clock in seconds (a parameter so that tests can drive expiry without sleeping).
    Redis errors from :meth:`acquire`/:meth:`renew` propagate; the lease stays as it was, and :meth:`held`
    goes false at the deadline on its own.
    """

    def __init__(
        self,
        client: redis.Redis,
        instance_id: str,
        ttl_ms: int = 10_000,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_ms < 100:
            msg = f"`ttl_ms` must be at least 100, got {ttl_ms} instead"
            raise ValueError(msg)
        self.client = client
        self.instance_id = instance_id
        self.ttl_ms = ttl_ms
        self._clock = clock
        self.token = 0
        """Fencing token of the current tenure (0 when never leader)."""
        self.deadline = 0.0
        """Monotonic time after which this instance must consider itself deposed."""

    @property
    def margin_s(self) -> float:
        """Time kept in hand before the lock can expire in Redis: 20% of the TTL."""
        return self.ttl_ms / 1000.0 * 0.2

    def held(self) -> bool:
        """True while this instance may act as the leader (a renewal succeeded recently enough)."""
        return self.token > 0 and self._clock() < self.deadline

    def acquire(self) -> bool:
        """Tries to become the leader; True (with a new :attr:`token`) when this instance now holds the lease."""
        sent = self._clock()
        token = int(self.client.eval(_ACQUIRE, 2, keys.HA_LOCK, keys.HA_FENCE, self.instance_id, self.ttl_ms))
        if token:
            self.token = token
            self.deadline = sent + self.ttl_ms / 1000.0 - self.margin_s
        return bool(token)

    def renew(self) -> bool:
        """Extends the lease; False (and :meth:`held` false from now on) when another instance holds it."""
        sent = self._clock()
        renewed = int(self.client.eval(_RENEW, 1, keys.HA_LOCK, self.instance_id, self.ttl_ms))
        if renewed:
            self.deadline = sent + self.ttl_ms / 1000.0 - self.margin_s
        else:
            self.deadline = 0.0
        return bool(renewed)

    def release(self) -> bool:
        """Gives the lease up if held (idempotent); True when this call deleted the lock."""
        self.deadline = 0.0
        return bool(self.client.eval(_RELEASE, 1, keys.HA_LOCK, self.instance_id))

    def holder(self) -> str | None:
        """The instance id in the lock right now, or ``None``."""
        value = self.client.get(keys.HA_LOCK)
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)
