"""RDI's custom JMESPath functions (spec §2.4), as a `jmespath.functions.Functions` subclass.

String functions given `null` return `null` (a nullable column should not dead-letter a record); a value of
another wrong type fails the record. Functions with an optional last argument (`hash`, `split`) are listed in
`OPTIONAL_ARGUMENTS`; `arity` answers for built-in and custom functions alike, for compile-time checks.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
import uuid
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TypeVar, cast

import jmespath
import xmltodict
from jmespath import exceptions as jp_errors
from jmespath.functions import Functions
from jmespath.functions import signature as _untyped_signature

__all__ = [
    "HASH_ALGORITHMS",
    "OPTIONAL_ARGUMENTS",
    "Clock",
    "RdiFunctions",
    "arity",
    "utc_now",
]

Clock = Callable[[], datetime]
"""Returns "now" as a timezone-aware datetime."""

_F = TypeVar("_F", bound=Callable[..., Any])
signature = cast(Callable[..., Callable[[_F], _F]], _untyped_signature)

HASH_ALGORITHMS = (
    "sha1",
    "sha224",
    "sha256",
    "sha384",
    "sha512",
    "sha3_224",
    "sha3_256",
    "sha3_384",
    "sha3_512",
    "md5",
    "blake2b",
    "blake2s",
)

OPTIONAL_ARGUMENTS = {"hash": 1, "split": 1}
"""Custom functions whose last N arguments may be left out."""

_STR = {"types": ["string", "null"]}
_NUM = {"types": ["number"]}
_ANY: dict[str, list[str]] = {"types": []}


def utc_now() -> datetime:
    """The default clock of `time_delta_*`: the current time, timezone-aware UTC."""
    return datetime.now(UTC)


def _new_uuid() -> str:
    return str(uuid.uuid4())


def _text(value: Any) -> str:
    """Render a JSON value the way `concat` and `hash` show it: strings as is, the rest as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _fail(function: str, message: str) -> jp_errors.JMESPathError:
    return jp_errors.JMESPathError(f"{function}(): {message}")


