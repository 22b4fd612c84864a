"""PostgreSQL text-format column values → the JSON values Debezium's PostgreSQL connector writes with RDI's defaults.

Pure. The defaults are ``decimal.handling.mode=string``, ``time.precision.mode=adaptive``,
``binary.handling.mode=bytes`` (base64 in JSON), ``interval.handling.mode=numeric``,
``hstore.handling.mode=json`` (cdc-notes §1.4, checked against Debezium's ``PostgresValueConverter``):

* ``smallint``, ``integer``, ``bigint``, ``oid`` → number;
* ``real``, ``double precision`` → number; ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` as strings (as Jackson
  writes them);
* ``numeric`` → string, PostgreSQL's text of the value (plain notation, as Debezium Server 3.6 writes it);
  ``"NAN"``, ``"POSITIVE_INFINITY"``, ``"NEGATIVE_INFINITY"``;
* ``money`` → plain decimal string without symbol or separators (``-$1,234.50`` → ``"-1234.50"``);
* ``boolean``, ``bit(1)``, ``varbit(1)`` → true/false; ``bit(n)``, ``varbit`` → base64 of the value's minimal
  little-endian bytes (``io.debezium.data.Bits``); ``bytea`` → base64;
* ``date`` → days since 1970-01-01 (proleptic Gregorian, BC years astronomical);
* ``time(0-3)`` → ms after midnight, ``time(4-6)``/``time`` → µs (``24:00:00`` is a whole day);
* ``timestamp(0-3)`` → ms since the epoch, ``timestamp(4-6)``/``timestamp`` → µs, read as UTC;
* ``timestamptz(p)`` → ISO-8601 in UTC, fraction padded to p digits (6 when unspecified, none for p = 0):
  ``"2024-01-01T05:00:00.500000Z"``; ``timetz`` → ISO time in UTC, shortest fraction: ``"08:15:30.5Z"``;
* ``interval`` → µs, Debezium's ``MicroDuration`` (a month is 365.25/12 days, in the same double maths);
* ``point`` → ``{"x", "y", "wkb" (base64 WKB), "srid": null}``;
* ``hstore`` → the JSON text ``{"k":"v"}``, keys in Java ``HashMap`` order;
* arrays → lists (nested for several dimensions) of the element type's values;
* enums, ``uuid``, ``json``/``jsonb``, ``xml``, text types (``char(n)`` keeps its padding), ``inet``/``cidr``/
  ``macaddr``, ranges, ``ltree``, ``citext``, ``tsvector``, and any type not listed → the text unchanged;
* domains → as their base type.

:func:`column_type_for` gives the Debezium schema type (Connect type and logical name) of each column, as the
connector declares it with the same defaults, matching the value its converter emits (``numeric`` and ``money``
are plain ``string``; a type the connector would drop or give another schema to but that rdi emits as text, such
as the geometric types other than ``point``, is a plain ``string``).

Infinite dates and timestamps become Debezium's sentinels (:data:`DATE_POSITIVE_INFINITY`,
:data:`TIMESTAMP_POSITIVE_INFINITY_US`, …); an infinite ``timestamptz`` stays ``"infinity"``/``"-infinity"``.

The parsers read the text format of sessions with :data:`TEXT_FORMAT_SETTINGS`; ``timestamptz`` and
``timetz`` carry their UTC offset, so any ``TimeZone`` works, but ``DateStyle``, ``IntervalStyle``,
``bytea_output``, ``extra_float_digits`` and ``lc_monetary`` must be as given there.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import math
import struct
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final, Protocol

import orjson

from rdi.events.types import ColumnType

__all__ = [
    "BUILTIN_ARRAYS",
    "DATE_NEGATIVE_INFINITY",
    "DATE_POSITIVE_INFINITY",
    "DEFAULT_PLACEHOLDER",
    "TEXT_FORMAT_SETTINGS",
    "TIMESTAMP_NEGATIVE_INFINITY_US",
    "TIMESTAMP_POSITIVE_INFINITY_US",
    "Converter",
    "PgColumn",
    "TypeInfo",
    "column_type_for",
    "converter_for",
    "placeholder_for",
]

Converter = Callable[[str], Any]

DEFAULT_PLACEHOLDER: Final = "__debezium_unavailable_value"
"""Debezium's default ``unavailable.value.placeholder`` (unchanged TOAST values)."""

