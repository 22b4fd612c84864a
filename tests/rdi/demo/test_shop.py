"""The shop: its tables and seed rows in PostgreSQL, and the random changes applied to them."""

from __future__ import annotations

import random
from collections import Counter

import psycopg
import pytest
from psycopg import sql

from rdi.demo.shop import Change, ChangeStream, create_shop, plan_change

from .conftest import DemoServices, wait_for


def test_a_seeded_generator_mostly_inserts_and_updates_orders() -> None:
    rng = random.Random(0)
    changes = Counter((c.kind, c.table) for c in (plan_change(rng, 10, 5) for _ in range(1000)))
    assert sorted(changes.items()) == [
        (("delete", "orders"), 113),
        (("insert", "orders"), 385),
        (("update", "customers"), 107),
        (("update", "orders"), 290),
        (("update", "products"), 105),
    ]


def test_a_new_order_refers_to_existing_customers_and_products() -> None:
    assert plan_change(random.Random(3), 10, 5) == Change(
        "insert",
        "orders",
        "INSERT INTO orders (customer_id, product_id, quantity, status, total) VALUES (%s, %s, %s, %s, %s)",
        (3, 3, 5, "paid", 1573.66),
    )


def _fresh_database(services: DemoServices, name: str) -> str:
    with psycopg.connect(services.postgres.dsn_for("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return services.postgres.dsn_for(name)


@pytest.mark.postgres
def test_the_shop_holds_the_seeded_rows_of_every_column_type(demo_services: DemoServices) -> None:
    dsn = _fresh_database(demo_services, "shop_seed")
    create_shop(dsn, customers=3, products=2, orders=2)
    with psycopg.connect(dsn) as conn:
        customers = conn.execute("SELECT id, name, email, vip, birthday::text, created_at::text FROM customers "
                                 "ORDER BY id LIMIT 1").fetchall()  # fmt: skip
        products = conn.execute(
            "SELECT id, sku, price::text, in_stock, attributes FROM products ORDER BY id"
        ).fetchall()
        orders = conn.execute("SELECT id, customer_id, product_id, quantity, status, total::text, created_at::text "
                              "FROM orders ORDER BY id").fetchall()  # fmt: skip
    assert (customers, products, orders) == (
        [(1, "Customer 1", "customer1@example.com", False, "1950-02-07", "2025-01-01 01:00:00+00")],
        [(1, "SKU-00001", "84.19", True, {"colour": "green", "weight_g": 113, "tags": ["demo", "batch-1"]}),
         (2, "SKU-00002", "68.38", True, {"colour": "blue", "weight_g": 126, "tags": ["demo", "batch-2"]})],
        [(1, 2, 2, 2, "paid", "89.07", "2026-01-01 00:07:00"),
         (2, 3, 1, 3, "shipped", "168.14", "2026-01-01 00:14:00")],
    )  # fmt: skip


@pytest.mark.postgres
def test_the_change_stream_counts_the_rows_it_changed(demo_services: DemoServices) -> None:
    dsn = _fresh_database(demo_services, "shop_changes")
    create_shop(dsn, customers=5, products=3, orders=10)
    stream = ChangeStream(dsn, customers=5, products=3, interval=0.01, seed=7)
    stream.start()
    wait_for(lambda: sum(stream.counts.values()) >= 30, 30, "30 changes")
    stream.stop()
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM orders").fetchone()
    assert (stream.error, row) == (None, (10 + stream.counts["insert"] - stream.counts["delete"],))