@lru_cache(maxsize=256)
def _compile_pattern(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise _fail("regex_replace", f"invalid pattern `{pattern}`: {exc}") from exc


@lru_cache(maxsize=256)
def _compile_predicate(text: str) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            return jmespath.compile(text)
    except jp_errors.JMESPathError as exc:
        raise _fail("filter_entries", f"invalid predicate `{text}`") from exc


def _parse_instant(function: str, value: Any) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _fail(function, f"expected an ISO-8601 string or epoch seconds, got {_text(value)}")
    if isinstance(value, str):
        try:
            instant = datetime.fromisoformat(value)
        except ValueError as exc:
            raise _fail(function, f"invalid ISO-8601 date-time `{value}`") from exc
        return instant if instant.tzinfo else instant.replace(tzinfo=UTC)
    return datetime.fromtimestamp(value, UTC)


class RdiFunctions(Functions):  # type: ignore[misc]
    """JMESPath built-ins plus RDI's 20 custom functions; `clock` and `new_uuid` make them deterministic."""

    def __init__(self, clock: Clock = utc_now, new_uuid: Callable[[], str] = _new_uuid) -> None:
        self.clock = clock
        self.new_uuid = new_uuid

    def _validate_arguments(self, args: list[Any], signature: Any, function_name: str) -> Any:
        optional = OPTIONAL_ARGUMENTS.get(function_name, 0)
        if optional and len(signature) - optional <= len(args) < len(signature):
            signature = signature[: len(args)]
        return super()._validate_arguments(args, signature, function_name)

    @signature(_STR)
    def _func_base64_decode(self, s: str | None) -> str | None:
        if s is None:
            return None
        try:
            return base64.b64decode(s, validate=True).decode("utf-8")
        except (binascii.Error, ValueError) as exc:
            raise _fail("base64_decode", f"invalid base64 `{s}`") from exc

    @signature(_STR)
    def _func_capitalize(self, s: str | None) -> str | None:
        if s is None:
            return None
        return re.sub(r"(^|\s)(\S)", lambda m: m.group(1) + m.group(2).upper(), s)

    @signature({"types": ["array"]})
    def _func_concat(self, values: list[Any]) -> str:
        return "".join(_text(v) for v in values if v is not None)

    @signature({"types": ["object", "null"]}, {"types": ["string", "expref"]})
    def _func_filter_entries(self, obj: dict[str, Any] | None, predicate: Any) -> dict[str, Any] | None:
        if obj is None:
            return None
        if isinstance(predicate, str):
            parsed = _compile_predicate(predicate)
            options = jmespath.Options(custom_functions=self)

            def keep(entry: dict[str, Any]) -> bool:
                return bool(_truthy(parsed.search(entry, options=options)))
        else:

            def keep(entry: dict[str, Any]) -> bool:
                return bool(_truthy(predicate.visit(predicate.expression, entry)))

        return {k: v for k, v in obj.items() if keep({"key": k, "value": v})}

    @signature({"types": ["array", "null"]})
    def _func_from_entries(self, entries: list[Any] | None) -> dict[str, Any] | None:
        if entries is None:
            return None
        result: dict[str, Any] = {}
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
                raise _fail("from_entries", f"expected objects with a string `key`, got {_text(entry)}")
            result[entry["key"]] = entry.get("value")
        return result

    @signature({"types": ["object", "null"]})
    def _func_to_entries(self, obj: dict[str, Any] | None) -> list[dict[str, Any]] | None:
        if obj is None:
            return None
        return [{"key": k, "value": v} for k, v in obj.items()]

    @signature({"types": ["string", "number", "null"]}, {"types": ["string"]})
    def _func_hash(self, value: Any, algorithm: str = "sha1") -> str | None:
        if value is None:
            return None
        if algorithm not in HASH_ALGORITHMS:
            raise _fail("hash", f"unknown algorithm `{algorithm}`, expected one of {', '.join(HASH_ALGORITHMS)}")
        return hashlib.new(algorithm, _text(value).encode("utf-8")).hexdigest()

    @signature(_ANY, {"types": ["array", "null"]})
    def _func_in(self, value: Any, values: list[Any] | None) -> bool:
        return values is not None and any(_same(value, v) for v in values)

    @signature(_STR, _NUM)
    def _func_left(self, s: str | None, n: int | float) -> str | None:
        return None if s is None else s[: max(int(n), 0)]

    @signature(_STR, _NUM)
    def _func_right(self, s: str | None, n: int | float) -> str | None:
        count = max(int(n), 0)
        return None if s is None else s[len(s) - count :] if count else ""

    @signature(_STR, _NUM, _NUM)
    def _func_mid(self, s: str | None, start: int | float, n: int | float) -> str | None:
        offset = max(int(start), 0)
        return None if s is None else s[offset : offset + max(int(n), 0)]

    @signature(_STR)
    def _func_lower(self, s: str | None) -> str | None:
        return None if s is None else s.lower()

    @signature(_STR)
    def _func_upper(self, s: str | None) -> str | None:
        return None if s is None else s.upper()

    @signature(_STR)
    def _func_json_parse(self, s: str | None) -> Any:
        if s is None:
            return None
        try:
            return json.loads(s)
        except ValueError as exc:
            raise _fail("json_parse", f"invalid JSON: {exc}") from exc

    @signature(_STR, {"types": ["string"]}, {"types": ["string"]})
    def _func_regex_replace(self, s: str | None, pattern: str, replacement: str) -> str | None:
        if s is None:
            return None
        try:
            return _compile_pattern(pattern).sub(replacement, s)
        except re.error as exc:
            raise _fail("regex_replace", f"invalid replacement `{replacement}`: {exc}") from exc

    @signature(_STR, {"types": ["string"]}, {"types": ["string"]})
    def _func_replace(self, s: str | None, old: str, new: str) -> str | None:
        return None if s is None else s.replace(old, new)

    @signature(_STR, {"types": ["string"]})
    def _func_split(self, s: str | None, delimiter: str = ",") -> list[str] | None:
        if s is None:
            return None
        if not delimiter:
            raise _fail("split", "empty delimiter")
        return s.split(delimiter)

    @signature({"types": ["string", "number", "null"]})
    def _func_time_delta_days(self, dt: Any) -> int | None:
        if dt is None:
            return None
        return (_parse_instant("time_delta_days", dt) - self.clock()).days

    @signature({"types": ["string", "number", "null"]})
    def _func_time_delta_seconds(self, dt: Any) -> int | None:
        if dt is None:
            return None
        return int((_parse_instant("time_delta_seconds", dt) - self.clock()).total_seconds())

    @signature()
    def _func_uuid(self) -> str:
        return self.new_uuid()

    @signature(_STR)
    def _func_xml_to_dict(self, s: str | None) -> Any:
        if not s:
            return s
        try:
            return xmltodict.parse(s)
        except Exception as exc:  # expat raises its own ExpatError; anything here is this record's fault
            raise _fail("xml_to_dict", f"invalid XML: {exc}") from exc


def _truthy(value: Any) -> bool:
    """JMESPath truthiness: false, null, "", [] and {} are false; numbers (even 0) are true."""
    return not (value is None or value is False or value in ("", [], {}))


def _same(a: Any, b: Any) -> bool:
    """JMESPath equality: `true` is not `1`."""
    return (type(a) is type(b) and a == b) or (_is_number(a) and _is_number(b) and a == b)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def arity(name: str) -> tuple[int, float] | None:
    """(minimum, maximum) number of arguments of function `name`, or None if there is no such function."""
    spec = RdiFunctions.FUNCTION_TABLE.get(name)
    if spec is None:
        return None
    sig = spec["signature"]
    if sig and sig[-1].get("variadic"):
        return len(sig), math.inf
    return len(sig) - OPTIONAL_ARGUMENTS.get(name, 0), len(sig)
