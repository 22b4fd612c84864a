"""`relational.write` planning: a record + its settings → the row changes (:class:`SqlWrite`) of one SQL table
(rdi-compat-spec §4.4).

Planning is pure and deterministic (no SQLAlchemy, no connection): :class:`RelationalPlanner` returns data, and
:func:`compile_writes` (which imports SQLAlchemy on first use) turns a batch of them into grouped SQL text for one
dialect; ``rdi.sql_target`` executes that in one transaction.

What RDI documents, and we follow: ``keys``/``mapping`` items are a column name (the value of the record field of
that name) or a one-entry map ``<column>: <JMESPath expression>`` evaluated on the record (RDI's ``foreach``
example: ``Code: order.code``); ``foreach: "<alias>: <JMESPath>"`` explodes an array into one row per element,
the element being ``<alias>`` for the expressions; ``opcode_field`` names the payload field that holds ``c``/``u``/
``d``; ``load_strategy`` is ``APPEND`` (default), ``REPLACE``, ``UPSERT`` or ``TYPE2``, the last one closing the
active row (``active_record_indicator``, a SQL condition) by setting ``inactive_record_mapping`` columns
(``{source: <SQL expression>, target: <column>}``).

Where RDI is silent, decided here:

* The operation is the record's opcode (``r`` counts as ``c``), unless ``opcode_field`` names a field present in
  the record: its value (``c``, ``u``, ``d``, ``r``, any case) wins. That field is not written as a column unless
  ``mapping`` lists it.
* Per load strategy (ops of :class:`SqlWrite` in brackets):

  ==========  ==========================================  ===========================  ===========================
  strategy    ``c``                                       ``u``                        ``d``
  ==========  ==========================================  ===========================  ===========================
  APPEND      ``INSERT`` [insert]                         ``UPDATE … WHERE keys``      ``DELETE … WHERE keys``
                                                          [update]; no ``keys``:       [delete]; no ``keys``:
                                                          ``INSERT``                   nothing (an append-only log)
  UPSERT      insert, or update the non-key columns of the row with the same keys      ``DELETE`` [delete]
              (``ON CONFLICT`` / ``ON DUPLICATE KEY`` / ``MERGE``: needs a unique
              constraint on the key columns) [upsert]
  REPLACE     ``DELETE … WHERE keys`` + ``INSERT``: columns not written get their      ``DELETE`` [delete]
              defaults; no unique constraint needed [replace]
  TYPE2       close the active row (``UPDATE … SET <inactive_record_mapping> WHERE     close the active row
              keys AND (<active_record_indicator>)``) + ``INSERT`` the new version     [close]
              [type2]
  ==========  ==========================================  ===========================  ===========================

  UPSERT, REPLACE and TYPE2 need ``keys`` (a ``ValueError`` at construction), TYPE2 also
  ``inactive_record_mapping``.
* Idempotent under replay (a batch applied twice after a crash gives the same table): UPSERT, REPLACE, and the
  deletes of every strategy. APPEND inserts are not (a log table gets the rows twice; a unique key rejects the
  copies), nor TYPE2 (a replay adds one more version, closing the previous one).
* Rows that left: on an update with ``previous`` (the record of the before image), the rows of ``previous`` whose
  key values are not those of a row of the record are deleted (TYPE2: closed) first — an element removed from a
  ``foreach`` array, a set member removed (SREM), a key column whose value changed. Rows of ``previous`` that lack
  a key value are ignored (the old image may be partial). A delete (``d``) deletes the rows of the record, built
  from its before image (``partial`` format gives it as the record; ``full`` from ``before``).
* Values: a field absent from the record is ``NULL``; a null or absent key value is a :class:`BadRecordError`.
  Strings are sent as strings (hash fields are strings): the database casts them to the column's type
  (PostgreSQL receives them untyped from psycopg 3; MariaDB/MySQL convert and, in strict mode, refuse what does
  not fit; SQLite applies the column's affinity, and a ``STRICT`` table refuses what does not convert). Objects and
  arrays are written as compact JSON text; numbers and booleans as they are.
* No ``keys`` and no ``mapping``: every field of the record is a column (objects/arrays as JSON text).
* Expressions see the record as transforms do (``partial``: the row; ``full``: ``key``, ``before``, ``after``,
  ``opcode``… and, for convenience, the fields of the row image at the top level, the envelope winning on a
  name clash); with ``foreach``, plus ``<alias>`` bound to the element. A plain item reads the row's field.
* ``schema`` blank or absent: the connection's default schema. ``active_record_indicator`` and the ``source`` of
  ``inactive_record_mapping`` are SQL written by the job's author and put in the statement as written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias

from rdi.config.job import MappingItem, RelationalWriteSettings
from rdi.errors import BadRecordError
from rdi.events.event import Record, Row
from rdi.expressions import Expression, ExpressionError, compile_expression
from rdi.writers._values import dumps

__all__ = ["RelationalPlanner", "SqlOp", "SqlWrite", "compile_writes", "sql_value"]

SqlOp: TypeAlias = Literal["insert", "update", "upsert", "replace", "delete", "type2", "close"]
"""What a :class:`SqlWrite` does to the row its ``keys`` address:

