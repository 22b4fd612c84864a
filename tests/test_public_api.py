"""`__all__` of rdi and of every public module names exactly what they export, and the docstring example runs."""

from __future__ import annotations

import doctest
import importlib

import pytest

import rdi

PUBLIC = ["rdi", "rdi.config", "rdi.errors", "rdi.events", "rdi.expressions", "rdi.transforms",
          "rdi.writers.redis", "rdi.jobs", "rdi.keys", "rdi.scaffold", "rdi.metrics", "rdi.processor",
          "rdi.runtime", "rdi.dry_run", "rdi.writers", "rdi.writers.nest", "rdi.control", "rdi.control.store",
          "rdi.control.secrets", "rdi.api", "rdi.collectors.debezium", "rdi.writers.sql", "rdi.sql_target",
          "rdi.collectors.redis_commands", "rdi.collectors.settings", "rdi.collectors.redis_replication",
          "rdi.collectors.redis_capture"]  # fmt: skip


@pytest.mark.parametrize("name", PUBLIC)
def test_every_name_in_all_is_exported(name: str) -> None:
    module = importlib.import_module(name)
    assert [n for n in module.__all__ if not hasattr(module, n)] == []


def test_top_level_docstring_example_runs() -> None:
    result = doctest.testmod(rdi, raise_on_error=False)
    assert (result.failed, result.attempted) == (0, 3)
