"""MySQL/MariaDB column types → Debezium JSON values (RDI defaults) and the Connect type the processor needs.

Pure. A column is described once, as a :class:`MySqlColumn`, whether it comes from ``information_schema`` (snapshot,
refinements) or from a binlog TABLE_MAP event (:func:`column_from_binlog`); :func:`converter_for` then gives one
function per column that turns a value as PyMySQL (snapshot) or python-mysql-replication (binlog) delivers it into
what Debezium's MySQL connector writes with RDI's settings (cdc-notes §1.4, §4.4):

* ints as numbers (``BIGINT UNSIGNED`` above 2^63−1 exact in ``precise`` mode, wrapped negative in ``long``);
  ``TINYINT(1)``/``BOOLEAN`` stay numbers (what Debezium's snapshot schema, ``tinyint(1)`` → INT16, gives);
* ``DECIMAL``: ``"12.34"`` (``string``, RDI's default), base64 two's-complement (``precise``) or a number;
* ``FLOAT`` as the shortest text that reads back as the same float32 (``1.1``, not ``1.100000023841858``);
* ``BINARY(n)`` right-padded with the zero bytes the binlog strips; every binary value base64;
* ``SET`` joined in declared order; ``ENUM``, ``JSON`` (MariaDB: ``LONGTEXT`` + ``json_valid`` check) as text;
* ``DATE`` days, ``TIME`` µs, ``DATETIME`` ms (fsp ≤ 3) or µs since the epoch, read as UTC; ``TIMESTAMP`` an ISO
  string in UTC with fsp fraction digits; ``YEAR`` a number; zero dates → 0 (NOT NULL) — a nullable column's zero
  date arrives as None and stays null;
* ``BIT(1)`` a boolean, ``BIT(n)`` base64 of the little-endian bytes; spatial types ``{"wkb", "srid"}``.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, TypeAlias

__all__ = [
    "Converter",
    "MySqlColumn",
    "column_from_binlog",
    "column_from_information_schema",
    "converter_for",
    "float32_text",
    "schema_entry",
    "zero_value",
]

Converter: TypeAlias = Callable[[Any], Any]

_EPOCH_DATE: Final = dt.date(1970, 1, 1)
_EPOCH: Final = dt.datetime(1970, 1, 1)
_US: Final = dt.timedelta(microseconds=1)
_MS: Final = dt.timedelta(milliseconds=1)
_INT_KINDS: Final = ("tinyint", "smallint", "mediumint", "int", "bigint")
_TEXT_KINDS: Final = ("char", "varchar", "tinytext", "text", "mediumtext", "longtext")
_BINARY_KINDS: Final = ("binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob")
_SPATIAL_KINDS: Final = (
    "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon",
    "geometrycollection",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class MySqlColumn:
    """One column: ``kind`` is the lower-case SQL type name (``int``, ``varchar``, ``datetime``, ``json``...).

    ``length`` is the byte length of ``binary(n)`` (for padding) and the bit count of ``bit(n)``; ``fsp`` the
    fractional-second digits of time types; ``values`` the members of an ``enum``/``set`` in declared order.
    """

    name: str
    kind: str
    unsigned: bool = False
    nullable: bool = True
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    fsp: int = 0
    values: tuple[str, ...] = ()

    def same_family(self, other: MySqlColumn) -> bool:
        """Whether ``other`` (from the binlog, which cannot tell JSON from LONGTEXT) may be refined by ``self``."""
        return _family(self.kind) == _family(other.kind) and self.unsigned == other.unsigned


def _family(kind: str) -> str:
    if kind in _TEXT_KINDS or kind == "json":
        return "text"
    if kind in _BINARY_KINDS:
        return "binary" if kind == "binary" else "varbinary"
    return kind


# ---- describing columns ---------------------------------------------------------------------------------------

_ENUM_MEMBER = re.compile(r"'((?:[^']|'')*)'")


def column_from_information_schema(
    name: str,
    data_type: str,
    column_type: str,
    nullable: bool,
    char_octets: int | None,
    precision: int | None,
    scale: int | None,
    fsp: int | None,
    json_checked: bool = False,
) -> MySqlColumn:
    """A column from an ``information_schema.COLUMNS`` row (``DATA_TYPE``, ``COLUMN_TYPE``, ``IS_NULLABLE``,
    ``CHARACTER_OCTET_LENGTH``, ``NUMERIC_PRECISION``, ``NUMERIC_SCALE``, ``DATETIME_PRECISION``); ``json_checked``
    marks a MariaDB ``JSON`` column (a ``LONGTEXT`` with a ``json_valid`` check constraint)."""
    kind = data_type.lower()
    ctype = column_type.lower()
    values: tuple[str, ...] = ()
    length: int | None = None
    if kind in ("enum", "set"):
        values = tuple(m.replace("''", "'") for m in _ENUM_MEMBER.findall(column_type[column_type.index("(") :]))
    elif kind == "binary":
        length = char_octets
    elif kind == "bit":
        length = precision or 1
    if kind == "longtext" and json_checked:
        kind = "json"
    return MySqlColumn(
        name=name,
        kind=kind,
        unsigned="unsigned" in ctype,
        nullable=nullable,
        length=length,
        precision=precision if kind == "decimal" else None,
        scale=scale if kind == "decimal" else None,
        fsp=int(fsp or 0) if kind in ("time", "datetime", "timestamp") else 0,
        values=values,
    )


# python-mysql-replication FIELD_TYPE codes.
_BINLOG_KINDS: Final = {
    1: "tinyint", 2: "smallint", 3: "int", 4: "float", 5: "double", 7: "timestamp", 8: "bigint", 9: "mediumint",
    10: "date", 11: "time", 12: "datetime", 13: "year", 16: "bit", 17: "timestamp", 18: "datetime", 19: "time",
    245: "json", 246: "decimal", 247: "enum", 248: "set", 255: "geometry",
}  # fmt: skip


def column_from_binlog(column: Any, nullable: bool) -> MySqlColumn:
    """A column from a python-mysql-replication TABLE_MAP ``Column`` (names need ``binlog_row_metadata=FULL``)."""
    code = column.type
    binary = column.character_set_name == "binary"
    kind = _BINLOG_KINDS.get(code)
    length: int | None = None
    if kind is None:
        if code in (15, 253):
            kind = "varbinary" if binary else "varchar"
        elif code == 254:
            kind = "binary" if binary else "char"
            length = column.max_length if binary else None
        elif code == 252:
            kind = "blob" if binary else "longtext"
        else:
            kind = f"type{code}"
    if kind == "bit":
        length = column.bits
    values: tuple[str, ...] = ()
    if kind == "enum":
        values = tuple(column.enum_values[1:])  # the library puts "" (index 0, an invalid value) first
    elif kind == "set":
        values = tuple(column.set_values or ())
    return MySqlColumn(
        name=column.name,
        kind=kind,
        unsigned=bool(column.unsigned),
        nullable=nullable,
        length=length,
        precision=getattr(column, "precision", None) if kind == "decimal" else None,
        scale=getattr(column, "decimals", None) if kind == "decimal" else None,
        fsp=int(getattr(column, "fsp", 0) or 0),
        values=values,
    )


# ---- the processor's view: Connect type, logical name, scale --------------------------------------------------


def schema_entry(column: MySqlColumn, decimal_mode: str = "string") -> dict[str, Any]:
    """``{"type": <Connect type>, "name": <Debezium logical type or None>, "scale": <int or None>}``."""
    kind = column.kind
    name: str | None = None
    scale: int | None = None
    if kind in _INT_KINDS:
        width = {"tinyint": 16, "smallint": 16, "mediumint": 32, "int": 32, "bigint": 64}[kind]
        if column.unsigned and kind in ("smallint", "int"):
            width *= 2
        ctype = f"int{width}"
    elif kind == "decimal":
        scale = column.scale
        if decimal_mode == "precise":
            ctype, name = "bytes", "org.apache.kafka.connect.data.Decimal"
        else:
            ctype = "double" if decimal_mode == "double" else "string"
    elif kind == "float":
        ctype = "float"
    elif kind == "double":
        ctype = "double"
    elif kind == "bit":
        if (column.length or 1) == 1:
            ctype = "boolean"
        else:
            ctype, name = "bytes", "io.debezium.data.Bits"
    elif kind in _BINARY_KINDS:
        ctype = "bytes"
    elif kind == "enum":
        ctype, name = "string", "io.debezium.data.Enum"
    elif kind == "set":
        ctype, name = "string", "io.debezium.data.EnumSet"
    elif kind == "json":
        ctype, name = "string", "io.debezium.data.Json"
    elif kind == "date":
        ctype, name = "int32", "io.debezium.time.Date"
    elif kind == "time":
        ctype, name = "int64", "io.debezium.time.MicroTime"
    elif kind == "datetime":
        ctype = "int64"
        name = "io.debezium.time.Timestamp" if column.fsp <= 3 else "io.debezium.time.MicroTimestamp"
    elif kind == "timestamp":
        ctype, name = "string", "io.debezium.time.ZonedTimestamp"
    elif kind == "year":
        ctype, name = "int32", "io.debezium.time.Year"
    elif kind in _SPATIAL_KINDS:
        ctype, name = "struct", "io.debezium.data.geometry.Geometry"
    else:
        ctype = "string"
    return {"type": ctype, "name": name, "scale": scale}


# ---- values ---------------------------------------------------------------------------------------------------


def converter_for(
    column: MySqlColumn, *, decimal_mode: str = "string", bigint_unsigned_mode: str = "precise"
) -> Converter | None:
    """The function turning a non-NULL value of ``column`` into its Debezium JSON value; None means "as is".

    Accepts what either driver gives: PyMySQL text-protocol values (snapshot) or python-mysql-replication values
    (binlog), e.g. a ``SET`` as ``"a,c"`` or ``{"c", "a"}``, a ``BIT`` as ``b"\\x02\\x01"`` or ``"1000000001"``.
    """
    kind = column.kind
    if kind in _INT_KINDS:
        if kind == "bigint" and column.unsigned and bigint_unsigned_mode == "long":
            return _wrap_long
        return None
    if kind == "decimal":
        if decimal_mode == "precise":
            scale = column.scale or 0
            return lambda v: _decimal_bytes(Decimal(v), scale)
        if decimal_mode == "double":
            return float
        return _decimal_text
    if kind == "float":
        return float32_text
    if kind == "double":
        return float
    if kind in _TEXT_KINDS or kind in ("enum", "json"):
        return _text
    if kind == "set":
        order = column.values
        return lambda v: v if isinstance(v, str) else ",".join(m for m in order if m in v)
    if kind == "binary":
        width = column.length or 0
        return lambda v: _b64(_as_bytes(v).ljust(width, b"\0"))
    if kind in _BINARY_KINDS:
        return lambda v: _b64(_as_bytes(v))
    if kind == "bit":
        bits = column.length or 1
        if bits == 1:
            return lambda v: _bit_int(v) != 0
        width = (bits + 7) // 8
        return lambda v: _b64(_bit_int(v).to_bytes(width, "little"))
    if kind in ("date", "datetime", "timestamp"):
        fsp = column.fsp
        parse = _parse_date if kind == "date" else _parse_datetime
        if kind == "timestamp":
            encode: Converter = lambda v: _timestamp_iso(v, fsp)  # noqa: E731
        else:
            encode = _date_days if kind == "date" else _datetime_ms if fsp <= 3 else _datetime_us
        # A zero date (text that is no date) of a nullable column is null, as in the binlog; else the epoch.
        zero = None if column.nullable else zero_value(column)
        return lambda v: zero if (d := parse(v)) is None else encode(d)
    if kind == "time":
        return _time_us
    if kind == "year":
        return int
    if kind in _SPATIAL_KINDS:
        return _geometry
    return _text


def zero_value(column: MySqlColumn) -> Any:
    """What a NOT NULL column's value is when the binlog library reads it as None (a zero date, an empty set)."""
    if column.kind in ("date", "datetime"):
        return 0
    if column.kind == "timestamp":
        return _timestamp_iso(_EPOCH, column.fsp)
    if column.kind == "set":
        return ""
    return None


