"""End to end without any job: every table is written with the default mapping and `target_data_type`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from ._ingest import Ingest, running_ingest

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
def no_jobs(pg_dsn: str, redis_url: str, tmp_path: Path) -> Iterator[Ingest]:
    with running_ingest(
        pg_dsn, redis_url, tmp_path, jobs={}, processors="  target_data_type: json\n", start=False
    ) as run:
        run.sql("CREATE TABLE {s}.products (id int, sku text, price numeric(6,2), PRIMARY KEY (id, sku))")
        run.sql("INSERT INTO {s}.products VALUES (1, 'a-1', 3.50), (2, 'b-2', 4.00)")
        run.start_collector()
        run.start_processor()
        run.settle(120)
        yield run


def test_without_jobs_every_table_is_written_with_the_default_mapping(no_jobs: Ingest) -> None:
    no_jobs.sql("UPDATE {s}.products SET price = 5.25 WHERE id = 2")
    no_jobs.sql("DELETE FROM {s}.products WHERE id = 1")
    no_jobs.settle()
    assert (
        no_jobs.db.exists("products:id:1:sku:a-1"),
        orjson.loads(no_jobs.db.execute_command("JSON.GET", "products:id:2:sku:b-2")),
    ) == (0, {"id": 2, "sku": "b-2", "price": "5.25"})
