"""pgoutput messages decode field by field: literal bytes first, then every message of real logical decoding."""

from __future__ import annotations

import re
import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from psycopg import sql

from rdi.collectors.pgoutput import (
    UNCHANGED_TOAST,
    Begin,
    Commit,
    Delete,
    Insert,
    LogicalMessage,
    Message,
    Origin,
    Relation,
    RelationColumn,
    StreamAbort,
    StreamCommit,
    StreamStart,
    StreamStop,
    Truncate,
    TupleValue,
    TypeMessage,
    Update,
    decode_message,
    format_lsn,
    parse_lsn,
    pg_epoch_us_to_unix_us,
)


def cstr(text: str) -> bytes:
    return text.encode() + b"\0"


def tuple_data(*values: TupleValue) -> bytes:
    out = struct.pack(">H", len(values))
    for value in values:
        if value is None:
            out += b"n"
        elif value is UNCHANGED_TOAST:
            out += b"u"
        elif isinstance(value, bytes):
            out += b"b" + struct.pack(">i", len(value)) + value
        else:
            raw = value.encode()
            out += b"t" + struct.pack(">i", len(raw)) + raw
    return out


# --- literal messages -------------------------------------------------------------------------------------


def test_begin_gives_final_lsn_commit_time_and_xid() -> None:
    data = b"B" + struct.pack(">QqI", 0x16B3748, 849156690630999, 745)
    assert decode_message(data) == Begin(final_lsn=0x16B3748, commit_ts_us=849156690630999, xid=745)


def test_commit_gives_flags_commit_and_end_lsn_and_commit_time() -> None:
    data = b"C" + struct.pack(">BQQq", 0, 0x16B3748, 0x16B3778, 849156690630999)
    assert decode_message(data) == Commit(
        flags=0, commit_lsn=0x16B3748, end_lsn=0x16B3778, commit_ts_us=849156690630999
    )


def test_relation_lists_columns_with_flags_type_oids_and_typmods() -> None:
    data = (
        b"R" + struct.pack(">I", 16385) + cstr("public") + cstr("orders") + b"f" + struct.pack(">H", 2)
        + b"\x01" + cstr("id") + struct.pack(">Ii", 23, -1)
        + b"\x00" + cstr("price") + struct.pack(">Ii", 1700, 655366)
    )  # fmt: skip
    assert decode_message(data) == Relation(
        relid=16385,
        namespace="public",
        name="orders",
        replica_identity="f",
        columns=[RelationColumn(1, "id", 23, -1), RelationColumn(0, "price", 1700, 655366)],
    )


def test_relation_column_flag_1_marks_a_replica_identity_column() -> None:
    assert [RelationColumn(1, "id", 23, -1).is_key, RelationColumn(0, "x", 23, -1).is_key] == [True, False]


def test_type_message_names_a_non_builtin_type() -> None:
    data = b"Y" + struct.pack(">I", 16390) + cstr("public") + cstr("mood")
    assert decode_message(data) == TypeMessage(oid=16390, namespace="public", name="mood")


def test_insert_decodes_null_unchanged_toast_text_and_binary_values() -> None:
    data = b"I" + struct.pack(">I", 16385) + b"N" + tuple_data(None, UNCHANGED_TOAST, "Grüße, 世界 🎉", b"\x00\xff", "")
    assert decode_message(data) == Insert(relid=16385, new=[None, UNCHANGED_TOAST, "Grüße, 世界 🎉", b"\x00\xff", ""])


def test_update_with_a_key_tuple_keeps_it_apart_from_the_new_row() -> None:
    data = b"U" + struct.pack(">I", 16385) + b"K" + tuple_data("1", None) + b"N" + tuple_data("2", "b")
    assert decode_message(data) == Update(relid=16385, key=["1", None], old=None, new=["2", "b"])


def test_update_with_an_old_tuple_gives_the_whole_old_row() -> None:
    data = b"U" + struct.pack(">I", 16385) + b"O" + tuple_data("1", "a") + b"N" + tuple_data("1", UNCHANGED_TOAST)
    assert decode_message(data) == Update(relid=16385, key=None, old=["1", "a"], new=["1", UNCHANGED_TOAST])


