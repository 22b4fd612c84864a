"""`rdi.notebook`: dry-run results as Polars tables, and the read-only look at a live staging stream."""

from __future__ import annotations

import orjson
import polars as pl
import pytest
import redis

from rdi import dry_run_pipeline, validate_pipeline
from rdi.demo import DEMO_DIR
from rdi.events import ColumnType
from rdi.keys import staging_stream
from rdi.notebook import commands_frame, read_staging, records_frame, staging_streams
from rdi.stream_schema import publish_types


def _value(table: str, after: dict[str, object], op: str = "c") -> bytes:
    source = {"name": "shop", "db": "shop", "schema": "public", "table": table}
    return orjson.dumps({"op": op, "before": None, "after": after, "source": source})


def _results() -> list[dict[str, object]]:
    pipeline = validate_pipeline(DEMO_DIR / "pipeline")
    return dry_run_pipeline(
        pipeline,
        [
            {"key": {"id": 1}, "value": _value("orders", {"id": 1, "status": "paid", "total": "10.00"})},
            {"key": {"id": 2}, "value": _value("orders", {"id": 2, "status": "draft", "total": "1.00"})},
            {"key": {"id": 5}, "value": _value("products", {"id": 5, "name": "Mug", "attributes": {"c": "red"}})},
            {"key": None, "value": None},
            "{not json",
        ],
    )


def test_records_frame_has_one_row_per_event_with_the_record_fields() -> None:
    frame = records_frame(_results())
    assert frame.select("event", "job", "op", "key", "note").rows() == [
        (0, "orders", "c", "order:1", None),
        (1, "orders", None, None, "filtered"),
        (2, "products", "c", "product:5", None),
        (3, None, None, None, "skipped: tombstone or non-row event"),
        (4, None, None, None, frame["note"][4]),
    ]
    assert (frame["note"][4].startswith("rejected: "), frame["label"][0], frame["title"][2]) == (
        True,
        "#1 PAID",
        "Mug",
    )
    assert (frame["attributes"][2], "data.key" in frame.columns) == ('{"c":"red"}', False)


def test_records_frame_renames_a_field_named_like_a_frame_column() -> None:
    pipeline = validate_pipeline(DEMO_DIR / "pipeline")
    results = dry_run_pipeline(pipeline, [{"key": {"id": 3}, "value": _value("notes", {"id": 3, "key": "k"})}])
    frame = records_frame(results)
    assert (frame["key"][0], frame["data.key"][0]) == ("notes:id:3", "k")


def test_commands_frame_has_one_row_per_command_in_order() -> None:
    frame = commands_frame(_results())
    assert frame.select("event", "job", "connection", "command", "key").rows() == [
        (0, "orders", "target", "JSON.SET", "order:1"),
        (0, "orders", "target", "EXPIRE", "order:1"),
        (0, "orders", "target", "ZADD", "orders:by_total"),
        (2, "products", "target", "JSON.SET", "product:5"),
        (2, "products", "target", "XADD", "products:changes"),
    ]
    assert frame["args"][1].to_list() == ["86400"]


def test_frames_of_no_results_are_empty_with_their_columns() -> None:
    assert (records_frame([]).columns, commands_frame([]).schema["args"]) == (
        ["event", "job", "op", "key", "note"],
        pl.List(pl.String),
    )


@pytest.mark.redis
def test_read_staging_reads_the_last_entries_and_types_without_touching_groups(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        client.flushdb()
        stream = staging_stream("shop", "public", "orders")
        for i in range(1, 6):
            client.xadd(stream, {"key": orjson.dumps({"id": i}), "value": _value("orders", {"id": i})})
        client.xgroup_create(stream, "rdi:processor", id="0")
        client.xreadgroup("rdi:processor", "p1", {stream: ">"}, count=2)
        publish_types(client, stream, {"id": ColumnType(type="int32")})
        groups_before = client.xinfo_groups(stream)
        sample = read_staging(client, stream, count=3)
        assert (
            [orjson.loads(e["key"]) for e in sample.entries],
            sample.types,
            staging_streams(client),
            client.xinfo_groups(stream),
            client.xlen(stream),
        ) == ([{"id": 3}, {"id": 4}, {"id": 5}], {"id": ColumnType(type="int32")}, [stream], groups_before, 5)
        with pytest.raises(ValueError, match="count must be at least 1"):
            read_staging(client, stream, count=0)
    finally:
        client.flushdb()
        client.close()
