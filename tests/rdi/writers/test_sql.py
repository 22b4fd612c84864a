"""`relational.write` planning and SQL text: literal records and settings → the exact row changes and statements
(rdi-compat-spec §4.4). No database: statements are compiled with SQLAlchemy's dialect objects."""

from __future__ import annotations

import re
from typing import Any

import pytest

from rdi.config.job import RelationalWriteSettings
from rdi.errors import BadRecordError
from rdi.events.event import Record
from rdi.writers.sql import RelationalPlanner, SqlWrite, compile_writes

CLOSE = (("valid_to", "CURRENT_TIMESTAMP"),)


def partial(op: str, data: dict[str, Any]) -> Record:
    return Record(data=data, key={"key": "customer:1"}, row_format="partial", op=op,  # type: ignore[arg-type]
                  server_name="app", db="0", schema=None, table="customer:*")  # fmt: skip


def full(op: str, before: dict[str, Any] | None, after: dict[str, Any] | None, key: str = "order:1") -> Record:
    data = {"key": {"key": key}, "before": before, "after": after, "opcode": op, "db": "0", "schema": None,
            "table": "order:*"}  # fmt: skip
    return Record(data=data, key={"key": key}, row_format="full", op=op,  # type: ignore[arg-type]
                  server_name="app", db="0", schema=None, table="order:*")  # fmt: skip


def planner(**with_: Any) -> RelationalPlanner:
    return RelationalPlanner(RelationalWriteSettings.model_validate({"connection": "pg", "schema": "", **with_}))


CUSTOMERS: dict[str, Any] = {"table": "customers", "keys": ["id"], "mapping": ["name", "email"]}
ROW = {"id": "7", "name": "Ann", "email": "ann@x.io"}


# ---- load strategies ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("strategy", "op", "expected"),
    [
        ("APPEND", "c", "insert"),
        ("APPEND", "u", "update"),
        ("UPSERT", "c", "upsert"),
        ("UPSERT", "u", "upsert"),
        ("REPLACE", "c", "replace"),
        ("REPLACE", "u", "replace"),
    ],
)
def test_a_write_follows_the_load_strategy(strategy: str, op: str, expected: str) -> None:
    writes = planner(**CUSTOMERS, load_strategy=strategy).plan(partial(op, ROW))
    assert writes == [SqlWrite(None, "customers", expected, {"id": "7"}, {"name": "Ann", "email": "ann@x.io"})]  # type: ignore[arg-type]


@pytest.mark.parametrize("strategy", ["APPEND", "UPSERT", "REPLACE"])
def test_a_delete_deletes_the_row_by_its_keys(strategy: str) -> None:
    writes = planner(**CUSTOMERS, load_strategy=strategy).plan(partial("d", ROW))
    assert writes == [SqlWrite(None, "customers", "delete", {"id": "7"}, {})]


def test_type2_closes_the_active_row_and_inserts_the_new_version() -> None:
    p = planner(**CUSTOMERS, load_strategy="TYPE2", active_record_indicator="valid_to IS NULL",
                inactive_record_mapping=[{"source": "CURRENT_TIMESTAMP", "target": "valid_to"}])  # fmt: skip
    assert (p.plan(partial("u", ROW)), p.plan(partial("d", ROW))) == (
        [
            SqlWrite(
                None, "customers", "type2", {"id": "7"}, {"name": "Ann", "email": "ann@x.io"}, CLOSE, "valid_to IS NULL"
            )
        ],
        [SqlWrite(None, "customers", "close", {"id": "7"}, {}, CLOSE, "valid_to IS NULL")],
    )


def test_append_without_keys_is_an_append_only_log() -> None:
    p = planner(table="log", mapping=["name"])
    assert (p.plan(partial("c", ROW)), p.plan(partial("u", ROW)), p.plan(partial("d", ROW))) == (
        [SqlWrite(None, "log", "insert", {}, {"name": "Ann"})],
        [SqlWrite(None, "log", "insert", {}, {"name": "Ann"})],
        [],
    )