def test_update_without_identity_change_has_only_the_new_row() -> None:
    data = b"U" + struct.pack(">I", 16385) + b"N" + tuple_data("1", "b")
    assert decode_message(data) == Update(relid=16385, key=None, old=None, new=["1", "b"])


def test_delete_with_a_key_tuple() -> None:
    data = b"D" + struct.pack(">I", 16385) + b"K" + tuple_data("1", None)
    assert decode_message(data) == Delete(relid=16385, key=["1", None], old=None)


def test_delete_with_an_old_tuple() -> None:
    data = b"D" + struct.pack(">I", 16385) + b"O" + tuple_data("1", "a")
    assert decode_message(data) == Delete(relid=16385, key=None, old=["1", "a"])


def test_truncate_lists_relations_and_options() -> None:
    data = b"T" + struct.pack(">IB", 2, 3) + struct.pack(">II", 16385, 16400)
    message = decode_message(data)
    assert (message, message.cascade, message.restart_identity) == (  # type: ignore[union-attr]
        Truncate(relids=[16385, 16400], options=3),
        True,
        True,
    )


def test_truncate_without_options() -> None:
    message = decode_message(b"T" + struct.pack(">IB", 1, 0) + struct.pack(">I", 16385))
    assert (message, message.cascade, message.restart_identity) == (  # type: ignore[union-attr]
        Truncate(relids=[16385], options=0),
        False,
        False,
    )


def test_origin_gives_lsn_and_name() -> None:
    assert decode_message(b"O" + struct.pack(">Q", 0x3000060) + cstr("node_a")) == Origin(lsn=0x3000060, name="node_a")


def test_logical_message_gives_flags_lsn_prefix_and_raw_content() -> None:
    data = b"M" + struct.pack(">BQ", 1, 0x3000060) + cstr("wm") + struct.pack(">I", 5) + b"low:1"
    message = decode_message(data)
    assert (message, message.transactional) == (  # type: ignore[union-attr]
        LogicalMessage(flags=1, lsn=0x3000060, prefix="wm", content=b"low:1"),
        True,
    )


def test_stream_start_stop_commit_and_abort() -> None:
    messages = [
        b"S" + struct.pack(">IB", 900, 1),
        b"E",
        b"c" + struct.pack(">IBQQq", 900, 0, 0x100, 0x130, 77),
        b"A" + struct.pack(">II", 900, 901),
        b"A" + struct.pack(">IIQq", 900, 900, 0x140, 78),
    ]
    assert [decode_message(m) for m in messages] == [
        StreamStart(xid=900, first_segment=True),
        StreamStop(),
        StreamCommit(xid=900, flags=0, commit_lsn=0x100, end_lsn=0x130, commit_ts_us=77),
        StreamAbort(xid=900, subxid=901),
        StreamAbort(xid=900, subxid=900, abort_lsn=0x140, abort_ts_us=78),
    ]


def test_change_inside_a_stream_block_carries_the_streamed_xid() -> None:
    data = b"I" + struct.pack(">II", 900, 16385) + b"N" + tuple_data("1")
    assert decode_message(data, in_stream=True) == Insert(relid=16385, new=["1"], xid=900)


def test_memoryview_and_bytearray_decode_like_bytes() -> None:
    data = b"I" + struct.pack(">I", 16385) + b"N" + tuple_data("1", None)
    assert [decode_message(memoryview(data)), decode_message(bytearray(data))] == [
        Insert(relid=16385, new=["1", None]),
        Insert(relid=16385, new=["1", None]),
    ]


def test_unknown_tag_is_a_one_line_value_error() -> None:
    with pytest.raises(ValueError, match=re.escape("unknown pgoutput message tag 'Z' (0x5a)")):
        decode_message(b"Z\x00\x00")


def test_truncated_message_is_a_one_line_value_error() -> None:
    with pytest.raises(ValueError, match=re.escape("malformed pgoutput 'B' message (5 bytes): ")):
        decode_message(b"B\x00\x00\x00\x00")


def test_unknown_tuple_value_kind_is_a_value_error() -> None:
    data = b"I" + struct.pack(">I", 16385) + b"N" + struct.pack(">H", 1) + b"x"
    with pytest.raises(
        ValueError, match=re.escape("malformed pgoutput 'I' message (9 bytes): unknown tuple value kind 'x'")
    ):
        decode_message(data)


def test_empty_message_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=re.escape("empty pgoutput message")):
        decode_message(b"")


