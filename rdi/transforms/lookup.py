"""`redis.lookup`: read from a Redis target and store the reply in a field (spec §2.5).

The step does no I/O itself. It works in two halves around the caller's round trip, so a job runner can send
the commands of a whole batch in one pipeline:

1. :meth:`LookupStep.command` (or :meth:`~LookupStep.command_batch`) evaluates the argument expressions and
   gives the command as strings, e.g. ``("HGETALL", "customer:7")``, to run against ``connection``;
2. :meth:`LookupStep.complete` (or :meth:`~LookupStep.complete_batch`) decodes the reply and returns the
   record with it at ``field`` (a dot path, like `add_field`).

Replies are decoded into JSON-like values: bytes become text (UTF-8), an `HGETALL` reply becomes an object
(from a dict or a flat `[field, value, …]` list), a `JSON.GET` reply is parsed JSON text, a set becomes a
sorted array, tuples become arrays; anything else is stored as given (`None` for a missing key).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from rdi.config.job import LookupBatch, LookupBlock
from rdi.errors import BadRecordError
from rdi.events.event import Record
from rdi.transforms._path import parse_path, set_path
from rdi.transforms._step import describe_type, evaluate, evaluate_batch, step_error, with_data

__all__ = ["LookupStep", "decode_reply"]

Command = tuple[str, ...]


def decode_reply(cmd: str, reply: Any) -> Any:
    """The JSON-like value of a `reply` to `cmd`; raises `ValueError` on a `JSON.GET` reply not JSON."""
    if cmd == "JSON.GET" and isinstance(reply, bytes | str):
        try:
            return orjson.loads(reply)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"`JSON.GET` replied with invalid JSON: {exc}") from None
    value = _plain(reply)
    if cmd == "HGETALL":
        if isinstance(value, list):
            return dict(zip(value[::2], value[1::2], strict=True))
        return {} if value is None else value
    return value


def _plain(reply: Any) -> Any:
    if isinstance(reply, bytes):
        return reply.decode("utf-8", errors="replace")
    if isinstance(reply, dict):
        return {_plain(k): _plain(v) for k, v in reply.items()}
    if isinstance(reply, list | tuple):
        return [_plain(item) for item in reply]
    if isinstance(reply, set | frozenset):
        return sorted((_plain(item) for item in reply), key=str)
    return reply


def _as_arg(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return None


class LookupStep:
    """A compiled `redis.lookup` block: builds the read command of a record and stores its reply.

    Not a `Transform`: the caller runs the command (against the target named ``connection``) between
    `command` and `complete`. Both halves are pure; `complete` returns a new record (`rdi.transforms.base`).
    """

    def __init__(self, block: LookupBlock, *, step: str) -> None:
        settings = block.with_
        self.step = step
        self.connection: str = settings.connection
        self.cmd: str = settings.cmd
        self.field: str = settings.field
        self.batch_size: int = (settings.batch or LookupBatch()).size
        """At most this many of the step's commands go in one pipeline (RDI's `batch.size`)."""
        self._path = parse_path(settings.field)
        self._args = settings.compiled_args
        self._label = f"redis.lookup `{settings.field}`"

    def command(self, record: Record) -> Command:
        """The command and its evaluated arguments, as strings.

        Raises `BadRecordError` when an argument expression fails or gives something other than a string, a
        number or a boolean (numbers in decimal, booleans as `true`/`false`).
        """
        values = [evaluate(arg, record.data, self.step, self._label) for arg in self._args]
        return self._command(values)

    def command_batch(self, records: Sequence[Record]) -> list[Command]:
        """`command` for each record, in order; arguments are evaluated a whole batch at a time."""
        try:
            rows = [r.data for r in records]
            columns = [evaluate_batch(arg, rows, self.step, self._label) for arg in self._args]
            return [self._command([column[i] for column in columns]) for i in range(len(records))]
        except BadRecordError:
            # Per record, so the error is the one of the first failing record, as `command` would raise it.
            return [self.command(record) for record in records]

    def complete(self, record: Record, reply: Any) -> Record:
        """`record` with the decoded `reply` at ``field``.

        An exception object as `reply` (a pipeline run without raising) and an undecodable reply raise
        `BadRecordError`, as does a ``field`` path through a value that is not an object.
        """
        if isinstance(reply, Exception):
            raise step_error(self.step, self._label, f"`{self.cmd}` failed: {reply}")
        try:
            return with_data(record, set_path(record.data, self._path, decode_reply(self.cmd, reply)))
        except ValueError as exc:  # PathError, or a reply that does not decode
            raise step_error(self.step, self._label, str(exc)) from exc

    def complete_batch(self, records: Sequence[Record], replies: Sequence[Any]) -> list[Record]:
        """`complete` for each record and its reply, in order; raises `ValueError` if the lengths differ."""
        if len(records) != len(replies):
            msg = f"`complete_batch` needs one reply per record, got {len(replies)} for {len(records)} records"
            raise ValueError(msg)
        return [self.complete(record, reply) for record, reply in zip(records, replies, strict=True)]

    def _command(self, values: list[Any]) -> Command:
        args: list[str] = []
        for i, value in enumerate(values):
            arg = _as_arg(value)
            if arg is None:
                msg = f"`args[{i}]` gave {describe_type(value)}, expected a string or a number"
                raise step_error(self.step, self._label, msg)
            args.append(arg)
        return (self.cmd, *args)
