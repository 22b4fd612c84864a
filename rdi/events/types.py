"""The RDI type table: Debezium-encoded column values → the plain values of the intermediate JSON record.

With schemas disabled (RDI's setting) an event carries no type information, so a value can only be
normalised when its column's logical type is known — from the ``schema`` of a schemas-enabled event
(:func:`column_types`), or from a ``Mapping[str, ColumnType]`` supplied by a collector or the RDI database.
Without a type a value passes through unchanged. The unavailable-value placeholder (unchanged TOAST column,
unfetched LOB) is always recognised, in every form Debezium writes it, and the column is **removed** from
the row (RDI skips it rather than overwrite the target with the placeholder).

Rules, by ``ColumnType.name`` (the Debezium logical type):

* ``io.debezium.time.Date``, ``org.apache.kafka.connect.data.Date``: days → epoch milliseconds (``int``);
* ``io.debezium.time.MicroTimestamp`` / ``NanoTimestamp``: µs / ns → epoch ms, an ``int`` when whole, else a
  ``float`` whose ``repr`` is exact to the µs (``1529507596945104`` → ``1529507596945.104``);
* ``io.debezium.time.Timestamp``, connect ``Timestamp``: epoch ms, unchanged;
* ``Time``, ``MicroTime``, ``NanoTime``, connect ``Time``: unchanged (the unit ``time.precision.mode`` gave);
* ``ZonedTimestamp``, ``ZonedTime``: the ISO-8601 UTC string, unchanged;
* ``org.apache.kafka.connect.data.Decimal``: base64 unscaled two's complement + ``scale`` → exact decimal
  string (``"BNI="``, scale 2 → ``"12.34"``); plain text (string mode, ``"NAN"``) and numbers unchanged;
* ``io.debezium.data.VariableScaleDecimal``: ``{"scale": 2, "value": "BNI="}`` → ``"12.34"``;
* ``io.debezium.data.Json``: JSON text → the parsed value (dict, list or scalar);
* ``io.debezium.data.Bits``, ``io.debezium.time.MicroDuration``, ``io.debezium.time.Interval``: the column is
  removed (unsupported, as in RDI);
* anything else — bytes (base64 text), numbers (``"NaN"``/``"Infinity"`` stay strings), booleans, strings,
  uuid/enum, arrays, structs: unchanged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

import orjson

from rdi.errors import BadRecordError
from rdi.events.event import Row

__all__ = ["DEFAULT_PLACEHOLDER", "ColumnType", "column_types", "normalise_row"]

DEFAULT_PLACEHOLDER: Final = "__debezium_unavailable_value"
"""Debezium's default ``unavailable.value.placeholder``."""

_MS_PER_DAY: Final = 86_400_000
_INTEGER: Final = re.compile(r"-?[0-9]+")


@dataclass(frozen=True, slots=True)
class ColumnType:
    """The type of one column as Debezium describes it.

    ``name`` is the logical (semantic) type, e.g. ``io.debezium.time.Date``; ``None`` for a plain Connect
    type. ``type`` is the Connect primitive (``int32``, ``int64``, ``float64``, ``boolean``, ``string``,
    ``bytes``, ``array``, ``struct``…). ``scale`` is the ``scale`` parameter of a ``Decimal``.
    A decimal in ``decimal.handling.mode=string`` has Connect type ``string`` and no logical name: describe
    it as ``ColumnType(type="string")`` (or not at all), never as a bare ``Decimal`` name — a digit-only
    string such as ``"1234"`` is also valid base64.
    """

    name: str | None = None
    type: str | None = None
    scale: int | None = None

    @classmethod
    def from_field(cls, field: Mapping[str, Any]) -> ColumnType:
        """Read one entry of a Connect struct schema's ``fields``: ``{"type", "name"?, "parameters"?}``."""
        params = field.get("parameters")
        scale = params.get("scale") if isinstance(params, Mapping) else None
        name = field.get("name")
        kind = field.get("type")
        return cls(
            name=name if isinstance(name, str) else None,
            type=kind if isinstance(kind, str) else None,
            scale=int(scale) if isinstance(scale, (str, int)) and _INTEGER.fullmatch(str(scale)) else None,
        )

    def to_json(self) -> bytes:
        """``{"type": …, "name": …, "scale": …}`` (all three keys, ``null`` when unset): how collectors
        publish a column's type in the RDI database (:func:`rdi.keys.stream_schema`)."""
        return orjson.dumps({"type": self.type, "name": self.name, "scale": self.scale})

    @classmethod
    def from_json(cls, text: bytes | str) -> ColumnType:
        """Read what :meth:`to_json` wrote. Missing keys are ``None``; unknown keys are ignored (a newer
        collector may add some). Raises ``ValueError`` (one line) when ``text`` is not a JSON object or a
        key holds the wrong kind of value (``type``/``name``: string or null, ``scale``: integer or null).
        """
        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError:
            msg = f"a column type must be JSON, got {_shown(text)} instead"
            raise ValueError(msg) from None
        if type(parsed) is not dict:
            msg = f"a column type must be a JSON object, got {_shown(text)} instead"
            raise ValueError(msg)
        name, kind, scale = parsed.get("name"), parsed.get("type"), parsed.get("scale")
        for key, value in (("type", kind), ("name", name)):
            if value is not None and not isinstance(value, str):
                msg = f"column type `{key}` must be a string or null, got {_shown(text)} instead"
                raise ValueError(msg)
        if scale is not None and type(scale) is not int:
            msg = f"column type `scale` must be an integer or null, got {_shown(text)} instead"
            raise ValueError(msg)
        return cls(name=name, type=kind, scale=scale)


