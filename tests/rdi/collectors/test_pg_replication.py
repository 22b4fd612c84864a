"""The walsender protocol, slots and publications against the real PostgreSQL test service.

Every test works in its own schema, slot and publication (named after a fresh id) and drops them afterwards.
pgoutput messages are only looked at through their first byte and, for inserts, their text values.
"""

from __future__ import annotations

import re
import struct
import time
from collections.abc import Callable

import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from rdi.collectors.pg_replication import (
    ReplicationConnection,
    SlotState,
    XLogData,
    drop_slot,
    ensure_publication,
    publication_tables,
    slot_state,
)
from rdi.collectors.pg_snapshot import open_snapshot_session, read_chunk
from rdi.errors import ConfigError, FatalError, RetryableError

from ._scratch import Scratch  # the `scratch` fixture is in conftest.py

pytestmark = pytest.mark.postgres


def _items_table(box: Scratch) -> None:
    box.run("CREATE TABLE {s}.items (id int PRIMARY KEY, v text)")
    ensure_publication(box.conn, box.publication, "filtered", [(box.schema, "items")])


def tags(messages: list[XLogData]) -> str:
    return "".join(chr(m.payload[0]) for m in messages)


def inserted(messages: list[XLogData]) -> list[tuple[str | None, ...]]:
    """The text values of every Insert message (tag, relid, 'N', column count, then per column kind/length/text)."""
    rows: list[tuple[str | None, ...]] = []
    for message in messages:
        data = message.payload
        if data[0] != ord("I"):
            continue
        (count,) = struct.unpack_from(">H", data, 6)
        pos, values = 8, list[str | None]()
        for _ in range(count):
            kind, pos = data[pos], pos + 1
            if kind == ord("t"):
                (size,) = struct.unpack_from(">I", data, pos)
                values.append(data[pos + 4 : pos + 4 + size].decode())
                pos += 4 + size
            else:
                values.append(None)
        rows.append(tuple(values))
    return rows


def commit_end_lsns(messages: list[XLogData]) -> list[int]:
    return [struct.unpack_from(">QQ", m.payload, 2)[1] for m in messages if m.payload[0] == ord("C")]


def read_until(
    repl: ReplicationConnection, done: Callable[[list[XLogData]], bool], timeout_s: float = 10.0
) -> list[XLogData]:
    messages: list[XLogData] = []
    deadline = time.monotonic() + timeout_s
    while not done(messages) and time.monotonic() < deadline:
        messages += repl.read(0.2)
    return messages


def confirmed_flush(
    scratch: Scratch, repl: ReplicationConnection, until: Callable[[int], bool], timeout_s: float = 3.0
) -> int:
    """The slot's confirmed_flush_lsn once ``until`` holds for it (the server applies status updates
    asynchronously), or after ``timeout_s``; reads meanwhile."""
    deadline = time.monotonic() + timeout_s
    while True:
        state = slot_state(scratch.conn, scratch.slot)
        lsn = (state.confirmed_flush_lsn or 0) if state else 0
        if until(lsn) or time.monotonic() >= deadline:
            return lsn
        repl.read(0.1)


def commits(n: int) -> Callable[[list[XLogData]], bool]:
    return lambda messages: tags(messages).count("C") >= n


def test_create_slot_exports_a_snapshot_at_the_slot_consistent_point(scratch: Scratch) -> None:
    with ReplicationConnection(scratch.dsn) as repl:
        info = repl.create_slot(scratch.slot, export_snapshot=True)
        state = slot_state(scratch.conn, scratch.slot)
    assert (info.slot, bool(info.snapshot_name), state and state.confirmed_flush_lsn, state and state.plugin) == (
        scratch.slot,
        True,
        info.consistent_lsn,
        "pgoutput",
    )


def test_create_slot_without_snapshot_exports_none(scratch: Scratch) -> None:
    with ReplicationConnection(scratch.dsn) as repl:
        info = repl.create_slot(scratch.slot, export_snapshot=False)
    assert info.snapshot_name is None


