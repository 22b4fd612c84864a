"""Logging in and bearer tokens.

``POST /api/v1/login`` checks the user name and password the way RDI does: by authenticating a fresh
connection to the RDI DB as that user (``AUTH user password``). A good login returns a JWT (HS256) signed with
``RDI_API_JWT_KEY`` (or the file ``RDI_API_JWT_KEY_FILE``; without either, a random key per server process,
so tokens then die with the server). Tokens carry ``sub`` (the user) and expire after ``RDI_API_TOKEN_TTL_S``
seconds (default 3600).
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import jwt
import redis

from rdi.errors import ConfigError, ConfigIssue

__all__ = ["TokenSigner", "check_credentials", "load_jwt_key"]

_ALGORITHM = "HS256"
_LOGIN_TIMEOUT_S = 5


def load_jwt_key(env: Mapping[str, str] | None = None) -> tuple[bytes, bool]:
    """The signing key and whether it was configured (False: a random one was made). Raises ConfigError."""
    env = os.environ if env is None else env
    text = env.get("RDI_API_JWT_KEY") or None
    path = env.get("RDI_API_JWT_KEY_FILE") or None
    if text is None and path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                [ConfigIssue("RDI_API_JWT_KEY_FILE", 0, "", f"cannot read {path}: {exc.strerror}")]
            ) from None
    if text is None:
        return secrets.token_bytes(32), False
    if len(text) < 32:
        message = "too short: use at least 32 characters (e.g. `openssl rand -hex 32`)"
        raise ConfigError([ConfigIssue("RDI_API_JWT_KEY", 0, "", message)])
    return text.encode(), True


@dataclass(frozen=True)
class TokenSigner:
    key: bytes
    ttl_s: int = 3600

    def issue(self, user: str, now: float | None = None) -> str:
        issued = int(time.time() if now is None else now)
        return jwt.encode({"sub": user, "iat": issued, "exp": issued + self.ttl_s}, self.key, algorithm=_ALGORITHM)

    def verify(self, token: str) -> str | None:
        """The user a valid, unexpired token was issued to; None otherwise."""
        try:
            claims = jwt.decode(token, self.key, algorithms=[_ALGORITHM], options={"require": ["sub", "exp"]})
        except jwt.PyJWTError:
            return None
        sub = claims.get("sub")
        return sub if isinstance(sub, str) else None


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=host))


def check_credentials(rdi_url: str, username: str, password: str) -> bool:
    """True when the RDI DB accepts ``AUTH username password`` on a new connection.

    Raises redis.ConnectionError (and TimeoutError) when the RDI DB cannot be reached.
    """
    client = redis.Redis.from_url(
        _without_credentials(rdi_url),
        username=username or "default",
        password=password,
        socket_connect_timeout=_LOGIN_TIMEOUT_S,
        socket_timeout=_LOGIN_TIMEOUT_S,
    )
    try:
        client.ping()
    except redis.AuthenticationError:
        return False
    except redis.ResponseError as exc:  # "WRONGPASS ..." or "AUTH <password> called without any password configured"
        if "WRONGPASS" in str(exc) or "AUTH" in str(exc):
            return False
        raise
    finally:
        client.close()
    return True
