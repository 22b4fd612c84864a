"""Clients of the pipeline's Redis targets (`targets.<name>.connection` with `type: redis`), made on first use.

:func:`redis_client` connects to one target and tells a Redis Cluster from a single server (``INFO cluster``);
:class:`TargetConnections` keeps one client per target name for the processor (its ``redis.lookup`` reads and
its output). Driver errors are translated here, in :func:`translate_error`, into the rdi tree (``rdi.errors``):

* a refused login, a missing ACL permission, a TLS file that does not exist or a failed TLS handshake:
  :class:`~rdi.errors.FatalError` — retrying cannot help;
* a refused or lost connection, a timeout, a server still loading: :class:`~rdi.errors.RetryableError`.

Every message is one line naming the target, its address and the setting to check; it never contains the
password or the key passphrase.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias

import redis
from hiredis import pack_command
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from rdi.config.processors import Processors
from rdi.config.targets import RedisConnection, Target
from rdi.errors import BadRecordError, FatalError, RdiError, RetryableError, one_line

__all__ = [
    "RedisClient",
    "ReplyError",
    "RetryPolicy",
    "TargetConnections",
    "classify_reply",
    "redis_client",
    "reply_text",
    "send_raw",
    "translate_error",
]

log = logging.getLogger("rdi.connections")

RedisClient: TypeAlias = "redis.Redis | RedisCluster"
"""A client of one target: a single server (or a primary behind a proxy) or a Redis Cluster."""

_DEFAULT_CONNECT_TIMEOUT_S: Final = 2.0
_DEFAULT_SOCKET_TIMEOUT_S: Final = 10.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a target write is tried: ``max_attempts`` in all, waiting
    ``initial_delay_ms`` after the first failure, then ``multiplier`` times longer each time, at most
    ``max_delay_ms``."""

    max_attempts: int = 5
    initial_delay_ms: int = 1000
    max_delay_ms: int = 10000
    multiplier: float = 2.0

    @classmethod
    def for_target(cls, processors: Processors) -> RetryPolicy:
        """`processors.retry_*`; an `advanced.target` `retry.*` key given explicitly wins."""
        policy = cls(
            max_attempts=processors.retry_max_attempts,
            initial_delay_ms=processors.retry_initial_delay_ms,
            max_delay_ms=processors.retry_max_delay_ms,
        )
        advanced = processors.advanced.target if processors.advanced else None
        if advanced is None:
            return policy
        given = advanced.model_fields_set
        return cls(
            max_attempts=advanced.retry_max_attempts if "retry_max_attempts" in given else policy.max_attempts,
            initial_delay_ms=(
                advanced.retry_initial_delay_ms if "retry_initial_delay_ms" in given else policy.initial_delay_ms
            ),
            max_delay_ms=advanced.retry_max_delay_ms if "retry_max_delay_ms" in given else policy.max_delay_ms,
            multiplier=advanced.retry_backoff_multiplier,
        )

    def delay_s(self, failed_attempts: int) -> float:
        """Seconds to wait after ``failed_attempts`` (≥ 1) failed attempts, before the next one."""
        delay_ms = self.initial_delay_ms * self.multiplier ** max(failed_attempts - 1, 0)
        return min(delay_ms, self.max_delay_ms) / 1000.0


ReplyError: TypeAlias = Literal["entry", "access", "transient", "noscript", "moved"]
"""What an error reply to one write means: the entry's fault (``WRONGTYPE``, a JSON error…: dead-letter it),
an ACL or login problem (stop), a server state that passes (``OOM``, ``LOADING``, ``READONLY``, a lost
connection…: retry), a script missing from the script cache, or a key served by another cluster node."""

_LOGIN_ERRORS: Final = frozenset({"NOAUTH", "WRONGPASS"})
_TRANSIENT_ERRORS: Final = frozenset(
    {"OOM", "LOADING", "BUSY", "MASTERDOWN", "READONLY", "TRYAGAIN", "CLUSTERDOWN", "NOREPLICAS", "MISCONF"}
)


def _code(exc: BaseException) -> str:
    # redis-py strips the code of the errors it has a class for (``OOM``, ``NOSCRIPT``, ``ERR``…) into
    # ``status_code``; the others keep it as their first word (``WRONGTYPE``…).
    code = getattr(exc, "status_code", None)
    return code if isinstance(code, str) and code else str(exc).split(" ", 1)[0]


def reply_text(exc: BaseException) -> str:
    """An error reply as the server sent it, on one line: ``WRONGTYPE Operation against…``."""
    text = " ".join(str(exc).split())
    code = getattr(exc, "status_code", None)
    if isinstance(code, str) and code and not text.startswith(code):
        text = f"{code} {text}"
    return text or type(exc).__name__


