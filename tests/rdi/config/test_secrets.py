"""`${...}` references: where values come from, how they type, and that they stay secret."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rdi.config import load_config_text, load_pipeline
from rdi.config.sources import SqlSourceConnection
from rdi.config.targets import RedisConnection
from rdi.errors import ConfigError

PG = """\
sources:
  {name}:
    connection:
      type: postgresql
      host: {host}
      port: {port}
      password: {password}
"""


def _pg(config_text: str, **kwargs: object) -> SqlSourceConnection:
    config = load_config_text(config_text, "config.yaml", **kwargs)  # type: ignore[arg-type]
    connection = next(iter(config.sources.values())).connection
    assert isinstance(connection, SqlSourceConnection)
    return connection


def _text(name: str = "pg", host: str = "db", port: str = "5432", password: str = "${SOURCE_DB_PASSWORD}") -> str:
    return PG.format(name=name, host=host, port=port, password=password)


def test_reference_is_resolved_from_the_environment() -> None:
    conn = _pg(_text(), env={"SOURCE_DB_PASSWORD": "pw1"})
    assert conn.password is not None and conn.password.get_secret_value() == "pw1"


def test_reference_is_resolved_from_a_file_in_the_secrets_directory(tmp_path: Path) -> None:
    (tmp_path / "SOURCE_DB_PASSWORD").write_text("from-file\n")
    conn = _pg(_text(), env={}, secrets_dir=tmp_path)
    assert conn.password is not None and conn.password.get_secret_value() == "from-file"


def test_secrets_directory_defaults_to_rdi_secrets_dir(tmp_path: Path) -> None:
    (tmp_path / "SOURCE_DB_PASSWORD").write_text("from-dir")
    conn = _pg(_text(), env={"RDI_SECRETS_DIR": str(tmp_path)})
    assert conn.password is not None and conn.password.get_secret_value() == "from-dir"


def test_environment_wins_over_the_secrets_directory(tmp_path: Path) -> None:
    (tmp_path / "SOURCE_DB_PASSWORD").write_text("from-file")
    conn = _pg(_text(), env={"SOURCE_DB_PASSWORD": "from-env"}, secrets_dir=tmp_path)
    assert conn.password is not None and conn.password.get_secret_value() == "from-env"


def test_rdi_2_per_source_name_is_an_ordinary_reference() -> None:
    text = _text(name="orders-eu", password="${ORDERS_EU_DB_PASSWORD}")
    conn = _pg(text, env={"ORDERS_EU_DB_PASSWORD": "eu"})
    assert conn.password is not None and conn.password.get_secret_value() == "eu"


def test_preview_env_reference_reads_the_redis_di_prefixed_variable() -> None:
    conn = _pg(_text(password="${env:PG_PASS}"), env={"REDIS_DI_PG_PASS": "prefixed", "PG_PASS": "plain"})
    assert conn.password is not None and conn.password.get_secret_value() == "prefixed"


def test_preview_file_references_read_a_file_or_one_property_of_it(tmp_path: Path) -> None:
    (tmp_path / "pw.txt").write_text("whole\n")
    (tmp_path / "db.properties").write_text("user = writer\npassword=prop-pw\n")
    target = "targets:\n  target:\n    connection: {type: redis, host: cache, port: 6379}\n"
    (tmp_path / "config.yaml").write_text(_text(host="${file:db.properties:user}", password="${file:pw.txt}") + target)
    conn = load_pipeline(tmp_path, env={}).config.sources["pg"].connection
    assert isinstance(conn, SqlSourceConnection)
    assert (conn.host, conn.password and conn.password.get_secret_value()) == ("writer", "whole")


def test_a_reference_alone_in_a_numeric_field_becomes_a_number() -> None:
    text = _text(port="${PG_PORT}") + "processors:\n  read_batch_size: ${BATCH}\n"
    config = load_config_text(text, "config.yaml", env={"PG_PORT": "6543", "BATCH": "500", "SOURCE_DB_PASSWORD": "x"})
    conn = config.sources["pg"].connection
    assert isinstance(conn, SqlSourceConnection)
    assert (conn.port, config.processors.read_batch_size) == (6543, 500)


def test_references_inside_a_longer_string_are_substituted() -> None:
    conn = _pg(_text(host="${REGION}.db.internal"), env={"REGION": "eu", "SOURCE_DB_PASSWORD": "x"})
    assert conn.host == "eu.db.internal"


def test_unresolved_references_are_kept_as_written_for_offline_validation() -> None:
    conn = _pg(_text(host="${DB_HOST}", port="${PG_PORT}"), env={}, resolve_secrets=False)
    password = conn.password.get_secret_value() if conn.password else None
    written = conn.model_dump(include={"host", "port"})
    assert (written, password) == ({"host": "${DB_HOST}", "port": "${PG_PORT}"}, "${SOURCE_DB_PASSWORD}")


def test_an_unset_secret_is_a_located_issue() -> None:
    expected = (
        "config.yaml:7: sources.pg.connection.password: secret `SOURCE_DB_PASSWORD` is not set "
        "(set the environment variable or add a file SOURCE_DB_PASSWORD to the secrets directory)"
    )
    with pytest.raises(ConfigError, match=re.escape(expected)):
        load_config_text(_text(), "config.yaml", env={})


def test_resolved_passwords_do_not_appear_in_reprs() -> None:
    text = _text() + (
        "targets:\n  target:\n    connection:\n      type: redis\n      host: cache\n      port: 6379\n"
        "      password: ${TARGET_DB_PASSWORD}\n      key_password: ${TARGET_DB_KEY_PASSWORD}\n"
        "      key: /k.pem\n      cert: /c.pem\n"
    )
    env = {
        "SOURCE_DB_PASSWORD": "pw-src-1",
        "TARGET_DB_PASSWORD": "pw-tgt-2",
        "TARGET_DB_KEY_PASSWORD": "pw-key-3",
    }
    config = load_config_text(text, "config.yaml", env=env)
    assert isinstance(config.targets["target"].connection, RedisConnection)
    assert [v for v in env.values() if v in repr(config) or v in str(config.model_dump())] == []