TEXT_FORMAT_SETTINGS: Final[Mapping[str, str]] = {
    "client_encoding": "UTF8",
    "DateStyle": "ISO, YMD",
    "IntervalStyle": "postgres",
    "TimeZone": "UTC",
    "bytea_output": "hex",
    "extra_float_digits": "1",
    "lc_monetary": "C",
}
"""Session settings (``-c name=value``) whose text output the converters parse; set them on every session."""

DATE_POSITIVE_INFINITY: Final = -2147472692
"""``date 'infinity'`` as Debezium Server 3.6 streams it (measured against the real server: golden tests)."""
DATE_NEGATIVE_INFINITY: Final = -2147472691
"""``date '-infinity'`` as Debezium Server 3.6 streams it (sic: one day after +infinity's sentinel)."""
TIMESTAMP_POSITIVE_INFINITY_US: Final = 9223372036825200000
"""``timestamp 'infinity'`` as µs (pgjdbc's ``DATE_POSITIVE_INFINITY`` read as µs); ms columns get it ÷ 1000."""
TIMESTAMP_NEGATIVE_INFINITY_US: Final = -9223372036832400000
"""``timestamp '-infinity'`` as µs; ms columns get it ÷ 1000."""


@dataclass(frozen=True, slots=True)
class TypeInfo:
    """A ``pg_type`` row, enough to resolve a non-built-in type to a converter.

    ``typtype``: ``b`` base, ``e`` enum, ``d`` domain, ``a`` array (rdi's marker: PostgreSQL stores arrays
    as ``b``), ``c`` composite, ``r`` range, ``m`` multirange, ``p`` pseudo. ``element_oid`` is set for
    arrays, ``base_oid``/``base_typmod`` for domains.
    """

    oid: int
    name: str
    typtype: str
    namespace: str = "pg_catalog"
    element_oid: int = 0
    base_oid: int = 0
    base_typmod: int = -1


@dataclass(frozen=True, slots=True)
class PgColumn:
    """One captured column: ``type_name`` is ``pg_type.typname`` (``int4``, ``_text``, ``my_enum``)."""

    name: str
    type_oid: int
    typmod: int = -1
    type_name: str = ""
    not_null: bool = False


class _TypedColumn(Protocol):
    @property
    def type_oid(self) -> int: ...

    @property
    def typmod(self) -> int: ...


def converter_for(column: _TypedColumn, types: Mapping[int, TypeInfo] | None = None) -> Converter:
    """The function turning one non-NULL text value of ``column`` into Debezium's JSON value.

    ``column`` is a :class:`PgColumn` or anything with ``type_oid`` and ``typmod`` (a pgoutput
    ``RelationColumn``). ``types`` resolves non-built-in OIDs (enums, domains, arrays, extension types such
    as hstore); unknown types convert to their text unchanged. Build converters once per relation, not per
    row. The converter raises ``ValueError`` for text it cannot parse.
    """
    return _converter(column.type_oid, column.typmod, types or {}, 0)


def column_type_for(column: _TypedColumn, types: Mapping[int, TypeInfo] | None = None) -> ColumnType:
    """The Debezium schema type of ``column``'s values, as :func:`converter_for` emits them.

    Resolved like :func:`converter_for` (same ``types``; a domain has its base type's schema). Examples:
    ``date`` → ``int32`` ``io.debezium.time.Date``; ``timestamp(6)`` → ``int64`` ``MicroTimestamp``;
    ``jsonb`` → ``string`` ``io.debezium.data.Json``; ``numeric`` → plain ``string``; arrays → ``array``.
    Raises ``ValueError`` for domains/arrays nested absurdly deep, like :func:`converter_for`.
    """
    return _column_type(column.type_oid, column.typmod, types or {}, 0)