def test_lsn_text_round_trip() -> None:
    assert (format_lsn(0x16B3748), format_lsn(0x1_0000_00FF), parse_lsn("0/16B3748"), parse_lsn("1/ff")) == (
        "0/16B3748",
        "1/FF",
        0x16B3748,
        0x1_0000_00FF,
    )


def test_parse_lsn_rejects_other_text() -> None:
    with pytest.raises(ValueError, match=re.escape("expected an LSN like `0/16B3748`, got '16B3748' instead")):
        parse_lsn("16B3748")


def test_pg_epoch_microseconds_become_unix_microseconds() -> None:
    assert pg_epoch_us_to_unix_us(0) == 946_684_800_000_000


# --- real logical decoding --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    conn: psycopg.Connection[Any]
    id: str

    @property
    def schema(self) -> str:
        return self.id

    def run(self, statement: str, params: Any = None) -> None:
        self.conn.execute(sql.SQL(statement).format(s=sql.Identifier(self.schema)), params)

    def peek(self, *options: str) -> list[tuple[str, int, bytes]]:
        args = sql.SQL(", ").join(sql.Literal(o) for o in options)
        query = sql.SQL(
            "SELECT lsn::text, xid::text::bigint, data FROM pg_logical_slot_peek_binary_changes({}, NULL, NULL, {})"
        )
        return [tuple(row) for row in self.conn.execute(query.format(sql.Literal(self.id), args)).fetchall()]


@pytest.fixture
def slot(pg_dsn: str) -> Iterator[Slot]:
    """A schema, a publication of every table in it and a pgoutput slot, all named `pgo_<hex>`; dropped after."""
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        # the test server runs with synchronous_commit=off; decoding stops at the flushed WAL position
        conn.execute("SET synchronous_commit = on")
        box = Slot(conn, f"pgo_{uuid.uuid4().hex[:10]}")
        box.run("CREATE SCHEMA {s}")
        try:
            box.run("CREATE TABLE {s}.t (id int PRIMARY KEY, name text, doc text)")
            box.run("CREATE PUBLICATION {s} FOR TABLES IN SCHEMA {s}")
            conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", [box.id])
            yield box
        finally:
            conn.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s", [box.id]
            )
            box.run("DROP PUBLICATION IF EXISTS {s}")
            box.run("DROP SCHEMA {s} CASCADE")


def summary(message: Message) -> tuple[Any, ...]:
    """What a message says, without the LSNs, times and OIDs that differ from run to run."""
    if isinstance(message, Relation):
        return (
            "R",
            message.name,
            message.replica_identity,
            tuple((c.name, c.is_key, c.type_oid) for c in message.columns),
        )
    if isinstance(message, Insert):
        return ("I", message.new)
    if isinstance(message, Update):
        return ("U", message.key, message.old, message.new)
    if isinstance(message, Delete):
        return ("D", message.key, message.old)
    if isinstance(message, Truncate):
        return ("T", len(message.relids), message.options)
    if isinstance(message, LogicalMessage):
        return ("M", message.prefix, message.content, message.transactional)
    return (type(message).__name__,)


@pytest.mark.postgres
def test_every_message_of_real_dml_decodes(slot: Slot) -> None:
    slot.run("INSERT INTO {s}.t VALUES (1, 'a', 'x'), (2, 'ü', NULL)")
    slot.run("UPDATE {s}.t SET name = 'b' WHERE id = 1")
    slot.run("UPDATE {s}.t SET id = 3 WHERE id = 2")
    slot.run("DELETE FROM {s}.t WHERE id = 3")
    slot.run("TRUNCATE {s}.t RESTART IDENTITY CASCADE")
    rows = slot.peek("proto_version", "1", "publication_names", slot.id)
    columns = (("id", True, 23), ("name", False, 25), ("doc", False, 25))
    assert [summary(decode_message(data)) for _, _, data in rows] == [
        ("Begin",), ("R", "t", "d", columns), ("I", ["1", "a", "x"]), ("I", ["2", "ü", None]), ("Commit",),
        ("Begin",), ("U", None, None, ["1", "b", "x"]), ("Commit",),
        ("Begin",), ("U", ["2", None, None], None, ["3", "ü", None]), ("Commit",),
        ("Begin",), ("D", ["3", None, None], None), ("Commit",),
        ("Begin",), ("R", "t", "d", columns), ("T", 1, 3), ("Commit",),
    ]  # fmt: skip