def test_snapshot_sees_rows_before_the_slot_and_the_stream_delivers_exactly_the_rows_after(scratch: Scratch) -> None:
    _items_table(scratch)
    scratch.run("INSERT INTO {s}.items SELECT g, 'old' FROM generate_series(1, 5) g")
    with ReplicationConnection(scratch.dsn) as repl:
        info = repl.create_slot(scratch.slot, export_snapshot=True)
        with (
            open_snapshot_session(scratch.dsn, info.snapshot_name) as one,
            open_snapshot_session(scratch.dsn, info.snapshot_name) as two,
        ):
            scratch.run("INSERT INTO {s}.items SELECT g, 'new' FROM generate_series(6, 8) g")
            seen = [
                read_chunk(s, schema=scratch.schema, table="items", columns=["id", "v"], key_columns=["id"],
                           after=None, limit=100).rows
                for s in (one, two)
            ]  # fmt: skip
        repl.start(scratch.slot, info.consistent_lsn, scratch.publication)
        streamed = read_until(repl, commits(1))
    old = [(str(i), "old") for i in range(1, 6)]
    assert (seen, tags(streamed), inserted(streamed)) == (
        [old, old],
        "BRIIIC",
        [("6", "new"), ("7", "new"), ("8", "new")],
    )


def test_restart_resumes_after_the_confirmed_transaction_and_resends_the_unconfirmed_one(scratch: Scratch) -> None:
    _items_table(scratch)
    with ReplicationConnection(scratch.dsn) as repl:
        info = repl.create_slot(scratch.slot, export_snapshot=False)
        for i, v in enumerate(["first", "second", "third"], 1):
            scratch.conn.execute(sql.SQL("INSERT INTO {} VALUES (%s, %s)").format(
                sql.Identifier(scratch.schema, "items")), (i, v))  # fmt: skip
        repl.start(scratch.slot, info.consistent_lsn, scratch.publication)
        first_run = read_until(repl, commits(3))
        repl.confirm(commit_end_lsns(first_run)[1])
    with ReplicationConnection(scratch.dsn) as repl:
        repl.start(scratch.slot, 0, scratch.publication)
        second_run = read_until(repl, commits(1))
    assert (inserted(first_run), tags(second_run), inserted(second_run)) == (
        [("1", "first"), ("2", "second"), ("3", "third")],
        "BRIC",
        [("3", "third")],
    )


def test_start_past_the_confirmed_position_skips_transactions_ending_before_it(scratch: Scratch) -> None:
    _items_table(scratch)
    with ReplicationConnection(scratch.dsn) as repl:
        info = repl.create_slot(scratch.slot, export_snapshot=False)
        for i, v in enumerate(["first", "second", "third"], 1):
            scratch.conn.execute(sql.SQL("INSERT INTO {} VALUES (%s, %s)").format(
                sql.Identifier(scratch.schema, "items")), (i, v))  # fmt: skip
        repl.start(scratch.slot, info.consistent_lsn, scratch.publication)
        stored = commit_end_lsns(read_until(repl, commits(3)))[1]
    with ReplicationConnection(scratch.dsn) as repl:
        repl.start(scratch.slot, stored, scratch.publication)
        resumed = read_until(repl, commits(1))
    assert inserted(resumed) == [("3", "third")]


def test_confirm_is_recorded_by_the_slot(scratch: Scratch) -> None:
    _items_table(scratch)
    with ReplicationConnection(scratch.dsn) as repl:
        info = repl.create_slot(scratch.slot, export_snapshot=False)
        scratch.run("INSERT INTO {s}.items VALUES (1, 'a')")
        repl.start(scratch.slot, info.consistent_lsn, scratch.publication)
        (end,) = commit_end_lsns(read_until(repl, commits(1)))
        repl.confirm(end)
        confirmed = confirmed_flush(scratch, repl, until=lambda lsn: lsn >= end)
    assert confirmed == end


