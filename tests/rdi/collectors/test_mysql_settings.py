"""`sources.<name>` of a MySQL/MariaDB source → the collector's settings (pure)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from rdi.collectors.settings import MySqlCollectorSettings, TableSelection
from rdi.config.sources import Source, TableSpec
from rdi.errors import ConfigError


def source(**extra: Any) -> Source:
    return Source.model_validate(
        {"connection": {"type": "mariadb", "host": "db", "port": 3306, "user": "u", "password": "p"}, **extra}
    )


def test_defaults_follow_rdi() -> None:
    s = MySqlCollectorSettings.from_source("shop", source(databases=["sales"]))
    got = (s.flavor, s.server_name, s.databases, s.decimal_mode, s.bigint_unsigned_mode, s.snapshot_mode,
           5400 <= s.server_id < 6400)  # fmt: skip
    assert got == ("mariadb", "shop", ("sales",), "string", "precise", "initial", True)


def test_tables_and_advanced_properties() -> None:
    s = MySqlCollectorSettings.from_source("shop", source(
        tables={"sales.orders": {"columns": ["id", "v"], "keys": ["id"]}},
        advanced={"source": {"topic.prefix": "p", "database.server.id": 77, "decimal.handling.mode": "precise",
                             "rdi.snapshot.chunk.size": 500}},
    ))  # fmt: skip
    assert (s.server_name, s.server_id, s.decimal_mode, s.chunk_size, s.tables) == (
        "p",
        77,
        "precise",
        500,
        (TableSelection("sales", "orders", TableSpec(columns=["id", "v"], keys=["id"])),),
    )


def test_an_unknown_decimal_mode_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=re.escape(
        "sources.shop.advanced.source.decimal.handling.mode: 'exact' is not one of string, precise, double"
    )):  # fmt: skip
        MySqlCollectorSettings.from_source("shop", source(advanced={"source": {"decimal.handling.mode": "exact"}}))
