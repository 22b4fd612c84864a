"""DLQs over real HTTP: entries written as the processor writes them (`dlq_fields`), counted, paged, projected."""

from __future__ import annotations

import httpx
import orjson
import pytest
import redis

from rdi import keys
from rdi.processor import Rejected, dlq_fields

pytestmark = pytest.mark.redis

STREAM = "data:pg.public.orders"
RECORDS = "/api/v2/pipelines/default/dlqs/pg.public.orders/records"


def _reject(client: redis.Redis, count: int) -> list[str]:
    ids = []
    for i in range(count):
        source = {"name": "pg", "db": "shop", "schema": "public", "table": "orders", "connector": "postgresql"}
        value = {"before": None, "after": {"id": i}, "op": "c", "source": source}
        rejected = Rejected(f"1-{i}".encode(), orjson.dumps({"id": i}), orjson.dumps(value), f"bad row {i}", "orders")
        fields = dlq_fields(STREAM, rejected, now_ms=lambda i=i: 1_700_000_000_000 + i)  # type: ignore[misc]
        ids.append(client.xadd(keys.dlq_stream(STREAM), fields))  # type: ignore[arg-type]
    return ids


def test_dlqs_are_counted_per_table(http: httpx.Client, redis_client: redis.Redis) -> None:
    _reject(redis_client, 3)
    listed = http.get("/api/v2/pipelines/default/dlqs").json()
    one = http.get("/api/v2/pipelines/default/dlqs/pg.public.orders").json()
    assert (listed, one) == ({"pg.public.orders": {"total_count": 3}}, {"total_count": 3})


def test_records_page_newest_first_by_default(http: httpx.Client, redis_client: redis.Redis) -> None:
    ids = _reject(redis_client, 5)
    page = http.get(RECORDS, params={"limit": 2, "offset": 1}).json()
    oldest = http.get(RECORDS, params={"limit": 1, "sort_order": "asc"}).json()
    assert ([r["__dlq_stream_entry_id"] for r in page], oldest[0]["reason_rejected"]) == ([ids[3], ids[2]], "bad row 0")


def test_a_record_carries_rdi_fields(http: httpx.Client, redis_client: redis.Redis) -> None:
    (entry_id,) = _reject(redis_client, 1)
    (record,) = http.get(RECORDS).json()
    assert record == {
        "__dlq_stream_entry_id": entry_id, "db": "shop", "opcode": "c", "reason_rejected": "bad row 0",
        "removed_fields": [], "schema": "public", "server_name": "pg",
        "source": {"key": {"id": 0}, "value": {"before": None, "after": {"id": 0}, "op": "c",
                   "source": {"name": "pg", "db": "shop", "schema": "public", "table": "orders",
                              "connector": "postgresql"}}},
        "source_type": "postgresql", "table": "orders", "timestamp": 1_700_000_000_000, "job": "orders",
        "source_stream": STREAM, "source_id": "1-0",
    }  # fmt: skip


def test_fields_projects_the_records(http: httpx.Client, redis_client: redis.Redis) -> None:
    _reject(redis_client, 2)
    records = http.get(RECORDS, params=[("fields", "opcode"), ("fields", "table")]).json()
    assert records == [{"opcode": "c", "table": "orders"}] * 2


@pytest.mark.parametrize(
    ("params", "field"), [({"limit": 1001}, "limit"), ({"offset": -1}, "offset"), ({"sort_order": "up"}, "sort_order")]
)
def test_paging_out_of_range_is_a_request_error(http: httpx.Client, params: dict[str, object], field: str) -> None:
    reply = http.get(RECORDS, params=params)  # type: ignore[arg-type]
    detail = reply.json()["detail"]
    assert (reply.status_code, detail["code"], detail["errors"][0]["field"]) == (400, "request_validation_error", field)


def test_an_unknown_dlq_is_not_found(http: httpx.Client) -> None:
    assert http.get(RECORDS).status_code == 404