def classify_reply(exc: BaseException) -> ReplyError:
    """Sorts an error reply (or the exception a pipeline gave in its place) by what the writer does next."""
    code = _code(exc)
    if (
        isinstance(
            exc, redis.AuthenticationError | redis.exceptions.AuthorizationError | redis.exceptions.NoPermissionError
        )
        or code == "NOPERM"
        or code in _LOGIN_ERRORS
    ):
        return "access"
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError | redis.exceptions.ClusterError):
        return "transient"
    if isinstance(exc, redis.exceptions.NoScriptError) or code == "NOSCRIPT":
        return "noscript"
    if isinstance(exc, redis.exceptions.AskError) or code in ("MOVED", "ASK"):
        return "moved"
    if isinstance(exc, redis.exceptions.OutOfMemoryError | redis.exceptions.ReadOnlyError) or code in _TRANSIENT_ERRORS:
        return "transient"
    return "entry"


def _where(name: str, conn: RedisConnection) -> str:
    return f"target `{name}` ({conn.host}:{conn.port})"


def _one_line(exc: BaseException, conn: RedisConnection) -> str:
    text = one_line(exc)
    for secret in (conn.password, conn.key_password):
        value = secret.get_secret_value() if secret is not None else ""
        if value:
            text = text.replace(value, "***")
    return text


def _tls_failure(exc: BaseException) -> bool:
    cause = exc.__cause__ or exc.__context__
    return isinstance(cause, ssl.SSLError) or "SSL" in str(exc)


def translate_error(exc: redis.RedisError, name: str, conn: RedisConnection) -> RdiError:
    """The rdi error for a driver error met while talking to target ``name``: fatal for a refused login, ACL
    or TLS setup, retryable for a lost, refused or timed-out connection. The message is one line without
    secrets."""
    where = _where(name, conn)
    text = _one_line(exc, conn)
    if isinstance(exc, redis.AuthenticationError) or (
        isinstance(exc, redis.ResponseError) and _code(exc) in _LOGIN_ERRORS
    ):
        return FatalError(f"{where} refused the login ({text}); check `targets.{name}.connection.user` and `password`")
    if isinstance(exc, redis.exceptions.AuthorizationError) or (
        isinstance(exc, redis.ResponseError) and classify_reply(exc) == "access"
    ):
        return FatalError(f"{where} denied a command ({text}); check the ACL of `targets.{name}.connection.user`")
    if isinstance(exc, redis.ConnectionError) and not isinstance(exc, redis.exceptions.BusyLoadingError):
        if _tls_failure(exc):
            return FatalError(
                f"{where}: TLS failed ({text}); check `cacert`, `cert`, `key` and `key_password` of "
                f"`targets.{name}.connection`"
            )
        return RetryableError(f"cannot reach {where} ({text}); check that it runs and its `host` and `port`")
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        return RetryableError(f"{where} did not answer in time ({text})")
    return FatalError(f"{where} failed ({type(exc).__name__}: {text})")


def _check_tls_files(name: str, conn: RedisConnection) -> None:
    for field in ("cacert", "cert", "key"):
        path = getattr(conn, field)
        if path is not None and not os.path.isfile(path):
            raise FatalError(
                f"target `{name}`: the `{field}` file `{path}` does not exist; fix `targets.{name}.connection.{field}`"
            )


def _options(conn: RedisConnection, connect_timeout_s: float, socket_timeout_s: float) -> dict[str, Any]:
    options: dict[str, Any] = {
        "host": conn.host,
        "port": conn.port,
        "username": conn.user,
        "password": conn.password.get_secret_value() if conn.password is not None else None,
        "decode_responses": False,
        "socket_connect_timeout": connect_timeout_s,
        "socket_timeout": socket_timeout_s,
    }
    if conn.cacert is not None or conn.cert is not None:
        options.update(
            ssl=True,
            ssl_ca_certs=conn.cacert,
            ssl_certfile=conn.cert,
            ssl_keyfile=conn.key,
            ssl_password=conn.key_password.get_secret_value() if conn.key_password is not None else None,
        )
    return options


def _cluster_enabled(client: redis.Redis) -> bool:
    try:
        info = client.info("cluster")
    except redis.exceptions.NoPermissionError:
        # INFO denied by the ACL: taken for a single server; a MOVED reply later says otherwise
        # (`TargetConnections.reconnect_as_cluster`).
        return False
    return bool(info.get("cluster_enabled"))