@pytest.mark.postgres
def test_begin_and_commit_agree_with_the_slot_rows(slot: Slot) -> None:
    slot.run("INSERT INTO {s}.t VALUES (1, 'a', 'x')")
    rows = slot.peek("proto_version", "1", "publication_names", slot.id)
    begin, commit = decode_message(rows[0][2]), decode_message(rows[-1][2])
    assert isinstance(begin, Begin) and isinstance(commit, Commit)
    # the Commit row's lsn is the transaction's end LSN; Begin names the commit's LSN and the row's xid
    assert (begin.xid, begin.final_lsn, begin.commit_ts_us, parse_lsn(rows[-1][0])) == (
        rows[0][1],
        commit.commit_lsn,
        commit.commit_ts_us,
        commit.end_lsn,
    )


@pytest.mark.postgres
def test_unchanged_toasted_value_arrives_as_the_sentinel(slot: Slot) -> None:
    slot.run("INSERT INTO {s}.t SELECT 1, 'a', string_agg(md5(i::text), '') FROM generate_series(1, 1000) AS i")
    slot.run("UPDATE {s}.t SET name = 'b' WHERE id = 1")
    rows = slot.peek("proto_version", "1", "publication_names", slot.id)
    assert summary(decode_message(rows[-2][2])) == ("U", None, None, ["1", "b", UNCHANGED_TOAST])


@pytest.mark.postgres
def test_replica_identity_full_flags_every_column_and_sends_the_old_row(slot: Slot) -> None:
    slot.run("ALTER TABLE {s}.t REPLICA IDENTITY FULL")
    slot.run("INSERT INTO {s}.t VALUES (1, 'a', 'x')")
    slot.run("UPDATE {s}.t SET name = 'b' WHERE id = 1")
    rows = slot.peek("proto_version", "1", "publication_names", slot.id)
    summaries = [summary(decode_message(data)) for _, _, data in rows]
    # Relation messages may be re-sent (cache invalidation after the ALTER): compare them as a set
    assert ({s for s in summaries if s[0] == "R"}, [s for s in summaries if s[0] in ("I", "U")]) == (
        {("R", "t", "f", (("id", True, 23), ("name", True, 25), ("doc", True, 25)))},
        [("I", ["1", "a", "x"]), ("U", None, ["1", "a", "x"], ["1", "b", "x"])],
    )


@pytest.mark.postgres
def test_logical_decoding_messages_decode(slot: Slot) -> None:
    slot.conn.execute("SELECT pg_logical_emit_message(true, 'wm', 'low:1')")
    rows = slot.peek("proto_version", "1", "publication_names", slot.id, "messages", "true")
    assert [summary(decode_message(data)) for _, _, data in rows] == [
        ("Begin",),
        ("M", "wm", b"low:1", True),
        ("Commit",),
    ]


@pytest.mark.postgres
def test_streamed_transaction_decodes_with_xids_inside_the_stream_block(slot: Slot) -> None:
    slot.conn.execute("SET debug_logical_replication_streaming = immediate")
    with slot.conn.transaction():
        slot.run("INSERT INTO {s}.t VALUES (1, 'a', 'x')")
        row = slot.conn.execute("SELECT pg_current_xact_id()::text::bigint").fetchone()
    assert row is not None
    xid = row[0]
    rows = slot.peek("proto_version", "2", "publication_names", slot.id, "streaming", "on")
    ours: list[tuple[tuple[Any, ...], int | None]] = []
    block: int | None = None  # xid of the open stream block; other sessions' transactions stream (empty) too
    for _, _, data in rows:
        message = decode_message(data, in_stream=block is not None)
        if isinstance(message, StreamStart):
            block = message.xid
        if block == xid or getattr(message, "xid", None) == xid:
            ours.append((summary(message), getattr(message, "xid", None)))
        if isinstance(message, StreamStop):
            block = None
    assert ours == [
        (("StreamStart",), xid),
        (("R", "t", "d", (("id", True, 23), ("name", False, 25), ("doc", False, 25))), xid),
        (("I", ["1", "a", "x"]), xid),
        (("StreamStop",), None),
        (("StreamCommit",), xid),
    ]