def _idle_wal_position(scratch: Scratch, *, caught_up: bool) -> tuple[int, int, int]:
    """Streams one transaction, confirms it, writes WAL the publication does not cover, then reads for up to 3 s.

    Returns the confirmed commit end, the WAL position after the unpublished write, and the slot's
    confirmed_flush_lsn at the end (the reading stops early once that passed the write).
    """
    _items_table(scratch)
    scratch.run("CREATE TABLE {s}.other (id int PRIMARY KEY)")
    with ReplicationConnection(scratch.dsn) as repl:
        info = repl.create_slot(scratch.slot, export_snapshot=False)
        scratch.run("INSERT INTO {s}.items VALUES (1, 'a')")
        repl.start(scratch.slot, info.consistent_lsn, scratch.publication)
        (end,) = commit_end_lsns(read_until(repl, commits(1)))
        repl.confirm(end, caught_up=caught_up)
        scratch.run("INSERT INTO {s}.other SELECT generate_series(1, 1000)")
        row = scratch.conn.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").fetchone()
        written = int(str(row[0])) if row else 0
        confirmed = confirmed_flush(scratch, repl, until=lambda lsn: lsn >= written)
    return end, written, confirmed


def test_caught_up_confirms_keepalive_positions_so_an_idle_slot_does_not_pin_wal(scratch: Scratch) -> None:
    _end, written, confirmed = _idle_wal_position(scratch, caught_up=True)
    assert confirmed >= written


def test_without_caught_up_the_slot_stays_at_the_confirmed_commit(scratch: Scratch) -> None:
    end, _written, confirmed = _idle_wal_position(scratch, caught_up=False)
    assert confirmed == end


def test_read_answers_keepalives_so_the_stream_outlives_wal_sender_timeout(scratch: Scratch) -> None:
    _items_table(scratch)
    dsn = make_conninfo(scratch.dsn, options="-c wal_sender_timeout=2s")
    with ReplicationConnection(dsn) as repl:
        info = repl.create_slot(scratch.slot, export_snapshot=False)
        repl.start(scratch.slot, info.consistent_lsn, scratch.publication)
        idle = read_until(repl, lambda _: False, timeout_s=5.0)
        scratch.run("INSERT INTO {s}.items VALUES (1, 'after the wait')")
        streamed = read_until(repl, commits(1))
    assert (idle, inserted(streamed)) == ([], [("1", "after the wait")])


def test_not_reading_past_wal_sender_timeout_loses_the_connection_as_retryable(scratch: Scratch) -> None:
    _items_table(scratch)
    dsn = make_conninfo(scratch.dsn, options="-c wal_sender_timeout=1s")
    with ReplicationConnection(dsn) as repl:
        info = repl.create_slot(scratch.slot, export_snapshot=False)
        repl.start(scratch.slot, info.consistent_lsn, scratch.publication)
        time.sleep(2.5)  # the behaviour under test: a caller that neither reads nor sends status
        with pytest.raises(RetryableError, match=re.escape(f"replication from slot `{scratch.slot}` failed: ")):
            read_until(repl, lambda _: False, timeout_s=2.0)


def test_a_terminated_walsender_is_retryable(scratch: Scratch) -> None:
    _items_table(scratch)
    with ReplicationConnection(scratch.dsn) as repl:
        info = repl.create_slot(scratch.slot, export_snapshot=False)
        repl.start(scratch.slot, info.consistent_lsn, scratch.publication)
        drop_slot(scratch.conn, scratch.slot, terminate_active=True)
        message = f"replication from slot `{scratch.slot}` failed: terminating connection due to administrator command"
        with pytest.raises(RetryableError, match=re.escape(message)):
            read_until(repl, lambda _: False, timeout_s=3.0)


def test_start_on_a_missing_slot_is_fatal(scratch: Scratch) -> None:
    message = (
        f'cannot start replication from slot `{scratch.slot}`: replication slot "{scratch.slot}" does not exist '
        "(SQLSTATE 42704)"
    )
    with ReplicationConnection(scratch.dsn) as repl, pytest.raises(FatalError, match=re.escape(message)):
        repl.start(scratch.slot, 0, scratch.publication)


def test_start_on_a_slot_streaming_elsewhere_is_retryable(scratch: Scratch) -> None:
    _items_table(scratch)
    with ReplicationConnection(scratch.dsn) as first, ReplicationConnection(scratch.dsn) as second:
        info = first.create_slot(scratch.slot, export_snapshot=False)
        first.start(scratch.slot, info.consistent_lsn, scratch.publication)
        message = f'cannot start replication from slot `{scratch.slot}`: replication slot "{scratch.slot}" is active'
        with pytest.raises(RetryableError, match=re.escape(message)):
            second.start(scratch.slot, 0, scratch.publication)


