"""`nest`: child rows embedded as maps in their parent's JSON document, kept right under CDC (spec §2.8).

RDI nests one level and trusts events to arrive parent first. Here the document is a function of the rows,
not of the order their events arrive in, so it stays correct when tables are read by different workers, when
a child arrives before its parent, when a foreign key moves a child to another parent, and several levels
deep (a child of a child lands inside its parent's entry inside the grandparent's document).

How: every row of a nested table is kept, beside the documents on the same target, in

* ``rdi:nest:<table>:rows``   hash: the row's id (its ``nesting_key`` value) → its entry (JSON object text);
* ``rdi:nest:<table>:parent`` hash: id → the id of its parent row (the ``child_key``/``parent_key`` value);
* ``rdi:nest:<table>:kids:<parent id>`` set: ids of the rows under that parent.

One Lua script (:data:`NEST_SCRIPT`) applies a change to those keys and patches the one affected entry of the
root document in the same atomic step: ``JSON.SET <doc> $.orders["7"].lines["3"] <entry>`` (the entry built
from the kept rows, with its own children's maps), or ``JSON.DEL`` of the old place when a row leaves a
parent. Ancestors are found by walking the kept ``parent`` links up to the root table, whose document key is
``<root table>:<parent_key>:<id>`` (RDI's parent document key). When a link is missing (the parent row has not
arrived, or the root document does not exist yet) the row is only kept: the parent's arrival builds it in.
The root's own job writes the root document as usual and is followed by a refresh (:func:`NestTree.refresh`)
that rebuilds the root's maps from the kept rows — so a root written with ``on_update: replace`` keeps them,
and a root that arrives last gets all its children.

Every command sets state ("row 3 is this, under parent 7"), never increments it, so a replayed entry
changes nothing; the script runs atomically, so two workers patching one document cannot interleave.

Rules where the spec is silent, decided here:

* a deleted parent's children stay kept (their rows still exist in the source); they reappear if it returns;
* a child whose foreign key is null is kept under no parent (in no document);
* a delete needs only the ``nesting_key`` (the kept ``parent`` link says where the entry was), so children
  of tables without ``REPLICA IDENTITY FULL`` work too;
* ``path`` is one member below ``$`` (``$.lines``); ids that RedisJSON's bracket notation cannot address (a
  backslash, or both quote characters) are bad records;
* an intermediate table (nested itself, and a parent of another nest) is addressed by its ``nesting_key``, so
  its children's ``parent_key`` must name that same column;
* ``expire`` of a nest output applies to the root document, after every change of one of its entries;
* the kept rows and the documents must be on one Redis server: a Redis Cluster target rejects the script.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import orjson

from rdi.config.job import NestSpec, RedisWriteSettings
from rdi.errors import BadRecordError
from rdi.events.event import Record, Row
from rdi.events.key import render_value
from rdi.writers._mapping import compile_mapping, mapped_document
from rdi.writers._values import dumps, shown
from rdi.writers.redis import Command

__all__ = ["NEST_SCRIPT", "NEST_SCRIPT_SHA1", "NestNode", "NestPlanner", "NestTree"]

NEST_SCRIPT: Final = """\
-- rdi nest: keep a row of a nested table and patch its entry in the root JSON document (rdi/writers/nest.py).
-- ARGV[1]: 'u' (upsert row), 'd' (delete row) or 'r' (rebuild a root document's map)
-- ARGV[2]: the tree as JSON: {"chain": [{"t": table, "p": member}, ... up to the root's child],
--          "root": "<root doc key prefix>", "kids": {table: [{"t": child table, "p": member}]}, "ttl": seconds}
-- 'u': ARGV[3] id, ARGV[4] parent id ('' = none), ARGV[5] entry (JSON object text)
-- 'd': ARGV[3] id
-- 'r': ARGV[3] root id; the chain holds the one child table whose map is rebuilt
local spec = cjson.decode(ARGV[2])
local function rows(t) return 'rdi:nest:' .. t .. ':rows' end
local function parents(t) return 'rdi:nest:' .. t .. ':parent' end
local function kids(t, ref) return 'rdi:nest:' .. t .. ':kids:' .. ref end
local function member(id)
  if string.find(id, '"', 1, true) then return "['" .. id .. "']" end
  return '["' .. id .. '"]'
end
local build
local function build_map(t, ref)
  local parts = {}
  for _, id in ipairs(redis.call('SMEMBERS', kids(t, ref))) do
    local row = redis.call('HGET', rows(t), id)
    if row then parts[#parts + 1] = cjson.encode(id) .. ':' .. build(t, id, row) end
  end
  return '{' .. table.concat(parts, ',') .. '}'
end
build = function(t, id, row)
  local children = spec.kids[t]
  if children == nil or #children == 0 then return row end
  local parts = {}
  for _, c in ipairs(children) do parts[#parts + 1] = cjson.encode(c.p) .. ':' .. build_map(c.t, id) end
  if row == '{}' then return '{' .. table.concat(parts, ',') .. '}' end
  return string.sub(row, 1, -2) .. ',' .. table.concat(parts, ',') .. '}'
end
-- the document holding the map of chain[1]'s rows under parent `ref`, and the JSONPath of that parent's entry
local function locate(ref)
  local path = ''
  for i = 2, #spec.chain do
    local t = spec.chain[i].t
    if redis.call('HEXISTS', rows(t), ref) == 0 then return nil end
    path = '.' .. spec.chain[i].p .. member(ref) .. path
    ref = redis.call('HGET', parents(t), ref)
    if not ref then return nil end
  end
  local doc = spec.root .. ref
  if redis.call('EXISTS', doc) == 0 then return nil end
  return doc, '$' .. path
end
local function touch(doc)
  if spec.ttl and spec.ttl > 0 then redis.call('EXPIRE', doc, spec.ttl) end
end
local op, t, seg = ARGV[1], spec.chain[1].t, spec.chain[1].p
if op == 'r' then
  local doc = spec.root .. ARGV[3]
  if redis.call('EXISTS', doc) == 1 then
    redis.call('JSON.SET', doc, '$.' .. seg, build_map(t, ARGV[3]))
  end
  return 'OK'
end
local id = ARGV[3]
local old = redis.call('HGET', parents(t), id)
if op == 'd' then
  redis.call('HDEL', rows(t), id)
  redis.call('HDEL', parents(t), id)
else
  redis.call('HSET', rows(t), id, ARGV[5])
  if ARGV[4] == '' then redis.call('HDEL', parents(t), id) else redis.call('HSET', parents(t), id, ARGV[4]) end
end
if old and (op == 'd' or old ~= ARGV[4]) then
  redis.call('SREM', kids(t, old), id)
  local doc, path = locate(old)
  if doc then
    redis.call('JSON.DEL', doc, path .. '.' .. seg .. member(id))
    touch(doc)
  end
end
if op == 'u' and ARGV[4] ~= '' then
  redis.call('SADD', kids(t, ARGV[4]), id)
  local doc, path = locate(ARGV[4])
  if doc then
    redis.call('JSON.SET', doc, path .. '.' .. seg .. member(id), build(t, id, ARGV[5]))
    touch(doc)
  end
end
return 'OK'
"""
NEST_SCRIPT_SHA1: Final = hashlib.sha1(NEST_SCRIPT.encode()).hexdigest()

_MEMBER: Final = re.compile(r"^\$\.([A-Za-z_][A-Za-z0-9_]*)$")
_WRITES: Final = frozenset({"c", "r", "u"})


@dataclass(frozen=True, slots=True)
class NestNode:
    """One nested table: where its rows go in its parent's entry, and how they are identified."""

    table: str
    parent: str
    member: str
    parent_key: str
    child_key: str
    nesting_key: str
    connection: str
    expire: int


class NestTree:
    """Every ``nest`` of a pipeline, linked: which table nests into which, up to the root documents.

    ``outputs`` are ``(child table, its redis.write settings with nest)``. Raises ``ValueError`` with a
    message naming the table for a shape this cannot keep right: a path that is not one member below
    ``$``, a table nested twice, a cycle, a root whose children disagree on the target connection, or an
    intermediate table whose children's ``parent_key`` is not its ``nesting_key``.
    """

    def __init__(self, outputs: Iterable[tuple[str, RedisWriteSettings]]) -> None:
        self.nodes: dict[str, NestNode] = {}
        for table, settings in outputs:
            spec = settings.nest
            if spec is None:
                continue
            if table in self.nodes:
                raise ValueError(f"table `{table}` is nested by two outputs; a row has one place in a document")
            self.nodes[table] = _node(table, spec, settings)
        self.children: dict[str, list[NestNode]] = {}
        for node in self.nodes.values():
            self.children.setdefault(node.parent, []).append(node)
        for node in self.nodes.values():
            self._check_chain(node)
        self._specs: dict[str, str] = {table: self._spec(table) for table in self.nodes}
        self._refresh_specs: dict[str, list[tuple[NestNode, str]]] = {
            root: [(child, self._spec(child.table, refresh=True)) for child in children]
            for root, children in self.children.items()
            if root not in self.nodes
        }

    def __bool__(self) -> bool:
        return bool(self.nodes)

    def root_of(self, table: str) -> str:
        while table in self.nodes:
            table = self.nodes[table].parent
        return table

    def is_root(self, table: str) -> bool:
        """True for a table that has nested children and is not nested itself (it owns the documents)."""
        return table in self._refresh_specs

    def refresh(self, record: Record) -> dict[str, list[Command]]:
        """After the root's own write of ``record``: rebuild each of its maps from the kept rows, per target.

        Returns ``{connection: [command, …]}``; nothing for a record that is not a root row. Raises
        :class:`BadRecordError` when the record lacks the column that names its document.
        """
        out: dict[str, list[Command]] = {}
        for child, spec in self._refresh_specs.get(record.table, ()):
            row = record.values if record.opcode in _WRITES else _delete_image(record)
            value = row.get(child.parent_key, record.key.get(child.parent_key))
            if value is None:
                continue
            out.setdefault(child.connection, []).append(Command("EVAL", NEST_SCRIPT, "0", "r", spec, _id(value, child)))
        return out

    def spec_of(self, table: str) -> str:
        return self._specs[table]

    def _check_chain(self, node: NestNode) -> None:
        seen = {node.table}
        current = node
        while current.parent in self.nodes:
            parent = self.nodes[current.parent]
            if parent.table in seen:
                raise ValueError(f"table `{node.table}`: `nest` parents form a cycle through `{parent.table}`")
            seen.add(parent.table)
            if current.parent_key != parent.nesting_key:
                msg = (
                    f"table `{current.table}`: `nest.parent_key` is `{current.parent_key}` but its parent "
                    f"`{parent.table}` is nested itself and is identified by its `nesting_key` "
                    f"`{parent.nesting_key}`; name that column"
                )
                raise ValueError(msg)
            if parent.connection != current.connection:
                msg = (
                    f"table `{current.table}` nests into `{parent.table}` on target `{current.connection}` but "
                    f"`{parent.table}` is written to `{parent.connection}`; use one target"
                )
                raise ValueError(msg)
            current = parent

    def _descendants(self, table: str) -> dict[str, list[dict[str, str]]]:
        kids: dict[str, list[dict[str, str]]] = {}
        todo = [table]
        while todo:
            parent = todo.pop()
            children = self.children.get(parent, [])
            if children:
                kids[parent] = [{"t": child.table, "p": child.member} for child in children]
                todo.extend(child.table for child in children)
        return kids

    def _spec(self, table: str, *, refresh: bool = False) -> str:
        node = self.nodes[table]
        chain = [node]
        while not refresh and chain[-1].parent in self.nodes:
            chain.append(self.nodes[chain[-1].parent])
        top = chain[-1]
        spec = {
            "chain": [{"t": n.table, "p": n.member} for n in chain],
            "root": f"{top.parent}:{top.parent_key}:",
            "kids": self._descendants(table),  # only what building this table's entries reads: the script decodes it
            "ttl": node.expire,
        }
        return orjson.dumps(spec).decode()


def _node(table: str, spec: NestSpec, settings: RedisWriteSettings) -> NestNode:
    match = _MEMBER.match(spec.path)
    if match is None:
        msg = f"table `{table}`: `nest.path` must be one member below `$` such as `$.lines`, got '{spec.path}'"
        raise ValueError(msg)
    if not isinstance(settings.expire, int | None):
        raise ValueError(f"table `{table}`: `expire` of a `nest` output must be a number of seconds")
    return NestNode(
        table=table,
        parent=spec.parent.table,
        member=match.group(1),
        parent_key=spec.parent_key,
        child_key=spec.child_key or spec.parent_key,
        nesting_key=spec.nesting_key,
        connection=settings.connection,
        expire=settings.expire or 0,
    )


def _id(value: Any, node: NestNode) -> str:
    text = render_value(value)
    if "\\" in text or ('"' in text and "'" in text):
        msg = f"`{node.nesting_key}` value {shown(value)} cannot be a JSONPath member (a backslash or both quotes)"
        raise BadRecordError(msg)
    return text


def _delete_image(record: Record) -> Row:
    if record.row_format == "full":
        before = record.data.get("before")
        return before if isinstance(before, dict) else record.key
    return record.data


class NestPlanner:
    """The commands of one ``nest`` output: keep the row and patch its entry (one ``EVAL`` per record)."""

    def __init__(self, table: str, settings: RedisWriteSettings, tree: NestTree) -> None:
        self.node = tree.nodes[table]
        self._spec = tree.spec_of(table)
        self._mapping = compile_mapping(settings.mapping, nested=True) if settings.mapping is not None else None

    def plan(self, record: Record, previous: Record | None = None) -> list[Command]:
        """``[EVAL NEST_SCRIPT …]``; raises :class:`BadRecordError` when the record lacks its ids."""
        node = self.node
        op = record.opcode
        if op == "t":
            return []
        if op == "d":
            image = _delete_image(record)
            if node.nesting_key not in image:
                raise BadRecordError(f"`nest.nesting_key` `{node.nesting_key}` is missing from the delete's image")
            return [Command("EVAL", NEST_SCRIPT, "0", "d", self._spec, _id(image[node.nesting_key], node))]
        if op not in _WRITES:
            raise BadRecordError(f"unknown opcode `{op}`; expected c, r, u, d or t")
        values = record.values
        for role, name in (("nesting_key", node.nesting_key), ("child_key", node.child_key)):
            if name not in values:
                raise BadRecordError(f"field `{name}` named by `nest.{role}` is missing from the record")
        row_id = _id(values[node.nesting_key], node)
        parent = values[node.child_key]
        out: list[Command] = []
        if previous is not None:
            old = previous.values.get(node.nesting_key)
            if old is not None and _id(old, node) != row_id:  # the row's own id changed: it is another row now
                out.append(Command("EVAL", NEST_SCRIPT, "0", "d", self._spec, _id(old, node)))
        entry = dumps(values if self._mapping is None else mapped_document(values, self._mapping))
        parent_id = "" if parent is None else _id(parent, node)
        out.append(Command("EVAL", NEST_SCRIPT, "0", "u", self._spec, row_id, parent_id, entry))
        return out
