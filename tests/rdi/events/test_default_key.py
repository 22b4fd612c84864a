"""`default_key`: ``<table>:<col1>:<val1>[:<col2>:<val2>…]`` with values rendered as hash text."""

from __future__ import annotations

import re

import pytest

from rdi.errors import BadRecordError
from rdi.events import default_key, render_value


def test_single_column_key():
    assert default_key("employee", {"employeeid": 1}) == "employee:employeeid:1"


def test_composite_key_keeps_key_order():
    assert default_key("orders", {"orderid": 1, "customerid": 2}) == "orders:orderid:1:customerid:2"


def test_string_values_are_raw_and_table_case_is_kept():
    assert default_key("Invoice", {"Code": "a:b c"}) == "Invoice:Code:a:b c"


def test_boolean_float_and_decimal_values_render_as_hash_text():
    key = {"flag": True, "off": False, "ts": 1529507596945.104, "price": "12.34"}
    assert default_key("t", key) == "t:flag:1:off:0:ts:1529507596945.104:price:12.34"


def test_keyless_table_is_a_bad_record():
    with pytest.raises(
        BadRecordError,
        match=re.escape("table `audit` has no primary key; set `tables.audit.keys` in config.yaml"),
    ):
        default_key("audit", {})


def test_null_key_column_is_a_bad_record():
    with pytest.raises(BadRecordError, match=re.escape("key column `code` of table `t` is null")):
        default_key("t", {"id": 1, "code": None})


def test_render_value_writes_structures_as_compact_json():
    assert [render_value({"a": [1, 2.5]}), render_value([True, None]), render_value(-7)] == [
        '{"a":[1,2.5]}',
        "[true,null]",
        "-7",
    ]
