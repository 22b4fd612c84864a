"""Redis output planning: a record + its `redis.write` settings → the exact Redis commands (spec §2.6, §3).

Planning never does I/O: it returns :class:`Command` values whose arguments are already the strings (or bytes)
sent on the wire, and an operator applies them (pipelined). Planning is deterministic: replaying a record
yields the same commands, and every command except a stream's ``XADD`` is idempotent under replay.

Per data type (``data_type`` or else ``processors.target_data_type``), for opcodes ``r``/``c``/``u`` (writes),
``d`` (delete) and ``t`` (truncate: no commands; a truncate has no row to address):

=============  ==============================================  ==========================================
data type      write                                           delete
=============  ==============================================  ==========================================
hash           ``HSET key f v …`` + ``HDEL key f …`` (nulls)   ``DEL key``
json           ``JSON.SET key $ doc`` (replace) /              ``DEL key``
               ``JSON.MERGE key $ doc`` (merge) /
               ``EVAL <JSON_MERGE_SCRIPT> 1 key doc …``
set            ``SADD key member``                             ``SREM key member``
sorted_set     ``ZADD key score member``                       ``ZREM key member``
stream         ``XADD key * f v … op_code <op>``               ``XADD key * <before image> op_code d``
string         ``SET key value``                               ``DEL key``
=============  ==============================================  ==========================================

Rules where the spec is silent, decided here:

* hash: an update is written field by field, never as ``DEL`` + ``HSET``: the decoder drops TOAST-unchanged
  columns, and a ``DEL`` would lose them. A null field is removed with ``HDEL`` on every write, so setting a
  column to NULL does not leave its old value behind. ``on_update`` is ignored for hashes.
* json ``merge`` is used for every write (insert and snapshot too), so several jobs can build one document.
  Native ``JSON.MERGE`` on a missing key creates the document and keeps its nulls; on an existing document a
  null removes the field (RedisJSON 2.8). The Lua fallback (:data:`JSON_MERGE_SCRIPT`) merges objects
  recursively, replaces arrays and scalars, and keeps nulls as JSON null.
* values (hash fields, stream fields, set members, string values): strings as they are, booleans
  ``'1'``/``'0'``, integers as digits, floats as Python's shortest round-trip ``repr`` (``1.5``, ``2.0``,
  ``1529507596945.104``), objects and arrays as compact JSON. Scores: numbers, or strings that parse as one.
* a null member (set), member or score (sorted set) means the record has no entry: nothing is added (the
  old entry of ``previous`` is still removed). A null string value deletes the key, like a null hash field.
* a field named by ``args`` that is absent from the record: on an update it is unchanged (TOAST), so nothing
  is written; on an insert or snapshot read, and for a delete's member, it is a ``BadRecordError``.
* ``expire`` follows every write, the stream's delete message included; never a ``DEL``/``SREM``/``ZREM``.
* ``previous`` (the record built from the before image): when an update moves the record to another key,
  the old key is deleted first (hash, json, string) or the old member removed from the old key (set, sorted
  set; also when only the member changed). A stream is a log: its old messages are never removed.
* a stream record field named ``op_code`` is replaced by the automatic one.
* ``nest`` outputs are planned by ``rdi.writers.nest``; passing one here is a ``ValueError``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from rdi.config.job import DataType, ExpressionSpec, RedisWriteSettings
from rdi.errors import BadRecordError
from rdi.events.event import Record, Row
from rdi.events.key import default_key
from rdi.expressions import Expression
from rdi.writers._json_merge import JSON_MERGE_SCRIPT, JSON_MERGE_SCRIPT_SHA1, merge_pairs
from rdi.writers._mapping import compile_mapping, mapped_document
from rdi.writers._values import Arg, as_text, dumps, shown

__all__ = [
    "JSON_MERGE_SCRIPT",
    "JSON_MERGE_SCRIPT_SHA1",
    "Arg",
    "BatchPlan",
    "Command",
    "RedisCommandPlanner",
    "WriteDefaults",
    "plan_batch",
    "plan_write",
]


class Command(tuple[Arg, ...]):
    """One Redis command as sent, e.g. ``Command("HSET", "k", "f", "v")``; immutable, compares as a tuple."""

    __slots__ = ()

    def __new__(cls, *args: Arg) -> Command:
        return tuple.__new__(cls, args)

    @property
    def name(self) -> Arg:
        """The command name, e.g. ``"HSET"``."""
        return self[0]

    def __repr__(self) -> str:
        return f"Command({', '.join(map(repr, self))})"


# the hot path builds a Command from a list, skipping Command.__new__
_new_command: Final = tuple.__new__


@dataclass(frozen=True, slots=True)
class WriteDefaults:
    """The `processors` settings that shape Redis writes when a job does not say (spec §1.6)."""

    target_data_type: Literal["hash", "json"] = "hash"
    json_update_strategy: Literal["replace", "merge"] = "replace"
    use_native_json_merge: bool = True


@dataclass(frozen=True, slots=True)
class BatchPlan:
    """Commands for a batch's good records, in record order, and the records that could not be planned."""

    commands: list[Command] = field(default_factory=list)
    rejected: list[tuple[Record, BadRecordError]] = field(default_factory=list)


