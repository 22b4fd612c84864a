"""Merging a JSON document without ``JSON.MERGE``: a Lua script and the arguments it takes.

Used when ``processors.use_native_json_merge`` is false (RedisJSON < 2.6). Objects merge recursively, arrays
and scalars replace, nulls are kept as JSON null (spec §2.6, §3.1). Values are passed as JSON text produced
by orjson, never re-encoded in Lua, so numbers keep every digit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Final

from rdi.errors import BadRecordError
from rdi.writers._values import Arg, dumps

__all__ = ["JSON_MERGE_SCRIPT", "JSON_MERGE_SCRIPT_SHA1", "merge_pairs"]

JSON_MERGE_SCRIPT: Final = """\
-- RDI merge without JSON.MERGE (processors.use_native_json_merge: false). Keeps nulls as JSON null.
-- KEYS[1]: the document. ARGV[1]: the new document (an object, JSON text).
-- ARGV[2..]: (JSONPath, JSON value) pairs for every member of the new document, parents before children.
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('JSON.TYPE', KEYS[1], '$')[1] ~= 'object' then
  return redis.call('JSON.SET', KEYS[1], '$', ARGV[1])
end
for i = 2, #ARGV, 2 do
  local path, value = ARGV[i], ARGV[i + 1]
  -- an object merges into an existing object (its members follow as their own pairs); anything else replaces
  if string.sub(value, 1, 1) ~= '{' or redis.call('JSON.TYPE', KEYS[1], path)[1] ~= 'object' then
    redis.call('JSON.SET', KEYS[1], path, value)
  end
end
return 'OK'
"""
JSON_MERGE_SCRIPT_SHA1: Final = hashlib.sha1(JSON_MERGE_SCRIPT.encode()).hexdigest()
"""For an applier that prefers ``EVALSHA`` (falling back to ``EVAL`` on ``NOSCRIPT``)."""


def _json_path_member(name: str) -> str:
    # RedisJSON's bracket notation has no escapes: pick the quote the name does not contain.
    if "\\" in name or ("'" in name and '"' in name):
        msg = (
            f"field `{name}` cannot be addressed by a JSONPath for the Lua merge; "
            "set `processors.use_native_json_merge: true`"
        )
        raise BadRecordError(msg)
    quote = "'" if '"' in name else '"'
    return f"[{quote}{name}{quote}]"


def merge_pairs(doc: Mapping[str, Any], prefix: str, out: list[Arg]) -> None:
    """Append ``(JSONPath, JSON value)`` for every member of ``doc``, parents before children."""
    for name, value in doc.items():
        path = prefix + _json_path_member(name)
        out.append(path)
        out.append(dumps(value))
        if type(value) is dict:
            merge_pairs(value, path, out)