def _shown(text: bytes | str) -> str:
    shown = text.decode(errors="replace") if isinstance(text, bytes) else text
    return repr(shown if len(shown) <= 60 else shown[:57] + "...")


def column_types(struct: Mapping[str, Any]) -> dict[str, ColumnType]:
    """The column types of a Connect ``struct`` schema (a row or key schema), in field order.

    Fields without a ``field`` name are skipped; a schema without ``fields`` gives ``{}``. Pure; never
    raises on odd input.
    """
    fields = struct.get("fields")
    if not isinstance(fields, list):
        return {}
    return {
        f["field"]: ColumnType.from_field(f)
        for f in fields
        if isinstance(f, Mapping) and isinstance(f.get("field"), str)
    }


def normalise_row(
    row: Mapping[str, Any],
    types: Mapping[str, ColumnType] | None = None,
    *,
    placeholder: str = DEFAULT_PLACEHOLDER,
) -> Row:
    """Return a new row with every value normalised by the RDI type table (see the module docstring).

    Columns holding the placeholder (any of its forms) and columns of unsupported types are left out;
    columns without a type in ``types`` are copied unchanged; ``None`` stays ``None``; column order is kept.
    Typed columns must hold Debezium-encoded values (normalising twice is not idempotent for them).
    Raises :class:`BadRecordError` when a typed value cannot be decoded (e.g. a ``Date`` that is not an
    integer).
    """
    return _normalise_in_place(dict(row), types or {}, _placeholder_forms(placeholder))


class _PlaceholderForms:
    """Every form Debezium writes one placeholder in (``UnchangedToastedPlaceholder``).

    Text; bytes (base64 in JSON); ``text[]`` → ``[text]``; ``int[]``/``bigint[]`` → the placeholder's byte
    values; ``uuid[]`` → ``[UUID.nameUUIDFromBytes(text)]``; ``hstore`` → ``{text: text}``.
    """

    __slots__ = ("structured", "texts")

    def __init__(self, placeholder: str) -> None:
        raw = placeholder.encode()
        digest = hashlib.md5(raw, usedforsecurity=False).digest()
        self.texts = (placeholder, base64.b64encode(raw).decode("ascii"))
        self.structured: tuple[Any, ...] = (
            [placeholder],
            list(raw),
            [str(uuid.UUID(bytes=digest, version=3))],  # what Java's nameUUIDFromBytes gives
            {placeholder: placeholder},
        )

    def strip(self, row: Row) -> None:
        """Remove the columns holding a form of the placeholder from ``row``."""
        texts, structured = self.texts, self.structured
        found = [
            col
            for col, v in row.items()
            if (v.__class__ is str and v in texts) or ((v.__class__ is list or v.__class__ is dict) and v in structured)
        ]
        for col in found:
            del row[col]


@lru_cache(maxsize=16)
def _placeholder_forms(placeholder: str) -> _PlaceholderForms:
    """The (cached) :class:`_PlaceholderForms` of ``placeholder``."""
    return _PlaceholderForms(placeholder)


