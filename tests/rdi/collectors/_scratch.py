"""A scratch schema per PostgreSQL test (plus slot and publication names), dropped with all it made."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql


@dataclass(frozen=True)
class Scratch:
    """One test's names: ``schema`` (created), ``slot`` and ``publication`` (not created)."""

    dsn: str
    conn: psycopg.Connection[tuple[object, ...]]
    id: str

    @property
    def schema(self) -> str:
        return f"t_{self.id}"

    @property
    def slot(self) -> str:
        return f"slot_{self.id}"

    @property
    def publication(self) -> str:
        return f"pub_{self.id}"

    def run(self, statement: str) -> None:
        """Runs ``statement`` with ``{s}`` standing for the schema (quoted)."""
        self.conn.execute(sql.SQL(statement).format(s=sql.Identifier(self.schema)))