* ``insert``: ``INSERT`` ``keys`` + ``values`` (APPEND);
* ``update``: ``UPDATE … SET values WHERE keys`` (APPEND with an update);
* ``upsert``: insert ``keys`` + ``values``, or update ``values`` of the existing row with these ``keys``;
* ``replace``: delete the rows with these ``keys``, then insert ``keys`` + ``values``;
* ``delete``: ``DELETE … WHERE keys``;
* ``type2``: close the active rows with these ``keys`` (``close``, ``active``), then insert ``keys`` + ``values``;
* ``close``: close the active rows with these ``keys`` only (TYPE2 delete).
"""


@dataclass(frozen=True, slots=True)
class SqlWrite:
    """One row change on one table of one SQL target."""

    schema: str | None
    table: str
    op: SqlOp
    keys: dict[str, Any]
    """Key column → value (the ``WHERE`` of update/delete/close, the conflict target of an upsert)."""
    values: dict[str, Any]
    """Other columns → value (empty for ``delete`` and ``close``)."""
    close: tuple[tuple[str, str], ...] = ()
    """TYPE2: ``(column, SQL expression)`` pairs set on the active row to close it."""
    active: str | None = None
    """TYPE2: the SQL condition that tells an active row (``active_record_indicator``); None: every row."""


def compile_writes(writes: Sequence[SqlWrite], dialect: str) -> list[tuple[str, list[Any]]]:
    """The statements that apply ``writes`` in ``dialect``, in order: ``[(SQL text, executemany parameters)]``.

    ``dialect`` is a connection type (``postgresql``, ``mysql``, ``mariadb``, ``sqlite``, ``sqlserver``/``mssql``,
    ``oracle``). The text uses the paramstyle of the driver rdi connects with (psycopg and PyMySQL:
    ``%(k0)s``; sqlite3 and oracledb: ``:k0``; pyodbc: ``?``, with tuples as parameters). Consecutive writes of
    the same shape (op, table, columns) share a statement; the effect is that of applying the writes one by one,
    in order. Imports SQLAlchemy (this module alone does not).
    """
    from rdi.writers._sql_compile import compile_statements

    return [(s.sql, s.params) for s in compile_statements(list(enumerate(writes)), dialect)]


def sql_value(value: Any) -> Any:
    """A record value as sent to the database: objects and arrays as JSON text, anything else as it is."""
    if isinstance(value, dict | list):
        return dumps(value)
    return value


_Getter: TypeAlias = Callable[[Row, Row], Any]  # (row fields, expression context) -> value
_OPS: Final = {"c": "c", "r": "c", "u": "u", "d": "d"}


@dataclass(frozen=True, slots=True)
class _Item:
    column: str
    source: str  # field name or expression text, for messages
    get: _Getter


def _field_getter(name: str) -> _Getter:
    def get(fields: Row, context: Row) -> Any:
        return fields[name] if name in fields else context.get(name)

    return get


def _expression_getter(expr: Expression) -> _Getter:
    def get(fields: Row, context: Row) -> Any:
        return expr.evaluate(context)

    return get


def _compile(text: str, what: str) -> Expression:
    try:
        return compile_expression(text, "jmespath")
    except ExpressionError as exc:
        raise ValueError(f"{what}: {exc}") from None


def _items(items: Sequence[MappingItem], what: str) -> list[_Item]:
    out: list[_Item] = []
    for item in items:
        if isinstance(item, str):
            out.append(_Item(item, f"field `{item}`", _field_getter(item)))
        else:
            column, text = next(iter(item.items()))
            expr = _compile(str(text), f"{what} `{column}`")
            out.append(_Item(column, f"expression `{text}`", _expression_getter(expr)))
    return out


class RelationalPlanner:
    """The row changes of one `relational.write` output, compiled once from its settings.

    Raises ``ValueError`` at construction for an expression that does not compile, a strategy without the
    settings it needs (UPSERT/REPLACE/TYPE2 without ``keys``, TYPE2 without ``inactive_record_mapping``) and a
    column written twice.
    """

    __slots__ = (
        "_active",
        "_close",
        "_foreach",
        "_keys",
        "_mapping",
        "_opcode_field",
        "_schema",
        "_strategy",
        "_table",
    )

    def __init__(self, settings: RelationalWriteSettings) -> None:
        self._schema = settings.schema_ or None
        self._table = settings.table
        self._strategy = settings.load_strategy
        self._opcode_field = settings.opcode_field
        self._keys = _items(settings.keys, "key")
        key_columns = {item.column for item in self._keys}
        if len(key_columns) != len(self._keys):
            raise ValueError(f"`keys` of table `{self._table}` name a column twice")
        # key columns are implied in `mapping`: listing one there again is allowed and writes it once
        self._mapping = [item for item in _items(settings.mapping, "mapping") if item.column not in key_columns]
        if len({item.column for item in self._mapping}) != len(self._mapping):
            raise ValueError(f"`mapping` of table `{self._table}` names a column twice")
        self._foreach: tuple[str, Expression] | None = None
        if settings.foreach is not None:
            alias, _, path = settings.foreach.partition(":")
            self._foreach = (alias.strip(), _compile(path.strip(), "`foreach`"))
        if self._strategy != "APPEND" and not self._keys:
            raise ValueError(f"`load_strategy: {self._strategy}` needs `keys` (the columns that identify a row)")
        self._close = tuple((m.target, m.source) for m in settings.inactive_record_mapping)
        if self._strategy == "TYPE2" and not self._close:
            raise ValueError("`load_strategy: TYPE2` needs `inactive_record_mapping` (how to close the active row)")
        self._active = settings.active_record_indicator

    def plan(self, record: Record, previous: Record | None = None) -> list[SqlWrite]:
        """The row changes that apply ``record``, in order; ``previous`` is the record of the before image.

        Raises :class:`BadRecordError` when the record cannot be written (a key without value, a ``foreach``
        that is not an array, an expression failing on this record, an unknown opcode).
        """
        op = self._op(record)
        if op is None:
            return []
        rows = self._rows(record, deleting=op == "d", strict=True)
        out: list[SqlWrite] = []
        if op == "d":
            for keys, _ in rows:
                self._remove(keys, out)
            return out
        if previous is not None and self._keys:
            current = {tuple(keys.values()) for keys, _ in rows}
            seen: set[tuple[Any, ...]] = set()
            for keys, _ in self._rows(previous, deleting=False, strict=False):
                key = tuple(keys.values())
                if key not in current and key not in seen:
                    seen.add(key)
                    self._remove(keys, out)
        for keys, values in rows:
            self._write(op, keys, values, out)
        return out

    # ---- private -----------------------------------------------------------------------------------

    def _op(self, record: Record) -> str | None:
        raw: Any = None
        if self._opcode_field is not None:
            raw = record.values.get(self._opcode_field)
            if raw is None and record.row_format == "partial":
                raw = record.data.get(self._opcode_field)
        if raw is None:
            raw = record.opcode
            if raw == "t":  # a truncate has no row to address
                return None
        op = _OPS.get(str(raw).lower())
        if op is None:
            where = f"`opcode_field` `{self._opcode_field}`" if self._opcode_field else "the opcode"
            raise BadRecordError(f"{where} holds {raw!r}; expected one of c, u, d")
        return op

    def _write(self, op: str, keys: Row, values: Row, out: list[SqlWrite]) -> None:
        strategy = self._strategy
        if strategy == "UPSERT":
            out.append(SqlWrite(self._schema, self._table, "upsert", keys, values))
        elif strategy == "REPLACE":
            out.append(SqlWrite(self._schema, self._table, "replace", keys, values))
        elif strategy == "TYPE2":
            out.append(SqlWrite(self._schema, self._table, "type2", keys, values, self._close, self._active))
        elif op == "u" and keys:
            if values:
                out.append(SqlWrite(self._schema, self._table, "update", keys, values))
        else:
            out.append(SqlWrite(self._schema, self._table, "insert", keys, values))

    def _remove(self, keys: Row, out: list[SqlWrite]) -> None:
        if not keys:
            return  # APPEND without keys: an append-only log keeps its rows
        if self._strategy == "TYPE2":
            out.append(SqlWrite(self._schema, self._table, "close", keys, {}, self._close, self._active))
        else:
            out.append(SqlWrite(self._schema, self._table, "delete", keys, {}))

    def _rows(self, record: Record, *, deleting: bool, strict: bool) -> list[tuple[Row, Row]]:
        if record.row_format == "full":
            image = record.data.get("before") if deleting else record.data.get("after")
            fields: Row = image if isinstance(image, dict) else {}
            context: Row = {**fields, **record.data}
        else:
            fields = context = record.data
        if self._foreach is None:
            row = self._row(fields, context, strict)
            return [] if row is None else [row]
        alias, expr = self._foreach
        elements = expr.evaluate(context)
        if elements is None:
            return []
        if not isinstance(elements, list):
            if not strict:
                return []
            got = type(elements).__name__
            raise BadRecordError(f"`foreach` `{alias}: {expr.text}` gave a {got}, expected an array")
        rows: list[tuple[Row, Row]] = []
        for element in elements:
            row = self._row(fields, {**context, alias: element}, strict)
            if row is not None:
                rows.append(row)
        return rows

    def _row(self, fields: Row, context: Row, strict: bool) -> tuple[Row, Row] | None:
        keys: Row = {}
        for item in self._keys:
            try:
                value = item.get(fields, context)
            except BadRecordError:
                if strict:
                    raise
                return None
            if value is None:
                if not strict:
                    return None
                raise BadRecordError(
                    f"key column `{item.column}` of table `{self._table}` has no value ({item.source} is missing "
                    "or null)"
                )
            keys[item.column] = sql_value(value)
        if self._mapping or self._keys:
            values = {item.column: sql_value(item.get(fields, context)) for item in self._mapping}
        else:
            skip = self._opcode_field
            values = {name: sql_value(v) for name, v in fields.items() if name != skip}
        return keys, values
