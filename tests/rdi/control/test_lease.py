"""The HA lease against a real Redis: acquire, renew, expiry, fencing tokens, and a stale leader's refused writes.

Expiry in Redis is driven by ``PEXPIRE`` on the lock and the leader's own deadline by a fake monotonic clock,
so nothing here sleeps waiting for a TTL.
"""

from __future__ import annotations

import pytest
import redis

from rdi import keys
from rdi.control.lease import Lease
from rdi.control.store import PipelineStatus, PipelineStore, write_status

pytestmark = pytest.mark.redis


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _expire(client: redis.Redis) -> None:
    """The TTL running out in Redis, without waiting for it."""
    client.delete(keys.HA_LOCK)


def _status(leader: str, token: int) -> PipelineStatus:
    return PipelineStatus("running", 1, [], [], True, 1, 0, leader, token, 1)


def test_first_acquirer_leads_and_the_other_does_not(redis_client: redis.Redis) -> None:
    a, b = Lease(redis_client, "a", 10_000), Lease(redis_client, "b", 10_000)
    assert (a.acquire(), b.acquire(), a.held(), b.held(), a.holder()) == (True, False, True, False, "a")


def test_the_lock_carries_the_ttl(redis_client: redis.Redis) -> None:
    Lease(redis_client, "a", 10_000).acquire()
    assert 9_000 < redis_client.pttl(keys.HA_LOCK) <= 10_000


def test_renew_extends_the_deadline_from_when_it_was_sent(redis_client: redis.Redis) -> None:
    clock = Clock()
    lease = Lease(redis_client, "a", 10_000, clock=clock)
    lease.acquire()
    clock.now += 7.0
    renewed = lease.renew()
    clock.now += 7.0  # 14 s after acquiring, 7 s after renewing: still inside the renewed lease
    assert (renewed, lease.held(), lease.deadline) == (True, True, 107.0 + 10.0 - 2.0)


def test_a_leader_that_cannot_renew_stops_holding_before_the_ttl_runs_out(redis_client: redis.Redis) -> None:
    clock = Clock()
    lease = Lease(redis_client, "a", 10_000, clock=clock)
    lease.acquire()
    clock.now += 8.0  # TTL minus the 20% margin: self-fenced while the lock may still exist in Redis
    assert (lease.held(), Lease(redis_client, "x").holder()) == (False, "a")


def test_renewal_fails_once_another_instance_acquired_the_expired_lock(redis_client: redis.Redis) -> None:
    a, b = Lease(redis_client, "a", 10_000), Lease(redis_client, "b", 10_000)
    a.acquire()
    _expire(redis_client)
    b.acquire()
    assert (a.renew(), a.held(), b.held(), b.holder()) == (False, False, True, "b")


def test_every_acquisition_gets_a_larger_fencing_token(redis_client: redis.Redis) -> None:
    a, b = Lease(redis_client, "a", 10_000), Lease(redis_client, "b", 10_000)
    tokens = []
    for lease in (a, b, a):
        assert lease.acquire()
        tokens.append(lease.token)
        _expire(redis_client)
    assert tokens == sorted(set(tokens)) and len(tokens) == 3


def test_release_hands_over_at_once_and_never_deletes_another_holders_lock(redis_client: redis.Redis) -> None:
    a, b = Lease(redis_client, "a", 10_000), Lease(redis_client, "b", 10_000)
    a.acquire()
    released = a.release()
    acquired = b.acquire()
    assert (released, acquired, a.release(), b.holder()) == (True, True, False, "b")


def test_a_stale_leaders_status_write_is_refused(redis_client: redis.Redis) -> None:
    PipelineStore(redis_client).deploy({"config.yaml": "sources: {}\n"})
    a, b = Lease(redis_client, "a", 10_000), Lease(redis_client, "b", 10_000)
    a.acquire()
    first = write_status(redis_client, "default", _status("a", a.token), holder="a")
    _expire(redis_client)
    b.acquire()
    stale = write_status(redis_client, "default", _status("a", a.token), holder="a")
    status = PipelineStore(redis_client).status()
    assert status is not None
    assert (first, stale, status.leader, status.fencing_token) == (True, False, "a", a.token)
    assert write_status(redis_client, "default", _status("b", b.token), holder="b")
    status = PipelineStore(redis_client).status()
    assert status is not None and (status.leader, status.fencing_token) == ("b", b.token)