def test_create_slot_that_exists_is_fatal(scratch: Scratch) -> None:
    message = (
        f'cannot create replication slot `{scratch.slot}`: replication slot "{scratch.slot}" already exists '
        "(SQLSTATE 42710)"
    )
    with ReplicationConnection(scratch.dsn) as repl:
        repl.create_slot(scratch.slot, export_snapshot=False)
        with pytest.raises(FatalError, match=re.escape(message)):
            repl.create_slot(scratch.slot, export_snapshot=False)


def test_slot_state_of_a_missing_slot_is_none(scratch: Scratch) -> None:
    assert slot_state(scratch.conn, scratch.slot) is None


def test_slot_state_reports_an_idle_slot(scratch: Scratch) -> None:
    with ReplicationConnection(scratch.dsn) as repl:
        info = repl.create_slot(scratch.slot, export_snapshot=False)
    state = slot_state(scratch.conn, scratch.slot)
    assert state == SlotState(
        slot=scratch.slot,
        plugin="pgoutput",
        database="rdi_test",
        active=False,
        active_pid=None,
        restart_lsn=state.restart_lsn if state else None,
        confirmed_flush_lsn=info.consistent_lsn,
        wal_status="reserved",
    )


def test_drop_slot_terminates_the_active_walsender_when_asked(scratch: Scratch) -> None:
    _items_table(scratch)
    with ReplicationConnection(scratch.dsn) as repl:
        info = repl.create_slot(scratch.slot, export_snapshot=False)
        repl.start(scratch.slot, info.consistent_lsn, scratch.publication)
        dropped = drop_slot(scratch.conn, scratch.slot, terminate_active=True)
        assert (dropped, slot_state(scratch.conn, scratch.slot)) == (True, None)


def test_drop_slot_in_use_without_terminate_is_retryable(scratch: Scratch) -> None:
    _items_table(scratch)
    with ReplicationConnection(scratch.dsn) as repl:
        info = repl.create_slot(scratch.slot, export_snapshot=False)
        repl.start(scratch.slot, info.consistent_lsn, scratch.publication)
        message = f'cannot drop replication slot `{scratch.slot}`: replication slot "{scratch.slot}" is active for PID'
        with pytest.raises(RetryableError, match=re.escape(message)):
            drop_slot(scratch.conn, scratch.slot)


def test_drop_slot_that_does_not_exist_returns_false(scratch: Scratch) -> None:
    assert drop_slot(scratch.conn, scratch.slot) is False


def _tables(scratch: Scratch, *names: str) -> list[tuple[str, str]]:
    for name in names:
        scratch.conn.execute(
            sql.SQL("CREATE TABLE {} (id int PRIMARY KEY)").format(sql.Identifier(scratch.schema, name))
        )
    return [(scratch.schema, name) for name in names]


def test_all_tables_mode_creates_a_publication_for_all_tables(scratch: Scratch) -> None:
    ran = ensure_publication(scratch.conn, scratch.publication, "all_tables")
    row = scratch.conn.execute("SELECT puballtables FROM pg_publication WHERE pubname = %s",
                               (scratch.publication,)).fetchone()  # fmt: skip
    assert (ran, row) == ([f'CREATE PUBLICATION "{scratch.publication}" FOR ALL TABLES'], (True,))


def test_all_tables_mode_uses_an_existing_publication_as_it_is(scratch: Scratch) -> None:
    tables = _tables(scratch, "a")
    ensure_publication(scratch.conn, scratch.publication, "filtered", tables)
    assert ensure_publication(scratch.conn, scratch.publication, "all_tables") == []


def test_filtered_mode_creates_a_publication_for_the_tables(scratch: Scratch) -> None:
    tables = _tables(scratch, "b", "Mixed Case")
    ran = ensure_publication(scratch.conn, scratch.publication, "filtered", tables)
    s = scratch.schema
    assert (ran, publication_tables(scratch.conn, scratch.publication)) == (
        [f'CREATE PUBLICATION "{scratch.publication}" FOR TABLE "{s}"."Mixed Case", "{s}"."b"'],
        {(s, "b"), (s, "Mixed Case")},
    )