def float32_text(value: Any) -> float:
    """The shortest decimal that reads back as the same float32 (what Java prints for a ``float``)."""
    packed = struct.pack("<f", float(value))
    f32 = struct.unpack("<f", packed)[0]
    for digits in range(1, 10):
        candidate = float(f"{f32:.{digits}g}")
        try:
            if struct.pack("<f", candidate) == packed:
                return candidate
        except OverflowError:  # rounded past float32's largest value
            continue
    return float(f32)


def _wrap_long(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _decimal_text(value: Any) -> str:
    return format(value if isinstance(value, Decimal) else Decimal(value), "f")


def _decimal_bytes(value: Decimal, scale: int) -> str:
    unscaled = int(value.scaleb(scale))
    return _b64(unscaled.to_bytes((unscaled.bit_length() + 8) // 8, "big", signed=True))


def _text(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, str):
        return value
    import orjson  # MySQL's binary JSON arrives decoded by the binlog library

    return orjson.dumps(value).decode()


def _as_bytes(value: Any) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _bit_int(value: Any) -> int:
    if isinstance(value, str):  # the binlog library: most significant bit first
        return int(value, 2) if value else 0
    if isinstance(value, int):
        return value
    return int.from_bytes(value, "big")  # PyMySQL: the raw big-endian bytes


def _parse_date(value: Any) -> Any:
    """A ``date`` from either driver: the snapshot session reads temporal columns as ISO text (``fromisoformat``
    is C code, PyMySQL's parsers are not); None for a zero or partly zero date."""
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return value.date() if isinstance(value, dt.datetime) else value


def _parse_datetime(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    return value


def _date_days(value: Any) -> int:
    return (value - _EPOCH_DATE).days  # type: ignore[no-any-return]


def _time_us(value: Any) -> int:
    if isinstance(value, dt.timedelta):
        return value // _US
    if isinstance(value, str):  # "-838:59:59.000000"
        sign = -1 if value.startswith("-") else 1
        hours, minutes, seconds = value.lstrip("-").split(":")
        whole, _, fraction = seconds.partition(".")
        micros = int(fraction[:6].ljust(6, "0")) if fraction else 0
        return sign * (((int(hours) * 60 + int(minutes)) * 60 + int(whole)) * 1_000_000 + micros)
    if isinstance(value, dt.time):
        return ((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000 + value.microsecond
    return 0


def _datetime_ms(value: Any) -> int:
    return (value - _EPOCH) // _MS  # type: ignore[no-any-return]


def _datetime_us(value: Any) -> int:
    return (value - _EPOCH) // _US  # type: ignore[no-any-return]


def _timestamp_iso(value: Any, fsp: int) -> str:
    text = f"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
    if fsp:
        text += "." + f"{value.microsecond:06d}"[:fsp]
    return text + "Z"


def _geometry(value: Any) -> dict[str, Any]:
    raw = _as_bytes(value)  # MySQL's internal form: a 4-byte little-endian SRID, then WKB
    return {"wkb": _b64(raw[4:]), "srid": int.from_bytes(raw[:4], "little")}
