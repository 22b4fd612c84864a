"""Shared fixtures for every test: the real services (`redis_url`, `pg_dsn`, `mysql_url`, `redis_client`).

The fixtures live in `fix_services.py`; this file only registers it. Its module name depends on whether
`tests/` is a package (`tests.fix_services`) or a bare directory on `sys.path` (`fix_services`).
"""

from __future__ import annotations

_PACKAGE = __name__.rpartition(".")[0]

pytest_plugins = [f"{_PACKAGE}.fix_services" if _PACKAGE else "fix_services"]
