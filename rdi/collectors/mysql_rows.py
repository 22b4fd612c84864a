"""A fast decoder of binlog row images, compiled once per table from its TABLE_MAP columns.

python-mysql-replication parses rows column by column through several generic layers (name lookups, bitmaps,
per-byte reads): with ~1 KB rows it caps the collector near 5k rows/s (``bench/macro/bench_mysql_collector.py
--profile``). Its rows are parsed lazily, so the collector takes the raw body of a rows event instead
(:func:`raw_body`) and decodes it here with one small reader per column and ``struct.unpack_from`` on the bytes.

Values come out as the library gives them (ints, ``Decimal``, ``str``/``bytes``, ``datetime``/``date``/
``timedelta``; a ``SET`` as the text of its members in declared order, a ``BIT`` as an int), so the converters of
:mod:`rdi.collectors.mysql_types` apply unchanged. :func:`compile_row_reader` returns None for a table with a
column it does not decode (MySQL's binary JSON, spatial types, pre-5.6 temporal types); the collector then uses
the library's own rows. Only full row images are decoded (``binlog_row_image=FULL``: every column present).
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, Final, TypeAlias

from pymysql.charset import charset_by_name

__all__ = ["RowReader", "compile_row_reader", "decode_rows", "raw_body"]

_Reader: TypeAlias = Callable[[bytes, int], tuple[Any, int]]
RowReader: TypeAlias = list[_Reader]

_EPOCH: Final = dt.datetime(1970, 1, 1)
_U8 = struct.Struct("<B").unpack_from
_I8 = struct.Struct("<b").unpack_from
_U16 = struct.Struct("<H").unpack_from
_I16 = struct.Struct("<h").unpack_from
_U32 = struct.Struct("<I").unpack_from
_I32 = struct.Struct("<i").unpack_from
_U64 = struct.Struct("<Q").unpack_from
_I64 = struct.Struct("<q").unpack_from
_F32 = struct.Struct("<f").unpack_from
_F64 = struct.Struct("<d").unpack_from
_DIG2BYTES: Final = (0, 1, 1, 2, 2, 3, 3, 4, 4, 4)


def raw_body(event: Any) -> bytes:
    """The unread rows of a python-mysql-replication rows event (its header and bitmaps already read)."""
    return bytes(event.packet.read(event.event_size - event.packet.read_bytes))


def decode_rows(body: bytes, readers: RowReader, images: int) -> list[list[Any]]:
    """Every row image in ``body`` as a list of values in column order (``images`` = 2 for updates: before, after,
    before, after...). NULL is None."""
    ncols = len(readers)
    null_len = (ncols + 7) // 8
    out: list[list[Any]] = []
    pos, end = 0, len(body)
    while pos < end:
        nulls = body[pos : pos + null_len]
        pos += null_len
        row: list[Any] = []
        append = row.append
        for i, read in enumerate(readers):
            if nulls[i >> 3] & (1 << (i & 7)):
                append(None)
            else:
                value, pos = read(body, pos)
                append(value)
        out.append(row)
    if images == 2 and len(out) % 2:
        raise ValueError("an update rows event with an odd number of row images")
    return out


def compile_row_reader(columns: Sequence[Any]) -> RowReader | None:
    """One reader per TABLE_MAP column (python-mysql-replication ``Column``); None if one type is not supported."""
    readers = []
    for column in columns:
        reader = _reader(column)
        if reader is None:
            return None
        readers.append(reader)
    return readers


def _fixed(unpack: Callable[[bytes, int], tuple[Any, ...]], size: int) -> _Reader:
    def read(buf: bytes, pos: int) -> tuple[Any, int]:
        return unpack(buf, pos)[0], pos + size

    return read


def _reader(column: Any) -> _Reader | None:
    code = column.type
    unsigned = bool(column.unsigned)
    if code == 1:
        return _fixed(_U8 if unsigned else _I8, 1)
    if code == 2:
        return _fixed(_U16 if unsigned else _I16, 2)
    if code == 9:
        return lambda b, p: (int.from_bytes(b[p : p + 3], "little", signed=not unsigned), p + 3)
    if code == 3:
        return _fixed(_U32 if unsigned else _I32, 4)
    if code == 8:
        return _fixed(_U64 if unsigned else _I64, 8)
    if code == 4:
        return _fixed(_F32, 4)
    if code == 5:
        return _fixed(_F64, 8)
    if code == 13:
        return lambda b, p: ((b[p] + 1900) if b[p] else 0, p + 1)
    if code in (15, 253, 254):
        return _string(column, 2 if column.max_length > 255 else 1)
    if code == 252:
        return _string(column, column.length_size)
    if code == 247:
        values = column.enum_values or [""]
        size = column.size
        return lambda b, p: (_enum(values, int.from_bytes(b[p : p + size], "little")), p + size)
    if code == 248:
        members = column.set_values or []
        size = column.size
        return lambda b, p: (_set(members, int.from_bytes(b[p : p + size], "little")), p + size)
    if code == 16:
        width = column.bytes
        return lambda b, p: (int.from_bytes(b[p : p + width], "big"), p + width)
    if code == 246:
        return _decimal(column.precision, column.decimals)
    if code == 10:
        return _date
    if code == 18:
        return _datetime2(column.fsp)
    if code == 17:
        return _timestamp2(column.fsp)
    if code == 19:
        return _time2(column.fsp)
    return None  # 245 MySQL JSON, 255 geometry, 7/11/12 old temporal formats


def _string(column: Any, length_size: int) -> _Reader:
    name = column.character_set_name
    encoding: str | None = None
    if name is not None and name != "binary":
        charset = charset_by_name(name)
        encoding = charset.encoding if charset else name
        try:
            "".encode(encoding)
        except LookupError:  # a MySQL charset Python lacks (swe7...): hand the bytes on, as the library does
            encoding = None
    elif name is None:
        encoding = "utf-8"
    len_at = {1: _U8, 2: _U16, 3: None, 4: _U32}.get(length_size)

    def read(buf: bytes, pos: int) -> tuple[Any, int]:
        n = int.from_bytes(buf[pos : pos + length_size], "little") if len_at is None else len_at(buf, pos)[0]
        start = pos + length_size
        raw = buf[start : start + n]
        return (raw if encoding is None else raw.decode(encoding)), start + n

    return read


def _enum(values: Sequence[str], index: int) -> str | None:
    return values[index] if index < len(values) else None


def _set(members: Sequence[str], mask: int) -> str:
    return ",".join(m for i, m in enumerate(members) if mask & (1 << i))


def _decimal(precision: int, scale: int) -> _Reader:
    integral = precision - scale
    int_full, int_rest = divmod(integral, 9)
    frac_full, frac_rest = divmod(scale, 9)
    size = int_full * 4 + _DIG2BYTES[int_rest] + frac_full * 4 + _DIG2BYTES[frac_rest]
    lead, tail = _DIG2BYTES[int_rest], _DIG2BYTES[frac_rest]

    def read(buf: bytes, pos: int) -> tuple[Any, int]:
        raw = bytearray(buf[pos : pos + size])
        negative = not raw[0] & 0x80
        raw[0] ^= 0x80
        if negative:
            raw = bytearray(x ^ 0xFF for x in raw)
        i = 0
        digits = []
        if lead:
            digits.append(str(int.from_bytes(raw[i : i + lead], "big")))
            i += lead
        for _ in range(int_full):
            digits.append(f"{int.from_bytes(raw[i : i + 4], 'big'):09d}")
            i += 4
        text = "".join(digits) or "0"
        fraction = []
        for _ in range(frac_full):
            fraction.append(f"{int.from_bytes(raw[i : i + 4], 'big'):09d}")
            i += 4
        if tail:
            fraction.append(f"{int.from_bytes(raw[i : i + tail], 'big'):0{frac_rest}d}")
        if fraction:
            text += "." + "".join(fraction)
        return Decimal(("-" if negative else "") + text), pos + size

    return read


def _fsp_reader(fsp: int) -> tuple[int, int, int]:
    """(bytes, divisor, multiplier) turning the stored fraction into microseconds."""
    size = (fsp + 1) // 2
    return size, 10 if fsp % 2 else 1, 10 ** (6 - fsp) if fsp else 0


def _date(buf: bytes, pos: int) -> tuple[Any, int]:
    v = buf[pos] | buf[pos + 1] << 8 | buf[pos + 2] << 16
    day, month, year = v & 31, (v >> 5) & 15, v >> 9
    if not (day and month and year):
        return None, pos + 3  # a zero date
    return dt.date(year, month, day), pos + 3


def _datetime2(fsp: int) -> _Reader:
    fsize, div, mul = _fsp_reader(fsp)

    def read(buf: bytes, pos: int) -> tuple[Any, int]:
        v = int.from_bytes(buf[pos : pos + 5], "big")
        ym = (v >> 22) & 0x1FFFF
        us = (int.from_bytes(buf[pos + 5 : pos + 5 + fsize], "big") // div) * mul if fsize else 0
        try:
            value = dt.datetime(ym // 13, ym % 13, (v >> 17) & 31, (v >> 12) & 31, (v >> 6) & 63, v & 63, us)
        except ValueError:
            value = None  # a zero or partly zero datetime
        return value, pos + 5 + fsize

    return read


def _timestamp2(fsp: int) -> _Reader:
    fsize, div, mul = _fsp_reader(fsp)

    def read(buf: bytes, pos: int) -> tuple[Any, int]:
        seconds = int.from_bytes(buf[pos : pos + 4], "big")
        us = (int.from_bytes(buf[pos + 4 : pos + 4 + fsize], "big") // div) * mul if fsize else 0
        if not seconds and not us:
            return None, pos + 4 + fsize  # the zero timestamp, as the snapshot reads it
        return _EPOCH + dt.timedelta(seconds=seconds, microseconds=us), pos + 4 + fsize

    return read


def _time2(fsp: int) -> _Reader:
    fsize, div, mul = _fsp_reader(fsp)

    def read(buf: bytes, pos: int) -> tuple[Any, int]:
        v = int.from_bytes(buf[pos : pos + 3], "big")
        sign = 1 if v & 0x800000 else -1
        if sign < 0:
            v = (~v + 1) & 0xFFFFFF  # two's complement of the 24-bit integer part
        us = (int.from_bytes(buf[pos + 3 : pos + 3 + fsize], "big") // div) * mul if fsize else 0
        value = dt.timedelta(hours=(v >> 12) & 0x3FF, minutes=(v >> 6) & 63, seconds=v & 63, microseconds=us)
        return value * sign, pos + 3 + fsize

    return read
