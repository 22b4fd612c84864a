"""The demo's source database: a small shop (customers, products, orders) and a stream of random changes.

The tables cover the common PostgreSQL types (integer, numeric, text, boolean, date, timestamp, timestamptz,
jsonb). :func:`seed_statements` fills them with deterministic rows; :func:`plan_change` picks one random
change (an insert, update or delete) as SQL — pure, so a seeded ``random.Random`` gives the same changes —
and :class:`ChangeStream` applies one every ``interval`` seconds in a thread, counting what took effect.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

import psycopg

__all__ = [
    "SCHEMA",
    "Change",
    "ChangeKind",
    "ChangeStream",
    "create_shop",
    "plan_change",
    "seed_statements",
]

ChangeKind: TypeAlias = Literal["insert", "update", "delete"]

SCHEMA = """
CREATE TABLE customers (
    id         integer PRIMARY KEY,
    name       text NOT NULL,
    email      text NOT NULL,
    vip        boolean NOT NULL DEFAULT false,
    birthday   date,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE products (
    id         integer PRIMARY KEY,
    sku        text NOT NULL UNIQUE,
    name       text NOT NULL,
    price      numeric(10, 2) NOT NULL,
    in_stock   boolean NOT NULL DEFAULT true,
    attributes jsonb NOT NULL DEFAULT '{}',
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE orders (
    id          serial PRIMARY KEY,
    customer_id integer NOT NULL,
    product_id  integer NOT NULL,
    quantity    integer NOT NULL,
    status      text NOT NULL,
    total       numeric(12, 2) NOT NULL,
    created_at  timestamp NOT NULL DEFAULT localtimestamp
);
"""
"""The shop's tables (in the ``public`` schema)."""

_STATUSES = ("draft", "paid", "shipped", "delivered", "cancelled")
_COLOURS = ("red", "green", "blue", "black", "white")


def seed_statements(customers: int, products: int, orders: int) -> list[str]:
    """SQL that fills the empty tables with ``customers``, ``products`` and ``orders`` deterministic rows."""
    statuses = "ARRAY[" + ", ".join(f"'{s}'" for s in _STATUSES) + "]"
    colours = "ARRAY[" + ", ".join(f"'{c}'" for c in _COLOURS) + "]"
    return [
        f"""INSERT INTO customers (id, name, email, vip, birthday, created_at)
            SELECT g, 'Customer ' || g, 'customer' || g || '@example.com', g % 7 = 0,
                   DATE '1950-01-01' + (g * 37) % 20000, TIMESTAMPTZ '2025-01-01 00:00:00+00' + g * INTERVAL '1 hour'
            FROM generate_series(1, {customers}) g""",
        f"""INSERT INTO products (id, sku, name, price, in_stock, attributes, updated_at)
            SELECT g, 'SKU-' || lpad(g::text, 5, '0'), 'Product ' || g, round((5 + (g * 7919) % 9500 / 100.0), 2),
                   g % 11 <> 0,
                   jsonb_build_object('colour', ({colours})[1 + g % 5], 'weight_g', 100 + g * 13 % 900,
                                      'tags', jsonb_build_array('demo', 'batch-' || (g % 3))),
                   TIMESTAMPTZ '2025-06-01 00:00:00+00' + g * INTERVAL '1 minute'
            FROM generate_series(1, {products}) g""",
        f"""INSERT INTO orders (customer_id, product_id, quantity, status, total, created_at)
            SELECT 1 + (g * 13) % {customers}, 1 + (g * 17) % {products}, 1 + g % 4, ({statuses})[1 + g % 5],
                   round((10 + (g * 7907) % 50000 / 100.0), 2),
                   TIMESTAMP '2026-01-01 00:00:00' + g * INTERVAL '7 minutes'
            FROM generate_series(1, {orders}) g""",
    ]


def create_shop(dsn: str, *, customers: int = 200, products: int = 50, orders: int = 2000) -> None:
    """Creates the shop's tables in the database ``dsn`` names and fills them (one transaction)."""
    with psycopg.connect(dsn) as conn:
        conn.execute(SCHEMA)
        for statement in seed_statements(customers, products, orders):
            conn.execute(statement)


@dataclass(frozen=True)
class Change:
    """One change to apply: ``sql`` with its ``params``, of ``kind`` on ``table``."""

    kind: ChangeKind
    table: str
    sql: str
    params: tuple[object, ...] = ()


# A random row of a table: cheap at the demo's sizes, and never names a row a delete already removed.
_RANDOM_ORDER = "(SELECT id FROM orders ORDER BY random() LIMIT 1)"


def plan_change(rng: random.Random, customers: int, products: int) -> Change:
    """One random change: mostly new orders and order updates, some deletes, price and VIP changes.

    ``customers``/``products`` bound the ids new orders refer to. Pure: the same ``rng`` state gives the same
    change (which row a random-row update hits is PostgreSQL's choice)."""
    roll = rng.random()
    if roll < 0.40:
        quantity = rng.randint(1, 5)
        return Change(
            "insert",
            "orders",
            "INSERT INTO orders (customer_id, product_id, quantity, status, total) VALUES (%s, %s, %s, %s, %s)",
            (rng.randint(1, customers), rng.randint(1, products), quantity, rng.choice(_STATUSES[:2]),
             round(rng.uniform(5, 500) * quantity, 2)),
        )  # fmt: skip
    if roll < 0.70:
        return Change(
            "update", "orders", f"UPDATE orders SET status = %s WHERE id = {_RANDOM_ORDER}", (rng.choice(_STATUSES),)
        )
    if roll < 0.80:
        return Change("delete", "orders", f"DELETE FROM orders WHERE id = {_RANDOM_ORDER}")
    if roll < 0.90:
        return Change(
            "update",
            "products",
            "UPDATE products SET price = round(price * %s::numeric, 2), in_stock = %s, updated_at = now() "
            "WHERE id = %s",
            (round(rng.uniform(0.9, 1.1), 3), rng.random() > 0.1, rng.randint(1, products)),
        )
    return Change(
        "update", "customers", "UPDATE customers SET vip = NOT vip WHERE id = %s", (rng.randint(1, customers),)
    )


@dataclass
class ChangeStream:
    """Applies :func:`plan_change` changes to ``dsn`` every ``interval`` seconds in a thread until stopped.

    ``counts`` holds how many rows each kind of change touched (a random-row update of an empty table
    touches none)."""

    dsn: str
    customers: int
    products: int
    interval: float = 0.2
    seed: int | None = None
    counts: Counter[str] = field(default_factory=Counter)
    error: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="demo-changes", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        rng = random.Random(self.seed)
        try:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                while not self._stop.wait(self.interval):
                    change = plan_change(rng, self.customers, self.products)
                    touched = conn.execute(change.sql, change.params).rowcount
                    self.counts[change.kind] += max(touched, 0)
        except psycopg.Error as exc:
            if not self._stop.is_set():
                self.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
