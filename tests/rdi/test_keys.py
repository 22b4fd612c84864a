from __future__ import annotations

from rdi import keys


def test_staging_stream_names_follow_debezium_topic_routing() -> None:
    assert [
        keys.staging_stream("rdi", "public", "orders"),
        keys.staging_stream("rdi", None, "orders"),
        keys.staging_stream("rdi", "shop", "orders", partition=3),
        keys.dlq_stream(keys.staging_stream("rdi", "public", "orders")),
        keys.offset_field("rdi"),
    ] == [
        "data:rdi.public.orders",
        "data:rdi.orders",
        "data:rdi.shop.orders:3",
        "dlq:data:rdi.public.orders",
        '["redis",{"server":"rdi"}]',
    ]
