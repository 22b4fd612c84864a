"""Decode PostgreSQL's ``pgoutput`` logical-replication messages (protocol 1, plus protocol 2's streaming).

Pure: bytes in, small slotted dataclasses out; no I/O. One message is one ``XLogData`` payload of the
streaming replication protocol, or one ``data`` row of ``pg_logical_slot_{peek,get}_binary_changes``.
The format (big-endian, strings NUL-terminated) is documented in the PostgreSQL manual, "Logical
Replication Message Formats"; the tags decoded here are::

    B Begin     C Commit      R Relation   Y Type     I Insert   U Update   D Delete   T Truncate
    O Origin    M Message     S Stream Start   E Stream Stop   c Stream Commit   A Stream Abort

Column values of a tuple are ``None`` (``n``: NULL), :data:`UNCHANGED_TOAST` (``u``: an unchanged TOASTed
value the server did not send), ``str`` (``t``: text format, decoded as UTF-8 once) or ``bytes`` (``b``:
binary format, only with the ``binary`` option). Inside a Stream Start … Stream Stop block (protocol 2,
``streaming 'on'``) change messages carry the streamed transaction's xid: pass ``in_stream=True`` then.

Timestamps are kept as sent: µs since 2000-01-01 UTC (:func:`pg_epoch_us_to_unix_us` converts them).
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

__all__ = [
    "UNCHANGED_TOAST",
    "Begin",
    "Commit",
    "Delete",
    "Insert",
    "LogicalMessage",
    "Message",
    "Origin",
    "Relation",
    "RelationColumn",
    "StreamAbort",
    "StreamCommit",
    "StreamStart",
    "StreamStop",
    "Truncate",
    "TupleData",
    "TupleValue",
    "TypeMessage",
    "Update",
    "decode_message",
    "format_lsn",
    "parse_lsn",
    "pg_epoch_us_to_unix_us",
]


class _Toast(enum.Enum):
    UNCHANGED = "u"

    def __repr__(self) -> str:
        return "UNCHANGED_TOAST"


UNCHANGED_TOAST: Final = _Toast.UNCHANGED
"""A TOASTed column value the server did not send because the update left it unchanged (tuple kind ``u``)."""

TupleValue: TypeAlias = str | bytes | Literal[_Toast.UNCHANGED] | None
TupleData: TypeAlias = list[TupleValue]

PG_EPOCH_OFFSET_US: Final = 946_684_800_000_000
"""µs from 1970-01-01 to 2000-01-01 (PostgreSQL's epoch)."""


def pg_epoch_us_to_unix_us(value: int) -> int:
    """µs since 2000-01-01 (as pgoutput sends timestamps) → µs since 1970-01-01."""
    return value + PG_EPOCH_OFFSET_US


def format_lsn(lsn: int) -> str:
    """``0x16B3748`` → ``"0/16B3748"`` (PostgreSQL's text form: two hex halves, upper case)."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    """``"0/16B3748"`` → ``0x16B3748``; raises ``ValueError`` for anything else."""
    high, slash, low = text.partition("/")
    try:
        if slash and 0 < len(high) <= 8 and 0 < len(low) <= 8:
            return (int(high, 16) << 32) | int(low, 16)
    except ValueError:
        pass
    msg = f"expected an LSN like `0/16B3748`, got {text!r} instead"
    raise ValueError(msg)


@dataclass(slots=True)
class Begin:
    final_lsn: int
    commit_ts_us: int
    xid: int


@dataclass(slots=True)
class Commit:
    flags: int
    commit_lsn: int
    end_lsn: int
    commit_ts_us: int


@dataclass(slots=True)
class RelationColumn:
    flags: int
    name: str
    type_oid: int
    typmod: int

    @property
    def is_key(self) -> bool:
        """Part of the replica identity (under REPLICA IDENTITY FULL: every column; not the primary key)."""
        return bool(self.flags & 1)


@dataclass(slots=True)
class Relation:
    relid: int
    namespace: str
    name: str
    replica_identity: str  # d(efault), n(othing), f(ull), i(ndex)
    columns: list[RelationColumn]
    xid: int | None = None


@dataclass(slots=True)
class TypeMessage:
    oid: int
    namespace: str
    name: str
    xid: int | None = None


@dataclass(slots=True)
class Insert:
    relid: int
    new: TupleData
    xid: int | None = None


@dataclass(slots=True)
class Update:
    """``key`` (``K``: replica-identity columns only, others None) is sent when the identity changed;
    ``old`` (``O``: the whole old row) under REPLICA IDENTITY FULL; neither otherwise."""

    relid: int
    key: TupleData | None
    old: TupleData | None
    new: TupleData
    xid: int | None = None


@dataclass(slots=True)
class Delete:
    relid: int
    key: TupleData | None
    old: TupleData | None
    xid: int | None = None


@dataclass(slots=True)
class Truncate:
    relids: list[int]
    options: int
    xid: int | None = None

    @property
    def cascade(self) -> bool:
        return bool(self.options & 1)

    @property
    def restart_identity(self) -> bool:
        return bool(self.options & 2)


@dataclass(slots=True)
class Origin:
    lsn: int
    name: str


@dataclass(slots=True)
class LogicalMessage:
    flags: int
    lsn: int
    prefix: str
    content: bytes
    xid: int | None = None

    @property
    def transactional(self) -> bool:
        return bool(self.flags & 1)


@dataclass(slots=True)
class StreamStart:
    xid: int
    first_segment: bool


@dataclass(slots=True)
class StreamStop:
    pass


@dataclass(slots=True)
class StreamCommit:
    xid: int
    flags: int
    commit_lsn: int
    end_lsn: int
    commit_ts_us: int


@dataclass(slots=True)
class StreamAbort:
    """``abort_lsn``/``abort_ts_us`` only with protocol 4's parallel streaming, else None."""

    xid: int
    subxid: int
    abort_lsn: int | None = None
    abort_ts_us: int | None = None


Message: TypeAlias = (
    Begin
    | Commit
    | Relation
    | TypeMessage
    | Insert
    | Update
    | Delete
    | Truncate
    | Origin
    | LogicalMessage
    | StreamStart
    | StreamStop
    | StreamCommit
    | StreamAbort
)

_U16: Final = struct.Struct(">H")
_I32: Final = struct.Struct(">i")
_U32: Final = struct.Struct(">I")
_U64: Final = struct.Struct(">Q")
_BEGIN: Final = struct.Struct(">QqI")
_COMMIT: Final = struct.Struct(">BQQq")
_REL_COL_TAIL: Final = struct.Struct(">Ii")
_TRUNCATE: Final = struct.Struct(">IB")
_STREAM_START: Final = struct.Struct(">IB")
_STREAM_COMMIT: Final = struct.Struct(">IBQQq")
_STREAM_ABORT: Final = struct.Struct(">II")
_STREAM_ABORT_PARALLEL: Final = struct.Struct(">IIQq")
_MESSAGE_HEAD: Final = struct.Struct(">BQ")

_T: Final = 0x74  # t
_N: Final = 0x6E  # n
_U: Final = 0x75  # u
_B: Final = 0x62  # b
_K: Final = 0x4B  # K
_O: Final = 0x4F  # O
_NEW: Final = 0x4E  # N


def decode_message(data: bytes | bytearray | memoryview, *, in_stream: bool = False) -> Message:
    """Decode one pgoutput message.

    ``in_stream``: the message sits between Stream Start and Stream Stop (protocol ≥ 2 streaming), so change,
    relation, type and transactional logical messages carry the streamed transaction's xid after the tag.
    Raises ``ValueError`` (one line) for an unknown tag, a truncated or malformed message.
    """
    buf = data if type(data) is bytes else bytes(data)
    if not buf:
        raise ValueError("empty pgoutput message")
    decode = _DECODERS.get(buf[0])
    if decode is None:
        msg = f"unknown pgoutput message tag {chr(buf[0])!r} (0x{buf[0]:02x})"
        raise ValueError(msg)
    try:
        return decode(buf, in_stream)
    except (struct.error, IndexError, ValueError) as exc:
        msg = f"malformed pgoutput {chr(buf[0])!r} message ({len(buf)} bytes): {exc}"
        raise ValueError(msg) from None


def _string(buf: bytes, pos: int) -> tuple[str, int]:
    end = buf.index(0, pos)
    return buf[pos:end].decode(), end + 1


def _xid(buf: bytes, in_stream: bool) -> tuple[int | None, int]:
    if in_stream:
        return _U32.unpack_from(buf, 1)[0], 5
    return None, 1


def _tuple(buf: bytes, pos: int) -> tuple[TupleData, int]:
    (count,) = _U16.unpack_from(buf, pos)
    pos += 2
    values: TupleData = []
    append = values.append
    unpack_len = _I32.unpack_from
    for _ in range(count):
        kind = buf[pos]
        pos += 1
        if kind == _T:
            (length,) = unpack_len(buf, pos)
            pos += 4
            append(buf[pos : pos + length].decode())
            pos += length
        elif kind == _N:
            append(None)
        elif kind == _U:
            append(UNCHANGED_TOAST)
        elif kind == _B:
            (length,) = unpack_len(buf, pos)
            pos += 4
            append(buf[pos : pos + length])
            pos += length
        else:
            msg = f"unknown tuple value kind {chr(kind)!r}"
            raise ValueError(msg)
    return values, pos


def _begin(buf: bytes, in_stream: bool) -> Begin:
    final_lsn, ts, xid = _BEGIN.unpack_from(buf, 1)
    return Begin(final_lsn, ts, xid)


def _commit(buf: bytes, in_stream: bool) -> Commit:
    flags, commit_lsn, end_lsn, ts = _COMMIT.unpack_from(buf, 1)
    return Commit(flags, commit_lsn, end_lsn, ts)


def _relation(buf: bytes, in_stream: bool) -> Relation:
    xid, pos = _xid(buf, in_stream)
    (relid,) = _U32.unpack_from(buf, pos)
    namespace, pos = _string(buf, pos + 4)
    name, pos = _string(buf, pos)
    identity = chr(buf[pos])
    (count,) = _U16.unpack_from(buf, pos + 1)
    pos += 3
    columns = []
    for _ in range(count):
        flags = buf[pos]
        col_name, pos = _string(buf, pos + 1)
        type_oid, typmod = _REL_COL_TAIL.unpack_from(buf, pos)
        pos += 8
        columns.append(RelationColumn(flags, col_name, type_oid, typmod))
    return Relation(relid, namespace, name, identity, columns, xid)


def _type(buf: bytes, in_stream: bool) -> TypeMessage:
    xid, pos = _xid(buf, in_stream)
    (oid,) = _U32.unpack_from(buf, pos)
    namespace, pos = _string(buf, pos + 4)
    name, pos = _string(buf, pos)
    return TypeMessage(oid, namespace, name, xid)


def _insert(buf: bytes, in_stream: bool) -> Insert:
    xid, pos = _xid(buf, in_stream)
    (relid,) = _U32.unpack_from(buf, pos)
    if buf[pos + 4] != _NEW:
        raise ValueError(f"expected `N` before the new tuple, got {chr(buf[pos + 4])!r}")
    new, _ = _tuple(buf, pos + 5)
    return Insert(relid, new, xid)


def _update(buf: bytes, in_stream: bool) -> Update:
    xid, pos = _xid(buf, in_stream)
    (relid,) = _U32.unpack_from(buf, pos)
    pos += 4
    key = old = None
    kind = buf[pos]
    if kind == _K:
        key, pos = _tuple(buf, pos + 1)
    elif kind == _O:
        old, pos = _tuple(buf, pos + 1)
    if buf[pos] != _NEW:
        raise ValueError(f"expected `N` before the new tuple, got {chr(buf[pos])!r}")
    new, _ = _tuple(buf, pos + 1)
    return Update(relid, key, old, new, xid)


def _delete(buf: bytes, in_stream: bool) -> Delete:
    xid, pos = _xid(buf, in_stream)
    (relid,) = _U32.unpack_from(buf, pos)
    kind = buf[pos + 4]
    values, _ = _tuple(buf, pos + 5)
    if kind == _K:
        return Delete(relid, values, None, xid)
    if kind == _O:
        return Delete(relid, None, values, xid)
    raise ValueError(f"expected `K` or `O` in a delete, got {chr(kind)!r}")


def _truncate(buf: bytes, in_stream: bool) -> Truncate:
    xid, pos = _xid(buf, in_stream)
    count, options = _TRUNCATE.unpack_from(buf, pos)
    relids = list(struct.unpack_from(f">{count}I", buf, pos + 5))
    return Truncate(relids, options, xid)


def _origin(buf: bytes, in_stream: bool) -> Origin:
    (lsn,) = _U64.unpack_from(buf, 1)
    name, _ = _string(buf, 9)
    return Origin(lsn, name)


def _logical_message(buf: bytes, in_stream: bool) -> LogicalMessage:
    xid, pos = _xid(buf, in_stream)
    flags, lsn = _MESSAGE_HEAD.unpack_from(buf, pos)
    prefix, pos = _string(buf, pos + 9)
    (length,) = _U32.unpack_from(buf, pos)
    content = buf[pos + 4 : pos + 4 + length]
    if len(content) != length:
        raise ValueError(f"message content is {len(content)} bytes, expected {length}")
    return LogicalMessage(flags, lsn, prefix, content, xid)


def _stream_start(buf: bytes, in_stream: bool) -> StreamStart:
    xid, first = _STREAM_START.unpack_from(buf, 1)
    return StreamStart(xid, first == 1)


def _stream_stop(buf: bytes, in_stream: bool) -> StreamStop:
    return StreamStop()


def _stream_commit(buf: bytes, in_stream: bool) -> StreamCommit:
    xid, flags, commit_lsn, end_lsn, ts = _STREAM_COMMIT.unpack_from(buf, 1)
    return StreamCommit(xid, flags, commit_lsn, end_lsn, ts)


def _stream_abort(buf: bytes, in_stream: bool) -> StreamAbort:
    if len(buf) >= 1 + _STREAM_ABORT_PARALLEL.size:
        xid, subxid, lsn, ts = _STREAM_ABORT_PARALLEL.unpack_from(buf, 1)
        return StreamAbort(xid, subxid, lsn, ts)
    xid, subxid = _STREAM_ABORT.unpack_from(buf, 1)
    return StreamAbort(xid, subxid)


_DECODERS: Final[dict[int, Callable[[bytes, bool], Message]]] = {
    ord("B"): _begin,
    ord("C"): _commit,
    ord("R"): _relation,
    ord("Y"): _type,
    ord("I"): _insert,
    ord("U"): _update,
    ord("D"): _delete,
    ord("T"): _truncate,
    ord("O"): _origin,
    ord("M"): _logical_message,
    ord("S"): _stream_start,
    ord("E"): _stream_stop,
    ord("c"): _stream_commit,
    ord("A"): _stream_abort,
}
