"""Writers plan what to send to a target (Redis commands, SQL statements) as data; operators apply it."""

from __future__ import annotations

from typing import Final

from rdi.writers._json_merge import JSON_MERGE_SCRIPT, JSON_MERGE_SCRIPT_SHA1
from rdi.writers.nest import NEST_SCRIPT, NEST_SCRIPT_SHA1

__all__ = ["SCRIPTS"]

SCRIPTS: Final = {JSON_MERGE_SCRIPT: JSON_MERGE_SCRIPT_SHA1, NEST_SCRIPT: NEST_SCRIPT_SHA1}
"""Every Lua script a plan may ``EVAL`` → its SHA1, so an applier can send ``EVALSHA`` and load on ``NOSCRIPT``."""
