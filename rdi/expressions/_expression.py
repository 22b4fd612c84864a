"""The contract every expression engine fulfils: compile once, then evaluate rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol, TypeAlias

__all__ = ["Expression", "ExpressionError", "Language", "Row"]

Language: TypeAlias = Literal["jmespath", "sql"]
Row: TypeAlias = dict[str, Any]


class ExpressionError(ValueError):
    """An expression does not compile; the message is one line, e.g. "unknown function `uper`"."""


class Expression(Protocol):
    """A compiled expression; evaluating it does no I/O and is deterministic but for clocks and `uuid()`."""

    text: str
    language: Language

    def evaluate(self, row: Row) -> Any:
        """Evaluate against one record; raises `BadRecordError` when this record's data makes it fail."""
        ...

    def evaluate_batch(self, rows: Sequence[Row]) -> list[Any]:
        """Evaluate against each record in order; same results as calling `evaluate` per row."""
        ...
