"""The secret vault: ``${NAME}`` values of a pipeline, Fernet-encrypted in the RDI DB (``rdi:pipeline:<name>:secrets``).

The key is never stored beside the values: it comes from ``RDI_SECRETS_KEY`` (a Fernet key: 32 url-safe base64
bytes) or the file named by ``RDI_SECRETS_KEY_FILE``. Without a key the vault refuses to store and resolves
nothing, so a pipeline then takes its secrets from the environment or ``RDI_SECRETS_DIR`` only.

Values leave the vault in one place, :meth:`SecretVault.resolve`, which the controller uses to build the
environment of the processes it starts; the API and the CLI only ever see names.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import redis
from cryptography.fernet import Fernet, InvalidToken

from rdi import keys
from rdi.errors import RdiError

__all__ = ["SECRET_NAME", "SecretVault", "SecretVaultError", "check_name", "generate_key", "load_key"]

SECRET_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
"""What a secret may be called: an environment variable name (it becomes one in the processes the controller starts)."""

_KEY_HINT = "make one with `python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`"


class SecretVaultError(RdiError):
    """The vault cannot do what was asked: no key, a bad key, a bad name, or values the key cannot decrypt."""


def generate_key() -> bytes:
    """A new random Fernet key, for ``RDI_SECRETS_KEY``."""
    return Fernet.generate_key()


def load_key(env: Mapping[str, str] | None = None) -> bytes | None:
    """The key from ``RDI_SECRETS_KEY``, else from the file ``RDI_SECRETS_KEY_FILE``; None when neither is set.

    Raises SecretVaultError when the file cannot be read or the key is not a Fernet key.
    """
    env = os.environ if env is None else env
    text = env.get("RDI_SECRETS_KEY") or None
    where = "RDI_SECRETS_KEY"
    path = env.get("RDI_SECRETS_KEY_FILE") or None
    if text is None and path is not None:
        where = f"RDI_SECRETS_KEY_FILE ({path})"
        try:
            text = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            msg = f"cannot read the secrets key: {where}: {exc.strerror}"
            raise SecretVaultError(msg) from None
    if text is None:
        return None
    key = text.strip().encode()
    _fernet(key, where)
    return key


def _fernet(key: bytes, where: str = "the secrets key") -> Fernet:
    try:
        return Fernet(key)
    except (ValueError, TypeError):
        msg = f"{where} is not a Fernet key (32 url-safe base64-encoded bytes); {_KEY_HINT}"
        raise SecretVaultError(msg) from None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class SecretVault:
    """The secrets of one pipeline. ``key`` None: storing raises, resolving yields nothing; names still list."""

    def __init__(self, client: redis.Redis, pipeline: str = "default", key: bytes | None = None) -> None:
        self.client = client
        self.pipeline = pipeline
        self._fernet = None if key is None else _fernet(key)

    @classmethod
    def from_env(
        cls, client: redis.Redis, pipeline: str = "default", env: Mapping[str, str] | None = None
    ) -> SecretVault:
        """A vault keyed by :func:`load_key` (``RDI_SECRETS_KEY`` / ``RDI_SECRETS_KEY_FILE``)."""
        return cls(client, pipeline, load_key(env))

    @property
    def has_key(self) -> bool:
        return self._fernet is not None

    @property
    def _hash(self) -> str:
        return keys.pipeline_secrets(self.pipeline)

    def set(self, name: str, value: str) -> None:
        """Stores ``value`` encrypted under ``name`` (replacing any). Raises SecretVaultError without a key or
        for a name that is not an environment variable name."""
        check_name(name)
        if self._fernet is None:
            msg = f"cannot store secret `{name}`: no secrets key; set RDI_SECRETS_KEY or RDI_SECRETS_KEY_FILE"
            msg += f" ({_KEY_HINT})"
            raise SecretVaultError(msg)
        self.client.hset(self._hash, name, self._fernet.encrypt(value.encode()))

    def delete(self, name: str) -> bool:
        """Removes ``name``; False when it was not set."""
        return bool(self.client.hdel(self._hash, name))

    def names(self) -> list[str]:
        """The names of the stored secrets, sorted (values are never listed)."""
        return sorted(_text(n) for n in self.client.hkeys(self._hash))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(self.client.hexists(self._hash, name))

    def resolve(self) -> dict[str, str]:
        """Every secret, decrypted: name → value. Empty without a key.

        Raises SecretVaultError naming the secrets the key cannot decrypt (they were stored with another key).
        """
        if self._fernet is None:
            return {}
        values: dict[str, str] = {}
        failed: list[str] = []
        for raw_name, token in self.client.hgetall(self._hash).items():
            name = _text(raw_name)
            try:
                values[name] = self._fernet.decrypt(token if isinstance(token, bytes) else token.encode()).decode()
            except InvalidToken:
                failed.append(name)
        if failed:
            msg = (
                f"secrets {', '.join(f'`{n}`' for n in sorted(failed))} of pipeline `{self.pipeline}` cannot be "
                "decrypted with the current RDI_SECRETS_KEY (stored with another key); set them again"
            )
            raise SecretVaultError(msg)
        return dict(sorted(values.items()))


def check_name(name: str) -> None:
    """Raises SecretVaultError unless ``name`` is an environment variable name (letters, digits, ``_``)."""
    if not SECRET_NAME.fullmatch(name):
        msg = f"secret name `{name}` is not valid: use letters, digits and `_`, not starting with a digit"
        raise SecretVaultError(msg)
