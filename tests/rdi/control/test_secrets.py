"""SecretVault against a real Redis: values stored encrypted, names listed, resolved only with the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import redis

from rdi import keys
from rdi.control.secrets import SecretVault, SecretVaultError, generate_key, load_key

pytestmark = pytest.mark.redis

KEY = generate_key()


def test_values_are_stored_encrypted_and_resolve_with_the_key(redis_client: redis.Redis) -> None:
    vault = SecretVault(redis_client, "default", KEY)
    vault.set("SOURCE_DB_PASSWORD", "s3cret-pw")
    vault.set("TARGET_DB_PASSWORD", "other-pw")
    stored = redis_client.hgetall(keys.pipeline_secrets())
    assert (vault.names(), vault.resolve(), any("pw" in v for v in stored.values())) == (
        ["SOURCE_DB_PASSWORD", "TARGET_DB_PASSWORD"],
        {"SOURCE_DB_PASSWORD": "s3cret-pw", "TARGET_DB_PASSWORD": "other-pw"},
        False,
    )


def test_without_a_key_the_vault_refuses_to_store_and_resolves_nothing(redis_client: redis.Redis) -> None:
    SecretVault(redis_client, "default", KEY).set("PW", "value")
    vault = SecretVault(redis_client)
    with pytest.raises(
        SecretVaultError, match=re.escape("cannot store secret `X`: no secrets key; set RDI_SECRETS_KEY")
    ):
        vault.set("X", "y")
    assert (vault.names(), vault.resolve()) == (["PW"], {})


def test_delete_reports_whether_the_secret_existed(redis_client: redis.Redis) -> None:
    vault = SecretVault(redis_client, "shop", KEY)
    vault.set("PW", "value")
    assert (vault.delete("PW"), vault.delete("PW"), vault.names()) == (True, False, [])


def test_a_name_that_is_not_an_environment_variable_is_refused(redis_client: redis.Redis) -> None:
    with pytest.raises(SecretVaultError, match=re.escape("secret name `1-bad` is not valid")):
        SecretVault(redis_client, key=KEY).set("1-bad", "v")


def test_values_stored_with_another_key_are_named_when_resolving(redis_client: redis.Redis) -> None:
    SecretVault(redis_client, key=KEY).set("PW", "value")
    with pytest.raises(SecretVaultError, match=re.escape("secrets `PW` of pipeline `default` cannot be decrypted")):
        SecretVault(redis_client, key=generate_key()).resolve()


def test_the_key_comes_from_the_environment_or_a_file(tmp_path: Path, redis_client: redis.Redis) -> None:
    path = tmp_path / "key"
    path.write_text(KEY.decode() + "\n")
    vault = SecretVault.from_env(redis_client, "default", {"RDI_SECRETS_KEY_FILE": str(path)})
    assert (load_key({"RDI_SECRETS_KEY": KEY.decode()}), load_key({"RDI_SECRETS_KEY_FILE": str(path)}), load_key({}),
            vault.has_key) == (KEY, KEY, None, True)  # fmt: skip


def test_a_key_that_is_not_a_fernet_key_is_refused() -> None:
    with pytest.raises(SecretVaultError, match=re.escape("RDI_SECRETS_KEY is not a Fernet key")):
        load_key({"RDI_SECRETS_KEY": "not-a-key"})