def _normalise_in_place(row: Row, types: Mapping[str, ColumnType], forms: _PlaceholderForms | None) -> Row:
    """Normalise ``row`` in place and return it; ``forms=None`` skips the placeholder scan (for keys)."""
    if forms is not None:
        forms.strip(row)
    if types:
        for col, ctype in types.items():
            name = ctype.name
            if name is None or col not in row:
                continue
            if name in _DROPPED:
                del row[col]
                continue
            convert = _CONVERTERS.get(name)
            value = row[col]
            if convert is not None and value is not None:
                row[col] = convert(col, value, ctype)
    return row


def _needs_conversion(ctype: ColumnType) -> bool:
    """Whether values of ``ctype`` change under normalisation (others pass through untouched)."""
    return ctype.name in _CONVERTERS or ctype.name in _DROPPED


# --- converters: (column, non-null value, type) -> normalised value ----------------------------------------


def _expect_int(col: str, value: Any, ctype: ColumnType) -> int:
    if type(value) is not int:
        raise BadRecordError(
            f"column `{col}`: `{ctype.name}` expects an integer, got `{type(value).__name__}` {value!r:.40}"
        )
    return value


def _days_to_ms(col: str, value: Any, ctype: ColumnType) -> Any:
    return _expect_int(col, value, ctype) * _MS_PER_DAY


def _micros_to_ms(col: str, value: Any, ctype: ColumnType) -> Any:
    micros = _expect_int(col, value, ctype)
    whole, rest = divmod(micros, 1000)
    # int / int is correctly rounded, so repr() gives back the exact digits, e.g. 1529507596945.104.
    return whole if rest == 0 else micros / 1000


def _nanos_to_ms(col: str, value: Any, ctype: ColumnType) -> Any:
    nanos = _expect_int(col, value, ctype)
    whole, rest = divmod(nanos, 1_000_000)
    return whole if rest == 0 else nanos / 1_000_000


def _scaled(unscaled: int, scale: int) -> str:
    """``unscaled × 10^-scale`` as Java's ``BigDecimal.toPlainString()`` writes it."""
    if scale <= 0:
        return str(unscaled * 10**-scale)
    sign = "-" if unscaled < 0 else ""
    digits = str(abs(unscaled)).rjust(scale + 1, "0")
    return f"{sign}{digits[:-scale]}.{digits[-scale:]}"


def _unscaled(text: str) -> int | None:
    """The two's-complement big-endian integer in base64 ``text``; ``None`` if ``text`` is not base64."""
    if len(text) % 4:
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        return None
    return int.from_bytes(raw, "big", signed=True)


def _decimal(col: str, value: Any, ctype: ColumnType) -> Any:
    if ctype.type == "string" or not isinstance(value, str):
        return value  # string mode (declared) or double mode: already final
    unscaled = _unscaled(value)
    if unscaled is None:
        return value  # string mode undeclared: "12.34", "NAN"
    if ctype.scale is None:
        raise BadRecordError(f"column `{col}`: `{ctype.name}` has no `scale` parameter")
    return _scaled(unscaled, ctype.scale)


def _variable_scale_decimal(col: str, value: Any, ctype: ColumnType) -> Any:
    if isinstance(value, str):
        return value  # string mode
    if isinstance(value, dict) and isinstance(text := value.get("value"), str):
        scale, unscaled = value.get("scale"), _unscaled(text)
        if type(scale) is int and unscaled is not None:
            return _scaled(unscaled, scale)
    raise BadRecordError(f'column `{col}`: `{ctype.name}` expects {{"scale": int, "value": base64}}, got {value!r:.60}')


def _json(col: str, value: Any, ctype: ColumnType) -> Any:
    if not isinstance(value, str):
        return value  # already structured (a writer that nests JSON)
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        raise BadRecordError(f"column `{col}`: `{ctype.name}` value is not JSON: {value!r:.40}") from None


_CONVERTERS: Final[dict[str, Callable[[str, Any, ColumnType], Any]]] = {
    "io.debezium.time.Date": _days_to_ms,
    "org.apache.kafka.connect.data.Date": _days_to_ms,
    "io.debezium.time.MicroTimestamp": _micros_to_ms,
    "io.debezium.time.NanoTimestamp": _nanos_to_ms,
    "org.apache.kafka.connect.data.Decimal": _decimal,
    "io.debezium.data.VariableScaleDecimal": _variable_scale_decimal,
    "io.debezium.data.Json": _json,
}
_DROPPED: Final = frozenset({"io.debezium.data.Bits", "io.debezium.time.MicroDuration", "io.debezium.time.Interval"})
