"""Every exception rdi raises on purpose.

The tree says what the runtime does next::

    RdiError
    ├── ConfigError        a user mistake in config.yaml, a job, a CLI flag or an API payload:
    │                      refuse to deploy/start; one line per ConfigIssue; CLI exit code 2
    ├── BadRecordError     one event's data cannot be processed (wrong type, expression fails on it):
    │                      dead-letter it with the reason and go on
    ├── RetryableError     a source/target/RDI DB is unreachable or timed out: back off and retry
    └── FatalError         a broken invariant, an auth failure, retries exhausted: stop; status `error`
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "BadRecordError",
    "ConfigError",
    "ConfigIssue",
    "FatalError",
    "RdiError",
    "RetryableError",
    "format_config_error",
    "one_line",
]


def one_line(exc: BaseException) -> str:
    """``exc``'s message on one line (whitespace runs folded), or its type's name when it has none."""
    return " ".join(str(exc).split()) or type(exc).__name__


class RdiError(Exception):
    """Base of every error rdi raises on purpose."""


@dataclass(frozen=True, order=True)
class ConfigIssue:
    """One problem in a pipeline's files, located by file, line and field path.

    ``line`` is 1-based; 0 means the position is unknown (e.g. a value given on the command line).
    ``field`` is a dotted path with list indexes, e.g. ``output[0].with.data_type``; empty for the whole file.
    """

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class ConfigError(RdiError):
    """The pipeline's configuration is invalid; ``issues`` lists every problem found, sorted."""

    def __init__(self, issues: Iterable[ConfigIssue] | str) -> None:
        if isinstance(issues, str):
            issues = [ConfigIssue(file="", line=0, field="", message=issues)]
        self.issues: list[ConfigIssue] = sorted(set(issues))
        super().__init__("\n".join(str(i).lstrip(": ") for i in self.issues))


def format_config_error(error: ConfigError) -> str:
    """The text ``rdi validate`` prints for ``error``: one ``file:line: field: message`` line per issue."""
    return "\n".join(str(issue) for issue in error.issues)


class BadRecordError(RdiError):
    """One record cannot be processed; it goes to the DLQ with ``reason`` and the flow goes on."""

    def __init__(self, reason: str, *, job: str | None = None, step: str | None = None) -> None:
        self.reason = reason
        self.job = job
        self.step = step
        super().__init__(reason)


class RetryableError(RdiError):
    """A transient failure talking to a service; the caller backs off and retries."""


class FatalError(RdiError):
    """A failure retrying cannot fix; the component stops and reports status `error`."""