_WRITES: Final = frozenset({"c", "r", "u"})
_int_text: Final = int.__repr__
_float_text: Final = float.__repr__
_MISSING: Final[Any] = object()


class RedisCommandPlanner:
    """The commands of one `redis.write` output, compiled once from its settings and applied to many records.

    Raises ``ValueError`` at construction for a ``nest`` output (planned by ``rdi.writers.nest``) and for
    mapping aliases that collide (``a`` and ``a.b`` in a JSON mapping, or the same alias twice).
    """

    __slots__ = (
        "_args_member",
        "_args_score",
        "_args_value",
        "_expire_expr",
        "_expire_static",
        "_flat_mapping",
        "_key_expr",
        "_merge",
        "_native_merge",
        "_nested_mapping",
        "_remove_previous",
        "_write",
        "data_type",
    )

    def __init__(self, settings: RedisWriteSettings, defaults: WriteDefaults) -> None:
        if settings.nest is not None:
            raise ValueError("nest outputs are planned by rdi.writers.nest")
        self.data_type: DataType = settings.data_type or defaults.target_data_type
        self._merge = (settings.on_update or defaults.json_update_strategy) == "merge"
        self._native_merge = defaults.use_native_json_merge
        self._key_expr: Expression | None = settings.key.compiled if settings.key is not None else None
        self._expire_static = 0
        self._expire_expr: Expression | None = None
        if isinstance(settings.expire, ExpressionSpec):
            self._expire_expr = settings.expire.compiled
        elif settings.expire:
            self._expire_static = settings.expire
        args = settings.args
        self._args_member = args.member if args is not None else None
        self._args_score = args.score if args is not None else None
        self._args_value = args.value if args is not None else None
        mapping = settings.mapping
        self._flat_mapping: list[tuple[str, str]] | None = None
        self._nested_mapping: list[tuple[str, tuple[str, ...]]] | None = None
        if mapping is not None and self.data_type == "json":
            self._nested_mapping = compile_mapping(mapping, nested=True)
        elif mapping is not None and self.data_type in ("hash", "stream"):
            self._flat_mapping = [(src, path[0]) for src, path in compile_mapping(mapping, nested=False)]
        writers: dict[DataType, Callable[[Record, Row, str, list[Command]], bool]] = {
            "hash": self._write_hash,
            "json": self._write_json,
            "set": self._write_set,
            "sorted_set": self._write_sorted_set,
            "stream": self._write_stream,
            "string": self._write_string,
        }
        self._write = writers[self.data_type]
        removers: dict[DataType, Callable[[Record, Record, str, list[Command]], None]] = {
            "hash": self._remove_old_key,
            "json": self._remove_old_key,
            "set": self._remove_old_member,
            "sorted_set": self._remove_old_member,
            "stream": self._keep_log,
            "string": self._remove_old_key,
        }
        self._remove_previous = removers[self.data_type]

    # ---- public ------------------------------------------------------------------------------------

    def plan(self, record: Record, previous: Record | None = None) -> list[Command]:
        """The commands that apply ``record``, in order; ``previous`` is the record of the before image.

        Raises :class:`BadRecordError` when this record's data cannot be written (null key, bad TTL, missing
        member, a value JSON cannot encode, an unknown opcode).
        """
        return self._plan(record, previous, _MISSING)

    def plan_batch(self, records: Iterable[Record], previous: Sequence[Record | None] | None = None) -> BatchPlan:
        """Plan every record in order; a record that raises :class:`BadRecordError` goes to ``rejected``.

        ``previous``, when given, is aligned with ``records`` (``None`` where there is no before image).
        A key expression is evaluated once over the batch (``Expression.evaluate_batch``, which an engine
        may vectorise); if that fails, per record, so that only the bad records are rejected.
        """
        records = list(records)
        if previous is None:
            previous = [None] * len(records)
        elif len(previous) != len(records):
            msg = f"`previous` must align with `records`: got {len(previous)} for {len(records)} records"
            raise ValueError(msg)
        raw_keys: Sequence[Any] = [_MISSING] * len(records)
        if self._key_expr is not None and records:
            # when some record makes the expression fail, each record's own plan finds which one
            with contextlib.suppress(BadRecordError):
                raw_keys = self._key_expr.evaluate_batch([record.data for record in records])
        commands: list[Command] = []
        rejected: list[tuple[Record, BadRecordError]] = []
        plan = self._plan
        extend = commands.extend
        for record, prev, raw_key in zip(records, previous, raw_keys, strict=True):
            try:
                extend(plan(record, prev, raw_key))
            except BadRecordError as exc:
                rejected.append((record, exc))
        return BatchPlan(commands, rejected)

    def key_of(self, record: Record) -> str:
        """The record's Redis key: the `key` expression on ``record.data``, else the key a legacy `key`
        transform set (``record.redis_key``), else the default key (§2.9)."""
        expr = self._key_expr
        if expr is None:
            return record.redis_key or default_key(record.table, record.key)
        return _key_text(expr.evaluate(record.data), expr.text)

    def _plan(self, record: Record, previous: Record | None, raw_key: Any) -> list[Command]:
        op = record.opcode
        out: list[Command] = []
        if op in _WRITES:
            key = self._key(record, raw_key)
            if previous is not None:
                self._remove_previous(record, previous, key, out)
            if self._write(record, record.values, key, out):
                self._expire(record, key, out)
        elif op == "d":
            key = self._key(record, raw_key)
            if self.data_type == "stream":
                if self._write(record, _delete_image(record), key, out):
                    self._expire(record, key, out)
            elif self.data_type in ("set", "sorted_set"):
                member = self._member_of(_delete_image(record), record, deleting=True)
                if member is not None:
                    out.append(Command("SREM" if self.data_type == "set" else "ZREM", key, member))
            else:
                out.append(Command("DEL", key))
        elif op != "t":
            raise BadRecordError(f"unknown opcode `{op}`; expected c, r, u, d or t")
        return out

    def _key(self, record: Record, raw_key: Any) -> str:
        if raw_key is _MISSING or self._key_expr is None:
            return self.key_of(record)
        return _key_text(raw_key, self._key_expr.text)

    # ---- per data type -----------------------------------------------------------------------------

    def _fields(self, values: Row) -> Iterable[tuple[str, Any]]:
        mapping = self._flat_mapping
        if mapping is None:
            return values.items()
        return [(alias, values[src]) for src, alias in mapping if src in values]

    def _write_hash(self, record: Record, values: Row, key: str, out: list[Command]) -> bool:
        hset: list[Arg] = ["HSET", key]
        append = hset.append
        nulls: list[Arg] | None = None
        # the common value types are rendered inline: this loop is the per-field cost of the hot path
        for name, value in values.items() if self._flat_mapping is None else self._fields(values):
            t = type(value)
            if t is str:
                append(name)
                append(value)
            elif t is int:
                append(name)
                append(_int_text(value))
            elif t is float:
                append(name)
                append(_float_text(value))
            elif value is None:
                if nulls is None:
                    nulls = ["HDEL", key]
                nulls.append(name)
            else:
                append(name)
                append(as_text(value))
        if nulls is not None:
            out.append(_new_command(Command, nulls))
        if len(hset) == 2:
            return False
        out.append(_new_command(Command, hset))
        return True

    def _write_stream(self, record: Record, values: Row, key: str, out: list[Command]) -> bool:
        xadd: list[Arg] = ["XADD", key, "*"]
        for name, value in self._fields(values):
            if value is not None and name != "op_code":
                xadd.append(name)
                xadd.append(as_text(value))
        xadd.append("op_code")
        xadd.append(record.opcode)
        out.append(_new_command(Command, xadd))
        return True

    def _write_json(self, record: Record, values: Row, key: str, out: list[Command]) -> bool:
        doc = values if self._nested_mapping is None else mapped_document(values, self._nested_mapping)
        text = dumps(doc)
        if not self._merge:
            out.append(Command("JSON.SET", key, "$", text))
        elif self._native_merge:
            out.append(Command("JSON.MERGE", key, "$", text))
        else:
            argv: list[Arg] = ["EVAL", JSON_MERGE_SCRIPT, "1", key, text]
            merge_pairs(doc, "$", argv)
            out.append(_new_command(Command, argv))
        return True

    def _write_set(self, record: Record, values: Row, key: str, out: list[Command]) -> bool:
        member = self._member_of(values, record, deleting=False)
        if member is None:
            return False
        out.append(Command("SADD", key, member))
        return True

    def _write_sorted_set(self, record: Record, values: Row, key: str, out: list[Command]) -> bool:
        member = self._member_of(values, record, deleting=False)
        if member is None:
            return False
        score = self._score_of(values, record)
        if score is None:
            out.append(Command("ZREM", key, member))
            return False
        out.append(Command("ZADD", key, score, member))
        return True

    def _write_string(self, record: Record, values: Row, key: str, out: list[Command]) -> bool:
        name = self._args_value or ""
        value = _arg_field(values, name, "value", record, deleting=False)
        if value is _MISSING:
            return False
        if value is None:
            out.append(Command("DEL", key))
            return False
        out.append(Command("SET", key, as_text(value)))
        return True

    def _member_of(self, values: Row, record: Record, *, deleting: bool) -> Arg | None:
        value = _arg_field(values, self._args_member or "", "member", record, deleting=deleting)
        if value is _MISSING or value is None:
            return None
        return as_text(value)

    def _score_of(self, values: Row, record: Record) -> Arg | None:
        name = self._args_score or ""
        value = _arg_field(values, name, "score", record, deleting=False)
        if value is _MISSING or value is None:
            return None
        t = type(value)
        if t is int:
            return int.__repr__(value)
        if t is float and not math.isnan(value):
            return float.__repr__(value)
        if t is str:
            try:
                number = float(value)
            except ValueError:
                number = math.nan
            if not math.isnan(number):
                return value  # type: ignore[no-any-return]
        raise BadRecordError(f"field `{name}` named by `args.score` is {shown(value)}; expected a number")

    # ---- previous image ----------------------------------------------------------------------------

    def _remove_old_key(self, record: Record, previous: Record, key: str, out: list[Command]) -> None:
        old_key = self.key_of(previous)
        if old_key != key:
            out.append(Command("DEL", old_key))

    def _remove_old_member(self, record: Record, previous: Record, key: str, out: list[Command]) -> None:
        old = _arg_field(previous.values, self._args_member or "", "member", previous, deleting=True, strict=False)
        if old is _MISSING or old is None:
            return
        old_member = as_text(old)
        old_key = self.key_of(previous)
        new = record.values.get(self._args_member or "", _MISSING)
        if old_key != key or new is _MISSING or new is None or as_text(new) != old_member:
            out.append(Command("SREM" if self.data_type == "set" else "ZREM", old_key, old_member))

    def _keep_log(self, record: Record, previous: Record, key: str, out: list[Command]) -> None:
        return None

    # ---- expire ------------------------------------------------------------------------------------

    def _expire(self, record: Record, key: str, out: list[Command]) -> None:
        seconds = self._expire_static
        expr = self._expire_expr
        if expr is not None:
            seconds = _seconds(expr.evaluate(record.data), expr.text)
        if seconds:
            out.append(Command("EXPIRE", key, int.__repr__(seconds)))


