"""Every MariaDB type the collector maps, snapshotted and streamed: the staged values and the published schema."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import redis

from rdi.collectors.mysql import MySqlCollector
from rdi.collectors.settings import MySqlCollectorSettings
from rdi.config import load_pipeline

from ._mysql_pipeline import execute, write_pipeline
from ._pg_pipeline import staged, wait_for

pytestmark = [pytest.mark.mysql, pytest.mark.redis]

COLUMNS = """
    id int PRIMARY KEY, t1 tinyint(1), bo boolean, ti tinyint, uti tinyint unsigned, si smallint,
    usi smallint unsigned, mi mediumint, i int, ui int unsigned, bi bigint, ubi bigint unsigned, de decimal(10,2),
    de0 decimal(30,0), fl float, db double, ch char(4), vc varchar(20), tx text, bn binary(4), vb varbinary(8),
    bl blob, en enum('x','y'), st set('a','b','c'), js json, da date, tm time(3), dt0 datetime, dt6 datetime(6),
    ts3 timestamp(3) NULL, ts0 timestamp NULL, yr year, bt bit(10), b1 bit(1), zd date NOT NULL, zdn date NULL,
    nul int NULL, de3 decimal(20,5), de4 decimal(5,5), tm6 time(6), uyr year, ezs set('a','b') NOT NULL,
    zts timestamp NOT NULL DEFAULT '0000-00-00 00:00:00', ztsn timestamp NULL, zdt datetime(3) NULL
"""
VALUES = """
    1, true, -128, 255, -32768, 65535, -8388608, -2147483648, 4294967295, -9223372036854775808,
    18446744073709551615, -12.34, 123456789012345678901234567890, 1.1, 1.1, 'ab', 'héllo', 'long text',
    x'01000000', x'0100', x'00ff00', 'y', 'c,a', '{"a": 1}', '2024-02-03', '-838:59:59.000', '2024-01-01 10:00:00',
    '2024-01-01 10:00:00.123456', '2024-01-01 10:00:00.5', '2024-01-01 10:00:00', 2024, b'1000000001', b'1',
    '0000-00-00', '0000-00-00', NULL, -123456789012.34567, 0.00001, '12:34:56.789012', 1901, '',
    '0000-00-00 00:00:00', '0000-00-00 00:00:00', '0000-00-00 00:00:00'
"""
EXPECTED = {
    "t1": 1, "bo": 1, "ti": -128, "uti": 255, "si": -32768, "usi": 65535, "mi": -8388608, "i": -2147483648,
    "ui": 4294967295, "bi": -9223372036854775808, "ubi": 18446744073709551615, "de": "-12.34",
    "de0": "123456789012345678901234567890", "fl": 1.1, "db": 1.1, "ch": "ab", "vc": "héllo", "tx": "long text",
    "bn": "AQAAAA==", "vb": "AQA=", "bl": "AP8A", "en": "y", "st": "a,c", "js": '{"a": 1}', "da": 19756,
    "tm": -3020399000000, "dt0": 1704103200000, "dt6": 1704103200123456, "ts3": "2024-01-01T10:00:00.500Z",
    "ts0": "2024-01-01T10:00:00Z", "yr": 2024, "bt": "AQI=", "b1": True, "zd": 0, "zdn": None, "nul": None,
    "de3": "-123456789012.34567", "de4": "0.00001", "tm6": 45296789012, "uyr": 1901, "ezs": "",
    "zts": "1970-01-01T00:00:00Z", "ztsn": None, "zdt": None,
}  # fmt: skip
SCHEMA = {
    "id": ("int32", None), "t1": ("int16", None), "bo": ("int16", None), "ti": ("int16", None),
    "uti": ("int16", None), "si": ("int16", None), "usi": ("int32", None), "mi": ("int32", None),
    "i": ("int32", None), "ui": ("int64", None), "bi": ("int64", None), "ubi": ("int64", None),
    "de": ("string", None), "de0": ("string", None), "fl": ("float", None), "db": ("double", None),
    "ch": ("string", None), "vc": ("string", None), "tx": ("string", None), "bn": ("bytes", None),
    "vb": ("bytes", None), "bl": ("bytes", None), "en": ("string", "io.debezium.data.Enum"),
    "st": ("string", "io.debezium.data.EnumSet"), "js": ("string", "io.debezium.data.Json"),
    "da": ("int32", "io.debezium.time.Date"), "tm": ("int64", "io.debezium.time.MicroTime"),
    "dt0": ("int64", "io.debezium.time.Timestamp"), "dt6": ("int64", "io.debezium.time.MicroTimestamp"),
    "ts3": ("string", "io.debezium.time.ZonedTimestamp"), "ts0": ("string", "io.debezium.time.ZonedTimestamp"),
    "yr": ("int32", "io.debezium.time.Year"), "bt": ("bytes", "io.debezium.data.Bits"), "b1": ("boolean", None),
    "zd": ("int32", "io.debezium.time.Date"), "zdn": ("int32", "io.debezium.time.Date"), "nul": ("int32", None),
    "de3": ("string", None), "de4": ("string", None), "tm6": ("int64", "io.debezium.time.MicroTime"),
    "uyr": ("int32", "io.debezium.time.Year"), "ezs": ("string", "io.debezium.data.EnumSet"),
    "zts": ("string", "io.debezium.time.ZonedTimestamp"), "ztsn": ("string", "io.debezium.time.ZonedTimestamp"),
    "zdt": ("int64", "io.debezium.time.Timestamp"),
}  # fmt: skip


@pytest.fixture
def rdi_db(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


def test_snapshot_and_binlog_give_the_same_debezium_values(
    tmp_path: Path, mysql_url: str, mysql_db: str, rdi_db: redis.Redis
) -> None:
    insert = f"INSERT INTO `{mysql_db}`.types VALUES (<id>, {VALUES})"
    execute(mysql_url, "SET SESSION sql_mode = ''", f"CREATE TABLE `{mysql_db}`.types ({COLUMNS})",
            insert.replace("<id>", "1"))  # fmt: skip
    write_pipeline(tmp_path, mysql_url, database=mysql_db)
    pipeline = load_pipeline(tmp_path, env={"SOURCE_DB_PASSWORD": "root"})
    settings = MySqlCollectorSettings.from_source("my", pipeline.config.sources["my"])
    stop = threading.Event()
    runner = threading.Thread(target=MySqlCollector(settings, rdi_db, stop=stop).run, daemon=True)
    stream = f"data:my.{mysql_db}.types"
    try:
        runner.start()
        wait_for(lambda: rdi_db.xlen(stream) == 1, 30, "the snapshot")
        execute(mysql_url, "SET SESSION sql_mode = ''", insert.replace("<id>", "2"))
        events = wait_for(lambda: (e := staged(rdi_db, stream)) and len(e) == 2 and e, 30, "the streamed row")
    finally:
        stop.set()
        runner.join(timeout=30)
    schema = {
        k.decode(): (v["type"], v["name"])
        for k, v in ((k, orjson.loads(v)) for k, v in rdi_db.hgetall(f"rdi:schema:{stream}").items())
    }
    assert (
        [(e["value"]["op"], e["value"]["after"]) for e in events],
        schema,
    ) == ([("r", {"id": 1, **EXPECTED}), ("c", {"id": 2, **EXPECTED})], SCHEMA)