def redis_client(
    conn: RedisConnection,
    *,
    name: str = "target",
    cluster: bool | None = None,
    connect_timeout_s: float = _DEFAULT_CONNECT_TIMEOUT_S,
    socket_timeout_s: float = _DEFAULT_SOCKET_TIMEOUT_S,
) -> RedisClient:
    """A connected client of ``conn`` (target ``name``, for messages), replies as bytes.

    TLS is used when ``cacert`` or ``cert`` is given (``cert``/``key``/``key_password`` for mutual TLS).
    A Redis Cluster (``INFO cluster`` says ``cluster_enabled:1``, or ``cluster=True``) gets a
    :class:`~redis.cluster.RedisCluster`, anything else a :class:`redis.Redis`. The plain client never retries
    by itself (the caller's :class:`RetryPolicy` does); the cluster client follows topology changes.

    Raises :class:`~rdi.errors.FatalError` (refused login, ACL, TLS file or handshake) or
    :class:`~rdi.errors.RetryableError` (unreachable, timeout); messages never contain a secret.
    """
    _check_tls_files(name, conn)
    options = _options(conn, connect_timeout_s, socket_timeout_s)
    single = redis.Redis(**options, retry=Retry(NoBackoff(), 0))
    try:
        if cluster is None:
            cluster = _cluster_enabled(single)
        if not cluster:
            return single
        single.close()
        return RedisCluster(**options, retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), 3))
    except redis.RedisError as exc:
        single.close()
        raise translate_error(exc, name, conn) from exc
    except OSError as exc:  # e.g. an unreadable key file, raised while building the TLS context
        single.close()
        raise FatalError(f"{_where(name, conn)}: {_one_line(exc, conn)}") from exc


class TargetConnections:
    """The pipeline's Redis targets by name, each connected on first use and then kept (thread-safe).

    ``targets`` is `config.yaml`'s `targets`; only those with a `redis` connection can be used here.
    """

    def __init__(
        self,
        targets: Mapping[str, Target],
        *,
        retry: RetryPolicy | None = None,
        connect_timeout_s: float = _DEFAULT_CONNECT_TIMEOUT_S,
        socket_timeout_s: float = _DEFAULT_SOCKET_TIMEOUT_S,
    ) -> None:
        self._targets = dict(targets)
        self.retry = retry or RetryPolicy()
        self._connect_timeout_s = connect_timeout_s
        self._socket_timeout_s = socket_timeout_s
        self._clients: dict[str, RedisClient] = {}
        self._lock = threading.Lock()

    def connection(self, name: str) -> RedisConnection:
        """The settings of target ``name``; :class:`~rdi.errors.FatalError` when there is no such Redis target."""
        target = self._targets.get(name)
        if target is None:
            known = ", ".join(f"`{n}`" for n in sorted(self._targets)) or "none"
            raise FatalError(f"no target named `{name}` in `config.yaml` (targets: {known}); add it under `targets`")
        if not isinstance(target.connection, RedisConnection):
            raise FatalError(
                f"target `{name}` is a `{target.connection.type}` connection; Redis outputs and lookups need "
                "`type: redis`"
            )
        return target.connection

    def get(self, name: str) -> RedisClient:
        """The client of target ``name``, connecting on the first call (see :func:`redis_client` for errors)."""
        client = self._clients.get(name)
        if client is not None:
            return client
        conn = self.connection(name)
        with self._lock:
            client = self._clients.get(name)
            if client is None:
                client = self._connect(name, conn, None)
                self._clients[name] = client
            return client

    def reconnect_as_cluster(self, name: str) -> RedisClient:
        """Replaces the client of ``name`` by a cluster client (a single-server client got a ``MOVED`` reply)."""
        conn = self.connection(name)
        with self._lock:
            old = self._clients.pop(name, None)
            if old is not None:
                old.close()
            client = self._connect(name, conn, True)
            self._clients[name] = client
            log.info("target `%s` is a Redis Cluster; now writing through a cluster client", name)
            return client

    def _connect(self, name: str, conn: RedisConnection, cluster: bool | None) -> RedisClient:
        return redis_client(
            conn,
            name=name,
            cluster=cluster,
            connect_timeout_s=self._connect_timeout_s,
            socket_timeout_s=self._socket_timeout_s,
        )

    def lookup(self, name: str, command: tuple[str, ...]) -> Any:
        """Runs one `redis.lookup` ``command`` (e.g. ``("HGETALL", "customer:7")``) on target ``name``: the reply
        :meth:`lookup_batch` gives, but an error reply (``WRONGTYPE``…) is raised as the
        :class:`~rdi.errors.BadRecordError` it is."""
        reply = self.lookup_batch(name, [command])[0]
        if isinstance(reply, BadRecordError):
            raise reply
        return reply

    def lookup_batch(self, name: str, commands: Sequence[tuple[str, ...]]) -> list[Any]:
        """Runs `redis.lookup` ``commands`` on target ``name`` in one pipelined round trip: one reply per
        command, in order, shaped as redis-py's ``execute_command`` gives it (bytes; ``SMEMBERS`` a set…).

        An error reply that is the record's fault (``WRONGTYPE``…) comes back as a value, a
        :class:`~rdi.errors.BadRecordError` ``lookup `<cmd>` on target `<name>` failed: <reply>``, so only that
        record is rejected. A refused login or ACL (``NOPERM``, ``NOAUTH``) raises
        :class:`~rdi.errors.FatalError` (:func:`translate_error`); a lost connection or a passing server state
        (``LOADING``, ``BUSY``…) is retried with :attr:`retry`, then raises
        :class:`~rdi.errors.RetryableError`. A single server answering ``MOVED`` is reconnected as a cluster.
        Reads only, so a retry sends every command again.
        """
        if not commands:
            return []
        failures = 0
        redirected = False
        while True:
            try:
                client = self.get(name)
                replies = _read(client, commands)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                error: RdiError = translate_error(exc, name, self.connection(name))
                if isinstance(error, FatalError):
                    raise error from exc
            except RetryableError as exc:  # connecting
                error = exc
            except redis.RedisError as exc:
                raise translate_error(exc, name, self.connection(name)) from exc
            else:
                problem = _first_failure(replies)
                if problem is None:
                    conn = self.connection(name)
                    return [
                        _lookup_error(name, command, reply, conn) if isinstance(reply, Exception) else reply
                        for command, reply in zip(commands, replies, strict=True)
                    ]
                kind = classify_reply(problem)
                if kind == "access":
                    raise translate_error(problem, name, self.connection(name)) from problem
                if kind == "moved" and not redirected:
                    redirected = True
                    self.reconnect_as_cluster(name)
                    continue
                error = RetryableError(f"target `{name}` replied `{reply_text(problem)}` to a lookup")
            failures += 1
            if failures >= self.retry.max_attempts:
                raise error
            time.sleep(self.retry.delay_s(failures))

    def close(self) -> None:
        """Closes every client; a later :meth:`get` connects again."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()


def _read(client: RedisClient, commands: Sequence[tuple[str, ...]]) -> list[Any]:
    """The replies to ``commands`` in one pipeline, errors as values, as ``execute_command`` shapes them."""
    if isinstance(client, RedisCluster):
        pipe = client.pipeline(transaction=False)  # type: ignore[no-untyped-call]
        for command in commands:
            pipe.execute_command(*command)
        replies: list[Any] = pipe.execute(raise_on_error=False)
        return replies
    replies = send_raw(client, commands)
    callbacks = client.response_callbacks
    for i, (command, reply) in enumerate(zip(commands, replies, strict=True)):
        callback = callbacks.get(command[0])  # type: ignore[no-untyped-call]
        if callback is not None and not isinstance(reply, Exception):
            replies[i] = callback(reply)
    return replies


def _first_failure(replies: Sequence[Any]) -> redis.RedisError | None:
    """The first error reply that is not one record's fault (ACL, passing server state, redirection)."""
    for reply in replies:
        if isinstance(reply, redis.RedisError) and classify_reply(reply) != "entry":
            return reply
    return None