def test_filtered_mode_sets_the_publication_to_exactly_the_tables(scratch: Scratch) -> None:
    a, b, c = _tables(scratch, "a", "b", "c")
    ensure_publication(scratch.conn, scratch.publication, "filtered", [a, b])
    ran = ensure_publication(scratch.conn, scratch.publication, "filtered", [b, c])
    s = scratch.schema
    assert (ran, publication_tables(scratch.conn, scratch.publication)) == (
        [f'ALTER PUBLICATION "{scratch.publication}" SET TABLE "{s}"."b", "{s}"."c"'],
        {b, c},
    )


def test_filtered_mode_leaves_a_matching_publication_alone(scratch: Scratch) -> None:
    tables = _tables(scratch, "a", "b")
    ensure_publication(scratch.conn, scratch.publication, "filtered", tables)
    assert ensure_publication(scratch.conn, scratch.publication, "filtered", list(reversed(tables))) == []


def test_filtered_mode_with_a_missing_table_is_a_config_error(scratch: Scratch) -> None:
    tables = [*_tables(scratch, "a"), (scratch.schema, "nope")]
    message = f"publication `{scratch.publication}`: table(s) `{scratch.schema}.nope` do not exist"
    with pytest.raises(ConfigError, match=re.escape(message)):
        ensure_publication(scratch.conn, scratch.publication, "filtered", tables)


def test_filtered_mode_refuses_a_publication_for_all_tables(scratch: Scratch) -> None:
    tables = _tables(scratch, "a")
    ensure_publication(scratch.conn, scratch.publication, "all_tables")
    message = (
        f"publication `{scratch.publication}` is `FOR ALL TABLES`, but `publication.autocreate.mode` `filtered` "
        f'publishes the selected tables only; drop it (DROP PUBLICATION "{scratch.publication}";) '
        "or use mode `all_tables`"
    )
    with pytest.raises(ConfigError, match=re.escape(message)):
        ensure_publication(scratch.conn, scratch.publication, "filtered", tables)


def test_disabled_mode_without_the_publication_says_how_to_create_it(scratch: Scratch) -> None:
    tables = _tables(scratch, "a")
    message = (
        f"publication `{scratch.publication}` does not exist and `publication.autocreate.mode` is `disabled`; "
        f'create it: CREATE PUBLICATION "{scratch.publication}" FOR TABLE "{scratch.schema}"."a";'
    )
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        ensure_publication(scratch.conn, scratch.publication, "disabled", tables)


def test_disabled_mode_uses_an_existing_publication(scratch: Scratch) -> None:
    tables = _tables(scratch, "a", "b")
    ensure_publication(scratch.conn, scratch.publication, "filtered", tables[:1])
    ran = ensure_publication(scratch.conn, scratch.publication, "disabled", tables)
    assert (ran, publication_tables(scratch.conn, scratch.publication)) == ([], {tables[0]})


def test_publication_tables_of_a_missing_publication_is_empty(scratch: Scratch) -> None:
    assert publication_tables(scratch.conn, scratch.publication) == set()


def test_streamed_values_use_the_text_formats_whatever_the_session_defaults(scratch: Scratch) -> None:
    scratch.run("CREATE TABLE {s}.typed (id int PRIMARY KEY, ts timestamptz, iv interval, f float8, b bytea, d date)")
    ensure_publication(scratch.conn, scratch.publication, "filtered", [(scratch.schema, "typed")])
    hostile = "-c TimeZone=Asia/Kolkata -c IntervalStyle=iso_8601 -c extra_float_digits=0 -c DateStyle=German"
    dsn = make_conninfo(scratch.dsn, options=hostile)
    with ReplicationConnection(dsn) as repl:
        info = repl.create_slot(scratch.slot, export_snapshot=False)
        scratch.run("INSERT INTO {s}.typed VALUES (1, '2024-01-02 03:04:05.5+00', '1 day -02:00:00.25', 0.1, "
                    "'\\x00ff', '2024-12-31')")  # fmt: skip
        repl.start(scratch.slot, info.consistent_lsn, scratch.publication)
        streamed = inserted(read_until(repl, commits(1)))
    assert streamed == [
        ("1", "2024-01-02 03:04:05.5+00", "1 day -02:00:00.25", "0.1", "\\x00ff", "2024-12-31"),
    ]
