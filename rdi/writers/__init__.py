"""Writers plan what to send to a target (Redis commands, SQL statements) as data; operators apply it."""

from __future__ import annotations

__all__: list[str] = []