def _lookup_error(name: str, command: tuple[str, ...], reply: Exception, conn: RedisConnection) -> BadRecordError:
    what = command[0] if command else ""
    error = BadRecordError(f"lookup `{what}` on target `{name}` failed: {_one_line(reply, conn)}")
    error.__cause__ = reply
    return error


_pack: Final[Callable[[Any], bytes]] = pack_command


def send_raw(client: redis.Redis, commands: Sequence[Sequence[Any]]) -> list[Any]:
    """Sends ``commands`` to a single server in one write on one connection and reads every reply, undecoded
    and without redis-py's response callbacks (raw RESP shapes); error replies are returned as values.

    The hot path of the processor's reads and writes: hiredis packs each command (redis-py's own pipeline
    packs in Python at about twice the cost) and parses the replies. Raises what the connection raises
    (``ConnectionError``, ``TimeoutError``); the connection is then dropped, not reused.
    """
    pool = client.connection_pool
    conn = pool.get_connection()
    try:
        conn.send_packed_command([b"".join(map(_pack, commands))], check_health=False)  # type: ignore[no-untyped-call]
        replies: list[Any] = []
        append = replies.append
        read = conn.read_response
        for _ in range(len(commands)):
            try:
                append(read(disable_decoding=True))
            except redis.ResponseError as exc:
                append(exc)
        return replies
    except BaseException:
        conn.disconnect()  # type: ignore[no-untyped-call]  # a half-read connection must not be reused
        raise
    finally:
        pool.release(conn)
