"""The API's error replies: one shape for every error, ``{"detail": {"code", "message", "errors": [...]}}``.

``code`` takes RDI's values (``validation_error``, ``job_validation_error``, ``request_validation_error``,
``pipeline_error``, ``operation_error``) plus ``unauthorized``, ``not_found``, ``conflict`` and ``unavailable``.
``errors`` lists located issues (``file``, ``line``, ``field``, ``message``) when there are any — every
issue of an invalid pipeline at once. Driver errors are translated here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, Field

from rdi.errors import ConfigIssue

__all__ = ["ApiError", "ErrorBody", "ErrorDetail", "IssueModel", "issues_error"]

ErrorCode = Literal[
    "validation_error",
    "job_validation_error",
    "request_validation_error",
    "pipeline_error",
    "operation_error",
    "unauthorized",
    "not_found",
    "conflict",
    "unavailable",
]


class IssueModel(BaseModel):
    """One located problem: ``file:line: field: message`` (line 0 = unknown)."""

    file: str
    line: int
    field: str
    message: str


class ErrorDetail(BaseModel):
    code: ErrorCode
    message: str = Field(description="One line for a person.")
    errors: list[IssueModel] = Field(default_factory=list, description="Every located issue, sorted.")


class ErrorBody(BaseModel):
    detail: ErrorDetail


class ApiError(Exception):
    """An error reply: HTTP ``status`` with an :class:`ErrorDetail`."""

    def __init__(self, status: int, code: ErrorCode, message: str, issues: Iterable[ConfigIssue] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.detail = ErrorDetail(
            code=code,
            message=message,
            errors=[IssueModel(file=i.file, line=i.line, field=i.field, message=i.message) for i in issues],
        )

    def body(self) -> dict[str, Any]:
        return ErrorBody(detail=self.detail).model_dump()


def issues_error(what: str, issues: Iterable[ConfigIssue], code: ErrorCode = "validation_error") -> ApiError:
    """400 listing every issue; ``what`` names the thing that is invalid."""
    found = sorted(set(issues))
    return ApiError(400, code, f"{what} is invalid ({len(found)} issue(s)); nothing was changed", found)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the error statuses a route can return."""
    return {status: {"model": ErrorBody} for status in statuses}
