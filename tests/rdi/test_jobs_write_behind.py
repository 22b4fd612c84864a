"""Write-behind jobs (pure): routing of the capture's changes by key pattern, expiry, deletes, config errors."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from rdi.config import load_job_text
from rdi.errors import BadRecordError, ConfigError
from rdi.events import decode_event
from rdi.jobs import JobRouter
from rdi.writers.redis import WriteDefaults
from rdi.writers.sql import SqlWrite

TAGS = """
source:
  redis: {key_pattern: "tag:*", row_format: full, propagate_expired: %s}
output:
  - uses: relational.write
    with:
      connection: pg
      schema: public
      table: tags
      foreach: "m: after.members"
      keys: [{rkey: key.key}, {member: m}]
      load_strategy: UPSERT
"""


def _router(propagate: bool = False, text: str = TAGS) -> JobRouter:
    job = load_job_text(text % str(propagate).lower(), "tags.yaml")
    return JobRouter({"tags": job}, WriteDefaults())


def _event(op: str, key: str, before: Any, after: Any, *, table: str = "tag:*", expired: bool = False) -> Any:
    source = {"connector": "redis", "name": "app", "db": "0", "table": table, "key": key, "type": "set",
              "expired": expired}  # fmt: skip
    value = {"before": before, "after": after, "op": op, "ts_ms": 1, "source": source}
    return decode_event(orjson.dumps({"key": key}), orjson.dumps(value))


def _writes(router: JobRouter, event: Any) -> list[tuple[str, dict[str, Any]]]:
    result = router.job_for(event).apply(event)
    return [(w.op, w.keys) for o in result.outputs for w in o.commands if isinstance(w, SqlWrite)]


def test_a_change_goes_to_the_job_of_its_key_pattern_and_members_that_left_are_deleted() -> None:
    router = _router()
    event = _event("u", "tag:1", {"members": ["a", "b"]}, {"members": ["b", "c"]})
    assert router.job_for(event).name == "tags"
    assert _writes(router, event) == [
        ("delete", {"rkey": "tag:1", "member": "a"}),
        ("upsert", {"rkey": "tag:1", "member": "b"}),
        ("upsert", {"rkey": "tag:1", "member": "c"}),
    ]


def test_a_delete_sees_the_last_value_so_every_row_of_the_key_goes() -> None:
    event = _event("d", "tag:1", {"members": ["a", "b"]}, None)
    assert _writes(_router(), event) == [
        ("delete", {"rkey": "tag:1", "member": "a"}),
        ("delete", {"rkey": "tag:1", "member": "b"}),
    ]


@pytest.mark.parametrize("propagate", [False, True])
def test_an_expired_key_is_deleted_only_with_propagate_expired(propagate: bool) -> None:
    router = _router(propagate)
    expired = _event("d", "tag:1", {"members": ["a"]}, None, expired=True)
    result = router.job_for(expired).apply(expired)
    assert result.filtered is (not propagate)
    assert _writes(router, _event("d", "tag:1", {"members": ["a"]}, None)) == [
        ("delete", {"rkey": "tag:1", "member": "a"})
    ]


def test_a_change_of_a_pattern_no_job_tracks_is_rejected() -> None:
    with pytest.raises(BadRecordError, match="no write-behind job tracks key pattern `cust:\\*`"):
        _router().job_for(_event("c", "cust:1", None, {"name": "x"}, table="cust:*"))


def test_an_expression_that_does_not_compile_names_the_job_and_output() -> None:
    broken = TAGS.replace("{member: m}", '{member: "m[["}')
    with pytest.raises(ConfigError) as caught:
        _router(text=broken)
    (issue,) = caught.value.issues
    assert (issue.file, issue.field) == ("jobs/tags", "output[0].with")
    assert "member" in issue.message
