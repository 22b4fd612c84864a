"""Building blocks of the config models: closed/open bases, and numbers that may be `${...}` references."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, ValidatorFunctionWrapHandler
from pydantic.functional_serializers import PlainSerializer
from pydantic.functional_validators import WrapValidator

__all__ = [
    "REFERENCE",
    "Closed",
    "FreeValue",
    "IntOrRef",
    "LogLevel",
    "NonNegativeIntOrRef",
    "Open",
    "Port",
    "PositiveIntOrRef",
    "Secret",
    "keep_unresolved",
]

REFERENCE = re.compile(r"\$\{[^}]*\}")
"""A `${...}` secret/variable reference inside a string value."""

LogLevel: TypeAlias = Literal["trace", "debug", "info", "warn", "error"]
FreeValue: TypeAlias = str | int | float | bool
Secret: TypeAlias = SecretStr


class Closed(BaseModel):
    """A closed, immutable object: an unknown key is a config issue."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Open(BaseModel):
    """An immutable object whose named keys are typed and which also takes free-form keys."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)


def keep_unresolved(info: ValidationInfo) -> bool:
    """True when validating for an offline check, where `${...}` references stay unresolved."""
    return isinstance(info.context, dict) and bool(info.context.get("keep_unresolved"))


def _int_or_reference(value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
    # RDI types numeric settings as "integer or `^\${.*}$`": offline, the reference stands in for the number.
    if isinstance(value, str) and keep_unresolved(info) and REFERENCE.fullmatch(value.strip()):
        return value
    return handler(value)


def _as_written(value: int | str) -> int | str:
    return value


# Offline-validated configs hold the reference text in numeric fields; serialize it as written.
_Keep = PlainSerializer(_as_written, return_type=int | str)

IntOrRef: TypeAlias = Annotated[int, WrapValidator(_int_or_reference), _Keep]
"""An integer; a `${NAME}` reference is resolved to one (or kept as text when validating offline)."""

Port: TypeAlias = Annotated[int, Field(ge=1, le=65535), WrapValidator(_int_or_reference), _Keep]

PositiveIntOrRef: TypeAlias = Annotated[int, Field(ge=1), WrapValidator(_int_or_reference), _Keep]
"""`IntOrRef` ≥ 1, usable inside `... | None` (where `Field(ge=...)` would not see through a reference)."""

NonNegativeIntOrRef: TypeAlias = Annotated[int, Field(ge=0), WrapValidator(_int_or_reference), _Keep]