def placeholder_for(
    column: _TypedColumn, types: Mapping[int, TypeInfo] | None = None, placeholder: str = DEFAULT_PLACEHOLDER
) -> Any:
    """The value Debezium writes for an unchanged TOASTed value of ``column`` (``UnchangedToastedPlaceholder``).

    Decided by the column's own type, as Debezium does (a domain gets the text form): ``text[]``,
    ``varchar[]``, ``char[]``, ``json[]``, ``jsonb[]`` → ``[placeholder]``; ``bytea`` → base64 of its UTF-8
    bytes; ``bytea[]`` → ``[that]``; ``int[]``, ``bigint[]``, ``date[]`` → its bytes as signed integers;
    ``uuid[]`` → ``[UUID.nameUUIDFromBytes(bytes)]``; ``hstore`` → the JSON text ``{placeholder: placeholder}``;
    anything else → ``placeholder``. Returns a fresh object each call (lists may be mutated by the caller).
    """
    raw = placeholder.encode()
    oid = column.type_oid
    if oid in _TEXT_ARRAY_OIDS:
        return [placeholder]
    if oid == _BYTEA:
        return _b64(raw)
    if oid == _BYTEA_ARRAY:
        return [_b64(raw)]
    if oid in _INT_ARRAY_OIDS:
        return [b - 256 if b > 127 else b for b in raw]
    if oid == _UUID_ARRAY:
        return [str(uuid.UUID(bytes=hashlib.md5(raw, usedforsecurity=False).digest(), version=3))]
    info = (types or {}).get(oid)
    if info is not None and info.name == "hstore":
        return orjson.dumps({placeholder: placeholder}).decode()
    return placeholder


# --- resolution -------------------------------------------------------------------------------------------

_BYTEA: Final = 17
_BYTEA_ARRAY: Final = 1001
_UUID_ARRAY: Final = 2951
_TEXT_ARRAY_OIDS: Final = frozenset({1009, 1015, 1014, 199, 3807})  # _text _varchar _bpchar _json _jsonb
_INT_ARRAY_OIDS: Final = frozenset({1007, 1016, 1182})  # _int4 _int8 _date

# Built-in array OID → element OID (stable across PostgreSQL versions; checked against pg_type in tests).
BUILTIN_ARRAYS: Final[Mapping[int, int]] = {
    1000: 16, 1001: 17, 1002: 18, 1003: 19, 1016: 20, 1005: 21, 1007: 23, 1009: 25, 1028: 26, 199: 114,
    143: 142, 1017: 600, 651: 650, 1021: 700, 1022: 701, 775: 774, 791: 790, 1040: 829, 1041: 869,
    1014: 1042, 1015: 1043, 1182: 1082, 1183: 1083, 1115: 1114, 1185: 1184, 1187: 1186, 1270: 1266,
    1561: 1560, 1563: 1562, 1231: 1700, 2951: 2950, 3643: 3614, 3807: 3802, 3905: 3904, 3907: 3906,
    3909: 3908, 3911: 3910, 3913: 3912, 3927: 3926,
}  # fmt: skip

_MAX_DEPTH: Final = 16


def _converter(oid: int, typmod: int, types: Mapping[int, TypeInfo], depth: int) -> Converter:
    if depth > _MAX_DEPTH:
        msg = f"type OID {oid} nests domains/arrays deeper than {_MAX_DEPTH} levels"
        raise ValueError(msg)
    factory = _SCALARS.get(oid)
    if factory is not None:
        return factory(typmod)
    element = BUILTIN_ARRAYS.get(oid)
    if element is not None:
        return _array(_converter(element, typmod, types, depth + 1))
    info = types.get(oid)
    if info is None:
        return _text
    if info.typtype == "d":
        return _converter(info.base_oid, typmod if typmod >= 0 else info.base_typmod, types, depth + 1)
    if info.typtype == "a":
        return _array(_converter(info.element_oid, typmod, types, depth + 1))
    if info.typtype == "b" and info.name == "hstore":
        return _hstore
    return _text


def _column_type(oid: int, typmod: int, types: Mapping[int, TypeInfo], depth: int) -> ColumnType:
    if depth > _MAX_DEPTH:
        msg = f"type OID {oid} nests domains/arrays deeper than {_MAX_DEPTH} levels"
        raise ValueError(msg)
    known = _SCHEMAS.get(oid)
    if known is not None:
        return known(typmod)
    if oid in BUILTIN_ARRAYS:
        return _ARRAY_TYPE
    info = types.get(oid)
    if info is None:
        return _STRING_TYPE
    if info.typtype == "d":
        return _column_type(info.base_oid, typmod if typmod >= 0 else info.base_typmod, types, depth + 1)
    if info.typtype == "a":
        return _ARRAY_TYPE
    if info.typtype == "e":
        return _ENUM_TYPE
    if info.typtype == "b":
        return _EXTENSION_SCHEMAS.get(info.name, _STRING_TYPE)
    return _STRING_TYPE


# --- scalars ----------------------------------------------------------------------------------------------


def _text(value: str) -> str:
    return value


