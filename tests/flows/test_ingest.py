"""End to end: PostgreSQL → the real collector → staging → the real ``flows.ingest`` dataflow → Redis.

One pipeline runs for the whole module (collector and processor as processes); each test changes its own
table and waits until the pipeline has settled (every staged entry acknowledged), then reads the target.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from ._ingest import Ingest, free_port, running_ingest, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

JOBS = {
    "json_docs": """
source: {schema: "{schema}", table: json_docs}
output:
  - uses: redis.write
    with: {data_type: json}
""",
    "merge_docs": """
source: {schema: "{schema}", table: merge_docs}
output:
  - uses: redis.write
    with: {data_type: json, on_update: merge, key: {expression: "concat(['merged:', id])", language: jmespath}}
""",
    "tags": """
source: {schema: "{schema}", table: tags}
output:
  - uses: redis.write
    with: {data_type: set, key: {expression: "'tags:all'", language: sql}, args: {member: tag}}
""",
    "scores": """
source: {schema: "{schema}", table: scores}
output:
  - uses: redis.write
    with:
      data_type: sorted_set
      key: {expression: "'leaderboard'", language: sql}
      args: {member: player, score: points}
""",
    "events": """
source: {schema: "{schema}", table: events}
output:
  - uses: redis.write
    with: {data_type: stream, key: {expression: "'events:log'", language: sql}}
""",
    "settings": """
source: {schema: "{schema}", table: settings}
output:
  - uses: redis.write
    with:
      data_type: string
      key: {expression: "concat(['setting:', name])", language: jmespath}
      args: {value: val}
      expire: 3600
""",
    "moving": """
source: {schema: "{schema}", table: moving}
output:
  - uses: redis.write
    with: {data_type: hash, key: {expression: "concat(['code:', code])", language: jmespath}}
""",
    "items": """
source: {schema: "{schema}", table: items}
transform:
  - uses: filter
    with: {language: sql, expression: price > 10}
output:
  - uses: redis.write
    with: {data_type: hash}
""",
    "sessions": """
source: {schema: "{schema}", table: sessions}
output:
  - uses: redis.write
    with: {data_type: hash, expire: {expression: ttl, language: jmespath}}
""",
    "fallback": """
source: {table: "*"}
transform:
  - uses: add_field
    with: {field: via, expression: "'default job'", language: sql}
output:
  - uses: redis.write
    with: {data_type: hash}