@pytest.mark.parametrize(
    ("with_", "message"),
    [
        ({"table": "t", "load_strategy": "UPSERT"}, "`load_strategy: UPSERT` needs `keys`"),
        ({"table": "t", "keys": ["id"], "load_strategy": "TYPE2"}, "`load_strategy: TYPE2` needs `inactive_record"),
        ({"table": "t", "keys": [{"id": "a["}]}, "key `id`: "),
    ],
)
def test_settings_that_cannot_work_are_refused_at_construction(with_: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        planner(**with_)


# ---- keys / mapping items ------------------------------------------------------------------------


def test_one_entry_items_are_column_then_expression_and_plain_items_are_fields() -> None:
    p = planner(table="customers", keys=[{"CustomerId": "id"}], load_strategy="UPSERT",
                mapping=["name", {"Mail": "upper(email)"}, {"Tags": "tags"}, {"Missing": "nope"}])  # fmt: skip
    writes = p.plan(partial("c", {**ROW, "tags": ["a", "b"]}))
    assert writes == [
        SqlWrite(
            None,
            "customers",
            "upsert",
            {"CustomerId": "7"},
            {"name": "Ann", "Mail": "ANN@X.IO", "Tags": '["a","b"]', "Missing": None},
        )
    ]


def test_no_keys_and_no_mapping_write_every_field_but_the_opcode_field() -> None:
    writes = planner(table="raw", opcode_field="op").plan(partial("c", {"id": "1", "op": "c", "doc": {"a": 1}}))
    assert writes == [SqlWrite(None, "raw", "insert", {}, {"id": "1", "doc": '{"a":1}'})]


def test_a_key_column_listed_in_mapping_is_written_once() -> None:
    writes = planner(table="customers", keys=["id"], mapping=["id", "name"], load_strategy="UPSERT").plan(
        partial("c", ROW)
    )
    assert writes == [SqlWrite(None, "customers", "upsert", {"id": "7"}, {"name": "Ann"})]


@pytest.mark.parametrize("data", [{"name": "Ann"}, {"id": None, "name": "Ann"}])
def test_a_missing_or_null_key_is_a_bad_record(data: dict[str, Any]) -> None:
    message = "key column `id` of table `customers` has no value (field `id` is missing or null)"
    with pytest.raises(BadRecordError, match=re.escape(message)):
        planner(**CUSTOMERS, load_strategy="UPSERT").plan(partial("c", data))


def test_a_schema_is_kept_and_a_blank_one_is_the_connection_default() -> None:
    with_ = {"table": "t", "keys": ["id"]}
    assert [planner(**with_, schema=s).plan(partial("d", ROW))[0].schema for s in ("sales", "")] == ["sales", None]


# ---- opcode_field ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [("c", "insert"), ("U", "update"), ("d", "delete")])
def test_opcode_field_overrides_the_records_opcode(value: str, expected: str) -> None:
    writes = planner(**CUSTOMERS, opcode_field="action").plan(partial("c", {**ROW, "action": value}))
    assert [w.op for w in writes] == [expected]


def test_an_unknown_opcode_is_a_bad_record() -> None:
    with pytest.raises(BadRecordError, match=re.escape("`opcode_field` `action` holds 'x'; expected one of c, u, d")):
        planner(**CUSTOMERS, opcode_field="action").plan(partial("c", {**ROW, "action": "x"}))


# ---- foreach --------------------------------------------------------------------------------------

LINES: dict[str, Any] = {
    "table": "order_lines",
    "foreach": "line: lines[]",
    "keys": [{"order_key": "key.key"}, {"code": "line.code"}],
    "mapping": [{"qty": "line.qty"}, "status"],
    "load_strategy": "UPSERT",
}


def order(*codes: str, status: str = "open") -> dict[str, Any]:
    return {"status": status, "lines": [{"code": c, "qty": i + 1} for i, c in enumerate(codes)]}


def test_foreach_explodes_an_array_into_one_row_per_element() -> None:
    writes = planner(**LINES).plan(full("c", None, order("a", "b")))
    assert writes == [
        SqlWrite(None, "order_lines", "upsert", {"order_key": "order:1", "code": "a"}, {"qty": 1, "status": "open"}),
        SqlWrite(None, "order_lines", "upsert", {"order_key": "order:1", "code": "b"}, {"qty": 2, "status": "open"}),
    ]


def test_an_update_deletes_the_rows_that_left_the_array_first() -> None:
    writes = planner(**LINES).plan(
        full("u", order("a", "b", "c"), order("b")), previous=full("c", None, order("a", "b", "c"))
    )
    assert writes == [
        SqlWrite(None, "order_lines", "delete", {"order_key": "order:1", "code": "a"}, {}),
        SqlWrite(None, "order_lines", "delete", {"order_key": "order:1", "code": "c"}, {}),
        SqlWrite(None, "order_lines", "upsert", {"order_key": "order:1", "code": "b"}, {"qty": 1, "status": "open"}),
    ]  # fmt: skip


def test_a_delete_deletes_every_row_of_the_before_image() -> None:
    writes = planner(**LINES).plan(full("d", order("a", "b"), None))
    assert writes == [
        SqlWrite(None, "order_lines", "delete", {"order_key": "order:1", "code": "a"}, {}),
        SqlWrite(None, "order_lines", "delete", {"order_key": "order:1", "code": "b"}, {}),
    ]


def test_a_changed_key_deletes_the_old_row_without_foreach() -> None:
    p = planner(**CUSTOMERS, load_strategy="UPSERT")
    writes = p.plan(partial("u", {**ROW, "id": "8"}), previous=partial("c", ROW))
    assert writes == [
        SqlWrite(None, "customers", "delete", {"id": "7"}, {}),
        SqlWrite(None, "customers", "upsert", {"id": "8"}, {"name": "Ann", "email": "ann@x.io"}),
    ]


def test_foreach_over_a_non_array_is_a_bad_record() -> None:
    with pytest.raises(BadRecordError, match=re.escape("`foreach` `line: status` gave a str, expected an array")):
        planner(**{**LINES, "foreach": "line: status"}).plan(full("c", None, order("a")))


# ---- SQL text -------------------------------------------------------------------------------------

UPSERT = SqlWrite("sales", "customers", "upsert", {"id": "7"}, {"name": "Ann", "Email": "a@x"})
DELETE = SqlWrite("sales", "customers", "delete", {"id": "7"}, {})
UPSERT_SQL = {
    "postgresql": 'INSERT INTO sales.customers (id, name, "Email") VALUES (%(k0)s, %(v0)s, %(v1)s) ON CONFLICT (id) '
    'DO UPDATE SET name = excluded.name, "Email" = excluded."Email"',
    "sqlite": 'INSERT INTO sales.customers (id, name, "Email") VALUES (:k0, :v0, :v1) ON CONFLICT (id) '
    'DO UPDATE SET name = excluded.name, "Email" = excluded."Email"',
    "mysql": "INSERT INTO sales.customers (id, name, `Email`) VALUES (%(k0)s, %(v0)s, %(v1)s) "
    "ON DUPLICATE KEY UPDATE name = VALUES(name), `Email` = VALUES(`Email`)",
    "mariadb": "INSERT INTO sales.customers (id, name, `Email`) VALUES (%(k0)s, %(v0)s, %(v1)s) "
    "ON DUPLICATE KEY UPDATE name = VALUES(name), `Email` = VALUES(`Email`)",
    "sqlserver": "MERGE INTO sales.customers WITH (HOLDLOCK) AS tgt USING (SELECT ? AS id, ? AS name, ? AS [Email]) "
    "AS src ON (tgt.id = src.id) WHEN MATCHED THEN UPDATE SET tgt.name = src.name, tgt.[Email] = src.[Email] "
    "WHEN NOT MATCHED THEN INSERT (id, name, [Email]) VALUES (src.id, src.name, src.[Email]);",
    "oracle": 'MERGE INTO sales.customers tgt USING (SELECT :k0 AS id, :v0 AS name, :v1 AS "Email" FROM dual) src '
    'ON (tgt.id = src.id) WHEN MATCHED THEN UPDATE SET tgt.name = src.name, tgt."Email" = src."Email" '
    'WHEN NOT MATCHED THEN INSERT (id, name, "Email") VALUES (src.id, src.name, src."Email")',
}
DELETE_SQL = {
    "postgresql": "DELETE FROM sales.customers WHERE sales.customers.id = %(k0)s",
    "sqlite": "DELETE FROM sales.customers WHERE sales.customers.id = :k0",
    "mysql": "DELETE FROM sales.customers WHERE sales.customers.id = %(k0)s",
    "mariadb": "DELETE FROM sales.customers WHERE sales.customers.id = %(k0)s",
    "sqlserver": "DELETE FROM sales.customers WHERE sales.customers.id = ?",
    "oracle": "DELETE FROM sales.customers WHERE sales.customers.id = :k0",
}
POSITIONAL = {"sqlserver"}


@pytest.mark.parametrize("dialect", sorted(UPSERT_SQL))
def test_upsert_and_delete_text_per_dialect(dialect: str) -> None:
    upsert_params: Any = ("7", "Ann", "a@x") if dialect in POSITIONAL else {"k0": "7", "v0": "Ann", "v1": "a@x"}
    delete_params: Any = ("7",) if dialect in POSITIONAL else {"k0": "7"}
    assert compile_writes([UPSERT, DELETE], dialect) == [
        (UPSERT_SQL[dialect], [upsert_params]),
        (DELETE_SQL[dialect], [delete_params]),
    ]


def test_an_upsert_without_other_columns_only_inserts_a_missing_row() -> None:
    w = SqlWrite(None, "tags", "upsert", {"tag": "x"}, {})
    assert [compile_writes([w], d)[0][0] for d in ("postgresql", "mysql", "sqlserver", "oracle")] == [
        "INSERT INTO tags (tag) VALUES (%(k0)s) ON CONFLICT (tag) DO NOTHING",
        "INSERT INTO tags (tag) VALUES (%(k0)s) ON DUPLICATE KEY UPDATE tag = VALUES(tag)",
        "MERGE INTO tags WITH (HOLDLOCK) AS tgt USING (SELECT ? AS tag) AS src ON (tgt.tag = src.tag) "
        "WHEN NOT MATCHED THEN INSERT (tag) VALUES (src.tag);",
        "MERGE INTO tags tgt USING (SELECT :k0 AS tag FROM dual) src ON (tgt.tag = src.tag) "
        "WHEN NOT MATCHED THEN INSERT (tag) VALUES (src.tag)",
    ]


def test_insert_update_replace_and_type2_text() -> None:
    writes = [
        SqlWrite(None, "t", "insert", {"id": 1}, {"a": "x"}),
        SqlWrite(None, "t", "update", {"id": 1}, {"a": "y"}),
        SqlWrite(None, "t", "replace", {"id": 1}, {"a": "z"}),
        SqlWrite(None, "t", "type2", {"id": 1}, {"a": "w"}, CLOSE, "valid_to IS NULL"),
        SqlWrite(None, "t", "close", {"id": 1}, {}, CLOSE, None),
    ]
    assert compile_writes(writes, "postgresql") == [
        ("INSERT INTO t (id, a) VALUES (%(k0)s, %(v0)s)", [{"k0": 1, "v0": "x"}]),
        ("UPDATE t SET a=%(v0)s WHERE t.id = %(k0)s", [{"k0": 1, "v0": "y"}]),
        ("DELETE FROM t WHERE t.id = %(k0)s", [{"k0": 1}]),
        ("INSERT INTO t (id, a) VALUES (%(k0)s, %(v0)s)", [{"k0": 1, "v0": "z"}]),
        ("UPDATE t SET valid_to=CURRENT_TIMESTAMP WHERE t.id = %(k0)s AND (valid_to IS NULL)", [{"k0": 1}]),
        ("INSERT INTO t (id, a) VALUES (%(k0)s, %(v0)s)", [{"k0": 1, "v0": "w"}]),
        ("UPDATE t SET valid_to=CURRENT_TIMESTAMP WHERE t.id = %(k0)s", [{"k0": 1}]),
    ]


def test_consecutive_writes_of_one_shape_share_a_statement_in_order() -> None:
    writes = [
        SqlWrite(None, "t", "upsert", {"id": 1}, {"a": "x"}),
        SqlWrite(None, "t", "upsert", {"id": 2}, {"a": "y"}),
        SqlWrite(None, "t", "upsert", {"id": 1}, {"a": "z"}),
        SqlWrite(None, "t", "delete", {"id": 2}, {}),
        SqlWrite(None, "t", "upsert", {"id": 2}, {"a": "w"}),
    ]
    assert [(sql.split(" ", 1)[0], params) for sql, params in compile_writes(writes, "sqlite")] == [
        ("INSERT", [{"k0": 1, "v0": "x"}, {"k0": 2, "v0": "y"}, {"k0": 1, "v0": "z"}]),
        ("DELETE", [{"k0": 2}]),
        ("INSERT", [{"k0": 2, "v0": "w"}]),
    ]


def test_replace_keeps_the_last_write_of_a_key_and_type2_starts_a_new_group() -> None:
    replace = [SqlWrite(None, "t", "replace", {"id": 1}, {"a": a}) for a in ("x", "y")]
    type2 = [SqlWrite(None, "t", "type2", {"id": 1}, {"a": a}, CLOSE, None) for a in ("x", "y")]
    assert ([p for _, p in compile_writes(replace, "sqlite")], len(compile_writes(type2, "sqlite"))) == (
        [[{"k0": 1}], [{"k0": 1, "v0": "y"}]],
        4,
    )


def test_an_unknown_dialect_is_refused() -> None:
    with pytest.raises(ValueError, match=re.escape("unknown SQL dialect `db2`")):
        compile_writes([DELETE], "db2")