def _key_text(value: Any, expression: str) -> str:
    if type(value) is str and value:
        return value
    if value is None:
        raise BadRecordError(f"key expression `{expression}` gave null")
    if value == "":
        raise BadRecordError(f"key expression `{expression}` gave an empty string")
    if isinstance(value, (dict, list)):
        msg = f"key expression `{expression}` gave {shown(value)}; expected a string or a number"
        raise BadRecordError(msg)
    return str(as_text(value)) if not isinstance(value, bytes) else value.decode()


def _arg_field(values: Row, name: str, role: str, record: Record, *, deleting: bool, strict: bool = True) -> Any:
    """The value of the field ``args.<role>`` names; ``_MISSING`` when absent from an update (TOAST)."""
    value = values.get(name, _MISSING)
    if value is _MISSING and strict and (deleting or record.opcode != "u"):
        image = "the delete's before image" if deleting else "the record"
        raise BadRecordError(f"field `{name}` named by `args.{role}` is missing from {image}")
    return value


def _delete_image(record: Record) -> Row:
    """What a delete carries: the before image (key columns when the source sends no before image)."""
    if record.row_format == "full":
        before = record.data.get("before")
        return before if isinstance(before, dict) else record.key
    return record.data


def _seconds(value: Any, text: str) -> int:
    if type(value) is int and value >= 0:
        return value
    if type(value) is float and value >= 0 and value.is_integer():
        return int(value)
    if type(value) is str and value.isascii() and value.isdigit():
        return int(value)
    msg = f"`expire` expression `{text}` gave {shown(value)}; expected a non-negative whole number of seconds"
    raise BadRecordError(msg)


def plan_write(
    record: Record,
    settings: RedisWriteSettings,
    *,
    defaults: WriteDefaults,
    previous: Record | None = None,
) -> list[Command]:
    """The commands that apply one record to Redis, in order (the module docstring has the per-type table).

    ``previous`` is the record built from the before image with the same transforms; given on an update, it
    lets the plan remove the record's old key or member when the update moved it. Compiles ``settings`` on
    every call: for many records use :class:`RedisCommandPlanner` or :func:`plan_batch`.
    Raises ``ValueError`` for a ``nest`` output, :class:`BadRecordError` for a record that cannot be written.
    """
    return RedisCommandPlanner(settings, defaults).plan(record, previous)


def plan_batch(
    records: Iterable[Record],
    settings: RedisWriteSettings,
    defaults: WriteDefaults,
    *,
    previous: Sequence[Record | None] | None = None,
) -> BatchPlan:
    """The commands of a whole batch, records in order; records that cannot be written are returned as
    ``rejected`` with their :class:`BadRecordError` (for the DLQ) and contribute no command.
    """
    return RedisCommandPlanner(settings, defaults).plan_batch(records, previous)