""",
}

TABLES = """
CREATE TABLE {s}.users (id int PRIMARY KEY, name text, score numeric(10,2), born date, active boolean, meta jsonb);
CREATE TABLE {s}.json_docs (id int PRIMARY KEY, title text, meta jsonb, n int, price numeric(8,2), at date);
CREATE TABLE {s}.merge_docs (id int PRIMARY KEY, a text, b text);
CREATE TABLE {s}.tags (id int PRIMARY KEY, tag text);
CREATE TABLE {s}.scores (id int PRIMARY KEY, player text, points int);
CREATE TABLE {s}.events (id int PRIMARY KEY, kind text);
CREATE TABLE {s}.settings (id int PRIMARY KEY, name text, val text);
CREATE TABLE {s}.moving (id int PRIMARY KEY, code text, label text);
CREATE TABLE {s}.items (id int PRIMARY KEY, price int);
CREATE TABLE {s}.sessions (id int PRIMARY KEY, ttl text);
ALTER TABLE {s}.merge_docs REPLICA IDENTITY FULL;
ALTER TABLE {s}.tags REPLICA IDENTITY FULL;
ALTER TABLE {s}.scores REPLICA IDENTITY FULL;
ALTER TABLE {s}.settings REPLICA IDENTITY FULL;
ALTER TABLE {s}.moving REPLICA IDENTITY FULL;
"""


@pytest.fixture(scope="module")
def ingest(pg_dsn: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ingest]:
    folder = tmp_path_factory.mktemp("pipeline")
    with running_ingest(pg_dsn, redis_url, folder, jobs=JOBS, start=False) as run:
        for statement in TABLES.strip().splitlines():
            run.sql(statement)
        run.sql("INSERT INTO {s}.users VALUES (1, 'ann', 12.50, '2020-01-02', true, %s)", ['{"k": [1, 2]}'])
        run.start_collector()
        run.metrics_port = free_port()
        run.start_processor(env={"RDI_METRICS_PORT": str(run.metrics_port), "RDI_METRICS_ADDR": "127.0.0.1"})
        run.settle(120)
        yield run


def key_fields(run: Ingest, key: str) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in run.db.hgetall(key).items()}


def json_doc(run: Ingest, key: str) -> Any:
    raw = run.db.execute_command("JSON.GET", key)
    return None if raw is None else orjson.loads(raw)


def test_snapshot_rows_reach_the_default_job_with_rdi_value_types(ingest: Ingest) -> None:
    assert key_fields(ingest, "users:id:1") == {
        "id": "1",
        "name": "ann",
        "score": "12.50",
        "born": "1577923200000",
        "active": "1",
        "meta": '{"k":[1,2]}',
        "via": "default job",
    }


def test_json_insert_update_delete(ingest: Ingest) -> None:
    ingest.sql("INSERT INTO {s}.json_docs VALUES (1, 'a', %s, 5, 9.99, '1970-01-02')", ['{"x": {"y": 1}}'])
    ingest.sql("INSERT INTO {s}.json_docs VALUES (2, 'gone', NULL, NULL, NULL, NULL)")
    ingest.sql("UPDATE {s}.json_docs SET n = 6, title = NULL WHERE id = 1")
    ingest.sql("DELETE FROM {s}.json_docs WHERE id = 2")
    ingest.settle()
    assert (json_doc(ingest, "json_docs:id:1"), ingest.db.exists("json_docs:id:2")) == (
        {"id": 1, "title": None, "meta": {"x": {"y": 1}}, "n": 6, "price": "9.99", "at": 86400000},
        0,
    )


def test_json_merge_keeps_fields_other_writes_set(ingest: Ingest) -> None:
    ingest.db.execute_command("JSON.SET", "merged:1", "$", '{"id": 1, "extra": "kept"}')
    ingest.sql("INSERT INTO {s}.merge_docs VALUES (1, 'a', 'b')")
    ingest.sql("UPDATE {s}.merge_docs SET a = 'a2' WHERE id = 1")
    ingest.settle()
    assert json_doc(ingest, "merged:1") == {"id": 1, "extra": "kept", "a": "a2", "b": "b"}


def test_set_members_follow_inserts_updates_and_deletes(ingest: Ingest) -> None:
    ingest.sql("INSERT INTO {s}.tags VALUES (1, 'red'), (2, 'blue'), (3, 'green')")
    ingest.sql("UPDATE {s}.tags SET tag = 'navy' WHERE id = 2")
    ingest.sql("DELETE FROM {s}.tags WHERE id = 3")
    ingest.settle()
    assert ingest.db.smembers("tags:all") == {b"red", b"navy"}


def test_sorted_set_scores_and_removal(ingest: Ingest) -> None:
    ingest.sql("INSERT INTO {s}.scores VALUES (1, 'ann', 10), (2, 'bob', 20), (3, 'cy', 5)")
    ingest.sql("UPDATE {s}.scores SET points = 30 WHERE id = 1")
    ingest.sql("DELETE FROM {s}.scores WHERE id = 3")
    ingest.settle()
    assert ingest.db.zrange("leaderboard", 0, -1, withscores=True) == [(b"bob", 20.0), (b"ann", 30.0)]


def test_stream_gets_one_message_per_change_with_its_opcode(ingest: Ingest) -> None:
    ingest.sql("INSERT INTO {s}.events VALUES (1, 'open')")
    ingest.sql("UPDATE {s}.events SET kind = 'closed' WHERE id = 1")
    ingest.sql("DELETE FROM {s}.events WHERE id = 1")
    ingest.settle()
    messages = [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in ingest.db.xrange("events:log")]
    assert [(m.get("op_code"), m.get("kind")) for m in messages] == [
        ("c", "open"),
        ("u", "closed"),
        ("d", None),
    ]  # default replica identity: a delete carries the key only


def test_string_with_expire_and_delete(ingest: Ingest) -> None:
    ingest.sql("INSERT INTO {s}.settings VALUES (1, 'mode', 'fast'), (2, 'old', 'x')")
    ingest.sql("DELETE FROM {s}.settings WHERE id = 2")
    ingest.settle()
    ttl = ingest.db.ttl("setting:mode")
    assert (ingest.db.get("setting:mode"), 0 < ttl <= 3600, ingest.db.exists("setting:old")) == (b"fast", True, 0)


def test_key_change_moves_the_record(ingest: Ingest) -> None:
    ingest.sql("INSERT INTO {s}.moving VALUES (1, 'A1', 'x')")
    ingest.settle()
    ingest.sql("UPDATE {s}.moving SET code = 'B2' WHERE id = 1")
    ingest.settle()
    assert (ingest.db.exists("code:A1"), key_fields(ingest, "code:B2")) == (0, {"id": "1", "code": "B2", "label": "x"})


def test_hash_delete_removes_the_key(ingest: Ingest) -> None:
    ingest.sql("INSERT INTO {s}.users VALUES (50, 'tmp', NULL, NULL, NULL, NULL)")
    ingest.settle()
    existed = ingest.db.exists("users:id:50")
    ingest.sql("DELETE FROM {s}.users WHERE id = 50")
    ingest.settle()
    assert (existed, ingest.db.exists("users:id:50")) == (1, 0)


def test_filtered_records_write_nothing(ingest: Ingest) -> None:
    ingest.sql("INSERT INTO {s}.items VALUES (1, 5), (2, 50)")
    ingest.settle()
    assert (ingest.db.exists("items:id:1"), key_fields(ingest, "items:id:2")) == (0, {"id": "2", "price": "50"})


def test_poison_record_goes_to_the_dlq_and_the_rest_goes_on(ingest: Ingest) -> None:
    ingest.sql("INSERT INTO {s}.sessions VALUES (1, '60'), (2, 'soon'), (3, '120')")
    ingest.settle()
    dlq = ingest.db.xrange(f"dlq:data:pg.{ingest.schema}.sessions")
    reasons = [fields[b"reason_rejected"].decode() for _, fields in dlq]
    assert (
        [ingest.db.exists(f"sessions:id:{i}") for i in (1, 2, 3)],
        0 < ingest.db.ttl("sessions:id:3") <= 120,
        reasons,
    ) == ([1, 0, 1], True, ['`expire` expression `ttl` gave "soon"; expected a non-negative whole number of seconds'])


def test_wrongtype_at_write_time_goes_to_the_dlq(ingest: Ingest) -> None:
    ingest.db.set("users:id:60", "not a hash")
    ingest.sql("INSERT INTO {s}.users VALUES (60, 'x', NULL, NULL, NULL, NULL), (61, 'y', NULL, NULL, NULL, NULL)")
    ingest.settle()
    dlq = ingest.db.xrange(f"dlq:data:pg.{ingest.schema}.users")
    assert (
        [fields[b"reason_rejected"].decode().split(":")[:2] for _, fields in dlq],
        ingest.db.get("users:id:60"),
        key_fields(ingest, "users:id:61")["name"],
    ) == (
        [["`HDEL` failed on target `target`", " WRONGTYPE Operation against a key holding the wrong kind of value"]],
        b"not a hash",
        "y",
    )


def metric_lines(run: Ingest) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{run.metrics_port}/metrics", timeout=10) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def test_metrics_count_per_stream_with_rdi_names(ingest: Ingest) -> None:
    source = f"pg.{ingest.schema}.items"
    names = [f'rdi_incoming_entries{{data_source="{source}",operation="{op}"}}' for op in OPERATIONS]
    ingest.sql("INSERT INTO {s}.items VALUES (100, 1), (101, 2), (102, 300)")
    ingest.settle()
    before = metric_lines(ingest)
    ingest.sql("INSERT INTO {s}.items VALUES (103, 1), (104, 2), (105, 300)")
    ingest.sql("UPDATE {s}.items SET price = 400 WHERE id = 105")
    ingest.sql("DELETE FROM {s}.items WHERE id = 102")  # default replica identity: the key only, so filtered
    ingest.settle()

    def deltas() -> list[float]:
        after = metric_lines(ingest)
        return [after[name] - before.get(name, 0.0) for name in names]

    # inserted, updated, deleted, filtered, rejected (the output counts a batch right after acknowledging it)
    wait_for(lambda: deltas() == [1, 1, 0, 3, 0], 10, f"the metrics to count the batch, got {deltas()}")


OPERATIONS = ("inserted", "updated", "deleted", "filtered", "rejected")