def _bool(value: str) -> bool:
    # pgoutput sends `t`/`f`; the snapshot's `c::text` cast gives `true`/`false`
    return value == "t" or value == "true"


_FLOAT_SPECIALS: Final = frozenset({"NaN", "Infinity", "-Infinity"})


def _float(value: str) -> float | str:
    # Jackson writes non-finite doubles as the strings Java prints; PostgreSQL prints the same words.
    if value in _FLOAT_SPECIALS:
        return value
    return float(value)


_NUMERIC_SPECIALS: Final = {"NaN": "NAN", "Infinity": "POSITIVE_INFINITY", "-Infinity": "NEGATIVE_INFINITY"}


def _numeric(value: str) -> str:
    """PostgreSQL's text of the value, as Debezium 3.6's ``decimal.handling.mode=string`` writes it (plain
    notation, never E-notation: ``0.0000000001``); ``"NAN"``, ``"POSITIVE_INFINITY"``, ``"NEGATIVE_INFINITY"``."""
    return _NUMERIC_SPECIALS.get(value, value)


def _money(value: str) -> str:
    """Debezium's ``PostgresMoney.parse`` with ``toPlainString``: ``-$1,234.50`` → ``-1234.50``."""
    negative = value[0] in "(-"
    body = value.strip("()-")
    start = 0
    while start < len(body) and not (body[start].isdigit() or body[start] == "."):
        start += 1
    body = body[start:].replace(",", "")
    return "-" + body if negative else body


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _bytea(value: str) -> str:
    if value.startswith("\\x"):
        return _b64(bytes.fromhex(value[2:]))
    return _b64(_unescape_bytea(value))


def _unescape_bytea(value: str) -> bytes:
    out = bytearray()
    i, n = 0, len(value)
    while i < n:
        c = value[i]
        if c != "\\":
            out += c.encode()
            i += 1
        elif value[i + 1] == "\\":
            out.append(0x5C)
            i += 2
        else:
            out.append(int(value[i + 1 : i + 4], 8))
            i += 4
    return bytes(out)


