"""The Debezium envelope serialises byte for byte as Debezium Server's Redis sink writes it (schemas disabled)."""

from __future__ import annotations

from rdi.collectors.envelope import encode_key, encode_value, pg_sequence, pg_source


def test_key_is_compact_json_of_the_key_columns() -> None:
    assert encode_key({"id": 1, "region": "eu"}) == b'{"id":1,"region":"eu"}'


def test_missing_key_is_the_sinks_null_key_text() -> None:
    assert encode_key(None) == b"default"


def test_value_has_debeziums_field_order_and_a_null_transaction() -> None:
    value = encode_value(before=None, after={"id": 1, "name": "a"}, source={"name": "rdi"}, op="c", ts_ms=1795827057292)
    assert value == (
        b'{"before":null,"after":{"id":1,"name":"a"},"source":{"name":"rdi"},"transaction":null,'
        b'"op":"c","ts_ms":1795827057292,"ts_us":1795827057292000,"ts_ns":1795827057292000000}'
    )


def test_value_with_microsecond_processing_time() -> None:
    value = encode_value(before={"id": 1}, after=None, source={}, op="d", ts_ms=0, ts_us=1795827057292123)
    assert value == (
        b'{"before":{"id":1},"after":null,"source":{},"transaction":null,'
        b'"op":"d","ts_ms":1795827057292,"ts_us":1795827057292123,"ts_ns":1795827057292123000}'
    )


def test_postgres_source_block_matches_debeziums() -> None:
    source = pg_source(
        server_name="bench", db="postgres", schema="public", table="bench", ts_ms=1795827056421,
        snapshot="false", tx_id=745, lsn=22681576, last_commit_lsn=22681000, version="3.x",
    )  # fmt: skip
    assert encode_value(before=None, after={}, source=source, op="c", ts_ms=1) == (
        b'{"before":null,"after":{},"source":{"version":"3.x","connector":"postgresql","name":"bench",'
        b'"ts_ms":1795827056421,"snapshot":"false","db":"postgres","sequence":"[\\"22681000\\",\\"22681576\\"]",'
        b'"ts_us":1795827056421000,"ts_ns":1795827056421000000,"schema":"public","table":"bench","txId":745,'
        b'"lsn":22681576,"xmin":null},"transaction":null,"op":"c","ts_ms":1,"ts_us":1000,"ts_ns":1000000}'
    )


def test_source_keeps_the_commit_microseconds() -> None:
    source = pg_source(
        server_name="s", db="d", schema="public", table="t", ts_ms=0, ts_us=1795827056421987,
        snapshot="last", tx_id=None, lsn=None, last_commit_lsn=None,
    )  # fmt: skip
    assert source == {
        "version": "rdi-0.1.0", "connector": "postgresql", "name": "s", "ts_ms": 1795827056421, "snapshot": "last",
        "db": "d", "sequence": "[null,null]", "ts_us": 1795827056421987, "ts_ns": 1795827056421987000,
        "schema": "public", "table": "t", "txId": None, "lsn": None, "xmin": None,
    }  # fmt: skip


def test_sequence_writes_unknown_elements_as_null() -> None:
    assert [pg_sequence(None, 22681576), pg_sequence(22681000, None)] == ['[null,"22681576"]', '["22681000",null]']
