"""`to_record`: records are independent of the event they came from."""

from __future__ import annotations

import re

import pytest

from rdi.events import ChangeEvent, to_record


def _event() -> ChangeEvent:
    return ChangeEvent(
        op="u",
        key={"id": 1},
        before={"id": 1, "n": 1},
        after={"id": 1, "n": 2},
        server_name="rdi",
        db="shop",
        schema="public",
        table="t",
    )


def test_mutating_a_full_record_leaves_the_event_unchanged():
    event = _event()
    record = to_record(event, "full")
    record.data["after"]["n"] = 99
    record.data["key"]["id"] = 99
    record.key["id"] = 98
    assert event == _event()


def test_mutating_a_partial_record_leaves_the_event_unchanged():
    event = _event()
    to_record(event, "partial").data["extra"] = True
    assert event == _event()


def test_full_record_values_are_the_after_image_and_opcode_is_the_op():
    record = to_record(_event(), "full")
    assert (record.values, record.opcode) == ({"id": 1, "n": 2}, "u")


def test_unknown_row_format_is_a_programming_error():
    message = "unknown row format `flat`; expected `partial` or `full`"
    with pytest.raises(ValueError, match=re.escape(message)):
        to_record(_event(), "flat")  # type: ignore[arg-type]