def _bits(typmod: int) -> Converter:
    if typmod == 1:
        return lambda value: int(value, 2) != 0

    def bits(value: str) -> str:
        number = int(value, 2) if value else 0
        return _b64(number.to_bytes((number.bit_length() + 7) // 8, "little"))

    return bits


_WKB_POINT: Final = struct.Struct("<BIdd")


def _point(value: str) -> dict[str, Any]:
    x_text, _, y_text = value.strip("()").partition(",")
    x, y = float(x_text), float(y_text)
    return {"x": x, "y": y, "wkb": _b64(_WKB_POINT.pack(1, 1, x, y)), "srid": None}


# --- dates and times --------------------------------------------------------------------------------------

_US_PER_DAY: Final = 86_400_000_000


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 in the proleptic Gregorian calendar (year 0 = 1 BC), for any year."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _civil_from_days(days: int) -> tuple[int, int, int]:
    days += 719468
    era = days // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


@lru_cache(maxsize=8192)
def _parse_date(text: str, bc: bool) -> int:
    # cached: rows of one table tend to share dates, and this is the slow part of a timestamp
    year, month, day = text.split("-")
    y = int(year)
    return _days_from_civil(1 - y if bc else y, int(month), int(day))


_FRACTION_SCALE: Final = (1_000_000, 100_000, 10_000, 1_000, 100, 10, 1)
_EPOCH: Final = datetime.datetime(1970, 1, 1)
_ONE_US: Final = datetime.timedelta(microseconds=1)
_datetime_fromisoformat: Final = datetime.datetime.fromisoformat
_time_fromisoformat: Final = datetime.time.fromisoformat


def _time_us(text: str) -> int:
    """``HH:MM:SS[.ffffff]`` → µs after midnight (``24:00:00`` included)."""
    if text[0] != "2" or text[1] != "4":
        t = _time_fromisoformat(text)  # C parser: several times faster than slicing by hand
        return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond
    us = (int(text[0:2]) * 3600 + int(text[3:5]) * 60 + int(text[6:8])) * 1_000_000
    if len(text) > 9:
        us += int(text[9:]) * _FRACTION_SCALE[len(text) - 9]
    return us


def _offset_seconds(text: str) -> int:
    """``+05``, ``-03:30``, ``+00:19:32`` → seconds east of UTC."""
    parts = text[1:].split(":")
    seconds = int(parts[0]) * 3600 + (int(parts[1]) * 60 if len(parts) > 1 else 0)
    seconds += int(parts[2]) if len(parts) > 2 else 0
    return -seconds if text[0] == "-" else seconds


def _date(value: str) -> int:
    if value == "infinity":
        return DATE_POSITIVE_INFINITY
    if value == "-infinity":
        return DATE_NEGATIVE_INFINITY
    if value.endswith(" BC"):
        return _parse_date(value[:-3], True)
    return _parse_date(value, False)


def _time(typmod: int) -> Converter:
    if 0 <= typmod <= 3:
        return lambda value: _time_us(value) // 1000
    return _time_us


def _timestamp_us(value: str) -> int:
    if value[10:11] == " " and not value.endswith(" BC"):  # the common case: a four-digit AD year
        return (_datetime_fromisoformat(value) - _EPOCH) // _ONE_US
    bc = value.endswith(" BC")
    if bc:
        value = value[:-3]
    date, _, time = value.partition(" ")
    return _parse_date(date, bc) * _US_PER_DAY + _time_us(time)


def _timestamp(typmod: int) -> Converter:
    if 0 <= typmod <= 3:

        def timestamp_ms(value: str) -> int:
            if value == "infinity":
                return TIMESTAMP_POSITIVE_INFINITY_US // 1000
            if value == "-infinity":
                return TIMESTAMP_NEGATIVE_INFINITY_US // 1000
            return _timestamp_us(value) // 1000

        return timestamp_ms

    def timestamp_us(value: str) -> int:
        if value == "infinity":
            return TIMESTAMP_POSITIVE_INFINITY_US
        if value == "-infinity":
            return TIMESTAMP_NEGATIVE_INFINITY_US
        return _timestamp_us(value)

    return timestamp_us


def _split_offset(time: str) -> tuple[str, int]:
    """``10:15:30.5+05:30`` → (``10:15:30.5``, 19800)."""
    cut = max(time.rfind("+"), time.rfind("-"))
    return time[:cut], _offset_seconds(time[cut:])


def _fraction(us: int, width: int) -> str:
    if width > 0:
        return "." + f"{us:06d}"[:width].ljust(width, "0")
    return "." + f"{us:06d}".rstrip("0") if us else ""


def _iso_year(year: int) -> str:
    # java.time ISO_LOCAL_DATE: 4 digits, '+' beyond 9999, '-' before year 0
    if year > 9999:
        return f"+{year}"
    return f"{year:04d}" if year >= 0 else f"-{-year:04d}"


def _timestamptz(typmod: int) -> Converter:
    width = typmod if typmod >= 0 else 6

    def timestamptz(value: str) -> str:
        if value.endswith("+00") and value[10:11] == " ":  # a UTC session, four-digit AD year: reformat only
            fraction = value[20:-3]
            if width > 0:
                fraction = "." + fraction.ljust(width, "0")
            elif fraction:
                fraction = "." + fraction
            return f"{value[:10]}T{value[11:19]}{fraction}Z"
        if value == "infinity" or value == "-infinity":
            return value
        bc = value.endswith(" BC")
        if bc:
            value = value[:-3]
        date, _, time = value.partition(" ")
        local_time, offset = _split_offset(time)
        us = _parse_date(date, bc) * _US_PER_DAY + _time_us(local_time) - offset * 1_000_000
        days, us = divmod(us, _US_PER_DAY)
        year, month, day = _civil_from_days(days)
        seconds, micros = divmod(us, 1_000_000)
        hours, seconds = divmod(seconds, 3600)
        minutes, seconds = divmod(seconds, 60)
        return (
            f"{_iso_year(year)}-{month:02d}-{day:02d}T{hours:02d}:{minutes:02d}:{seconds:02d}"
            f"{_fraction(micros, width)}Z"
        )

    return timestamptz


def _timetz(value: str) -> str:
    # Debezium reads a timetz as java.time.OffsetTime, which has no 24:00: `24:00:00+00` arrives as 00:00:00Z.
    local_time, offset = _split_offset(value)
    us = (_time_us(local_time) - offset * 1_000_000) % _US_PER_DAY
    seconds, micros = divmod(us, 1_000_000)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{_fraction(micros, 0)}Z"


_DAYS_PER_MONTH_AVG: Final = 365.25 / 12.0
_LONG_MAX: Final = 2**63 - 1
_LONG_MIN: Final = -(2**63)


def _interval(value: str) -> int:
    """Debezium's ``MicroDuration.durationMicros`` over pgjdbc's ``PGInterval`` parse, in the same double maths."""
    years = months = days = hours = minutes = 0
    seconds = 0.0
    amount = ""
    for token in value.replace("+", " ").split():
        colon = token.find(":")
        if colon >= 0:
            negative = token[0] == "-"
            hours = int(token[1 if negative else 0 : colon])
            minutes = int(token[colon + 1 : colon + 3])
            seconds = float(token[colon + 4 :]) if len(token) > colon + 3 else 0.0
            if negative:
                hours, minutes, seconds = -hours, -minutes, -seconds
        elif token[0].isalpha():
            unit = token.lower()
            if unit.startswith("year"):
                years = int(amount)
            elif unit.startswith("mon"):
                months = int(amount)
            elif unit.startswith("day"):
                days = int(amount)
            else:
                msg = f"unexpected interval unit `{token}` in {value!r}"
                raise ValueError(msg)
        else:
            amount = token
    total_us = math.floor(seconds * 1e6 + 0.5)  # PGInterval.setSeconds: Math.round
    whole = abs(total_us) // 1_000_000 * (1 if total_us >= 0 else -1)
    seconds = whole + (total_us - whole * 1_000_000) / 1_000_000
    number_of_days = (years * 12 + months) * _DAYS_PER_MONTH_AVG + days
    number_of_seconds = (((number_of_days * 24 + hours) * 60) + minutes) * 60 + seconds
    micros = number_of_seconds * 1e6
    if micros != micros:
        return 0
    return max(_LONG_MIN, min(_LONG_MAX, int(micros)))


# --- hstore -----------------------------------------------------------------------------------------------


def _quoted(text: str, pos: int) -> tuple[str, int]:
    """The double-quoted, backslash-escaped string starting at ``text[pos] == '"'``; returns it and the next pos."""
    parts = []
    pos += 1
    while True:
        quote = text.index('"', pos)
        escape = text.find("\\", pos, quote)
        if escape < 0:
            parts.append(text[pos:quote])
            return "".join(parts), quote + 1
        parts.append(text[pos:escape])
        parts.append(text[escape + 1])
        pos = escape + 2


def _java_string_hash(text: str) -> int:
    h = 0
    units = text.encode("utf-16-be")
    for i in range(0, len(units), 2):
        h = (31 * h + (units[i] << 8 | units[i + 1])) & 0xFFFFFFFF
    return h


def _java_hashmap_order(keys: list[str]) -> list[str]:
    """The iteration order of a ``java.util.HashMap`` filled with ``keys`` in this order (no tree bins)."""
    capacity = 16
    while len(keys) > capacity * 0.75:
        capacity *= 2

    def bucket(indexed: tuple[int, str]) -> tuple[int, int]:
        h = _java_string_hash(indexed[1])
        return (h ^ (h >> 16)) & (capacity - 1), indexed[0]

    return [key for _, key in sorted(enumerate(keys), key=bucket)]


def _hstore(value: str) -> str:
    pairs: dict[str, str | None] = {}
    pos, n = 0, len(value)
    while pos < n:
        if value[pos] in ", ":
            pos += 1
            continue
        key, pos = _quoted(value, pos)
        pos = value.index("=>", pos) + 2
        while value[pos] == " ":
            pos += 1
        if value.startswith("NULL", pos):
            pairs[key] = None
            pos += 4
        else:
            pairs[key], pos = _quoted(value, pos)
    ordered = {key: pairs[key] for key in _java_hashmap_order(list(pairs))}
    return orjson.dumps(ordered).decode()


# --- arrays -----------------------------------------------------------------------------------------------


def _array(element: Converter) -> Converter:
    def array(value: str) -> list[Any]:
        pos = value.index("=") + 1 if value[0] == "[" else 0  # "[0:1]={1,2}": dimension decoration
        result, _ = _array_level(value, pos, element)
        return result

    return array


def _array_level(text: str, pos: int, element: Converter) -> tuple[list[Any], int]:
    out: list[Any] = []
    pos += 1  # '{'
    if text[pos] == "}":
        return out, pos + 1
    while True:
        c = text[pos]
        if c == "{":
            nested, pos = _array_level(text, pos, element)
            out.append(nested)
        elif c == '"':
            item, pos = _quoted(text, pos)
            out.append(element(item))
        else:
            end = pos
            while text[end] not in ",}":
                end += 1
            token = text[pos:end]
            out.append(None if token.upper() == "NULL" else element(token))
            pos = end
        c = text[pos]
        pos += 1
        if c == "}":
            return out, pos


def _fixed(converter: Converter) -> Callable[[int], Converter]:
    return lambda typmod: converter


_SCALARS: Final[dict[int, Callable[[int], Converter]]] = {
    16: _fixed(_bool),
    17: _fixed(_bytea),
    20: _fixed(int),
    21: _fixed(int),
    23: _fixed(int),
    26: _fixed(int),
    600: _fixed(_point),
    700: _fixed(_float),
    701: _fixed(_float),
    790: _fixed(_money),
    1082: _fixed(_date),
    1083: _time,
    1114: _timestamp,
    1184: _timestamptz,
    1186: _fixed(_interval),
    1266: _fixed(_timetz),
    1560: _bits,
    1562: _bits,
    1700: _fixed(_numeric),
}


# --- schema types (PostgresValueConverter.schemaBuilder with RDI's defaults) ---------------------------------

_STRING_TYPE: Final = ColumnType(type="string")
_ARRAY_TYPE: Final = ColumnType(type="array")
_ENUM_TYPE: Final = ColumnType(name="io.debezium.data.Enum", type="string")
_JSON_TYPE: Final = ColumnType(name="io.debezium.data.Json", type="string")
_BOOLEAN_TYPE: Final = ColumnType(type="boolean")


def _same(ctype: ColumnType) -> Callable[[int], ColumnType]:
    return lambda typmod: ctype


def _precision(short: ColumnType, long: ColumnType) -> Callable[[int], ColumnType]:
    """``time.precision.mode=adaptive``: precision 0-3 → ms type, else (4-6 or unspecified) → µs type."""
    return lambda typmod: short if 0 <= typmod <= 3 else long


def _bits_type(typmod: int) -> ColumnType:
    return _BOOLEAN_TYPE if typmod == 1 else ColumnType(name="io.debezium.data.Bits", type="bytes")


_SCHEMAS: Final[dict[int, Callable[[int], ColumnType]]] = {
    16: _same(_BOOLEAN_TYPE),
    17: _same(ColumnType(type="bytes")),  # binary.handling.mode=bytes
    20: _same(ColumnType(type="int64")),
    21: _same(ColumnType(type="int16")),
    23: _same(ColumnType(type="int32")),
    26: _same(ColumnType(type="int64")),  # oid
    114: _same(_JSON_TYPE),
    142: _same(ColumnType(name="io.debezium.data.Xml", type="string")),
    600: _same(ColumnType(name="io.debezium.data.geometry.Point", type="struct")),
    700: _same(ColumnType(type="float32")),
    701: _same(ColumnType(type="float64")),
    790: _same(_STRING_TYPE),  # money, decimal.handling.mode=string
    1082: _same(ColumnType(name="io.debezium.time.Date", type="int32")),
    1083: _precision(
        ColumnType(name="io.debezium.time.Time", type="int32"),
        ColumnType(name="io.debezium.time.MicroTime", type="int64"),
    ),
    1114: _precision(
        ColumnType(name="io.debezium.time.Timestamp", type="int64"),
        ColumnType(name="io.debezium.time.MicroTimestamp", type="int64"),
    ),
    1184: _same(ColumnType(name="io.debezium.time.ZonedTimestamp", type="string")),
    1186: _same(ColumnType(name="io.debezium.time.MicroDuration", type="int64")),  # interval.handling.mode=numeric
    1266: _same(ColumnType(name="io.debezium.time.ZonedTime", type="string")),
    1560: _bits_type,
    1562: _bits_type,
    1700: _same(_STRING_TYPE),  # numeric, decimal.handling.mode=string: no Decimal name, never reinterpreted
    2950: _same(ColumnType(name="io.debezium.data.Uuid", type="string")),
    3614: _same(ColumnType(name="io.debezium.data.Tsvector", type="string")),
    3802: _same(_JSON_TYPE),
}
"""Built-in types whose schema is not a plain ``string`` (text types, ranges, network types, ... are)."""

_EXTENSION_SCHEMAS: Final[Mapping[str, ColumnType]] = {
    "hstore": _JSON_TYPE,  # hstore.handling.mode=json
    "ltree": ColumnType(name="io.debezium.data.Ltree", type="string"),
}
