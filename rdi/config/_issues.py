"""pydantic validation errors → rdi's one-line messages, located by a path in the user's data.

pydantic's `loc` mixes data keys with union tags (`output.0.redis.write.with`); walking it against the data
separates the two. Errors from the branches of one union are reduced to the branch the input was meant for,
or merged into one "expected A or B" message.
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Annotated, Any, Literal, TypeAlias, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

DataPath: TypeAlias = tuple[Any, ...]

__all__ = ["Located", "locate_errors", "render_path", "show_value"]


@dataclass(frozen=True)
class Located:
    """`path` locates the line (deepest existing node wins); `field` is what the issue names."""

    path: DataPath
    field: DataPath
    message: str


@dataclass(frozen=True)
class _Error:
    type: str
    path: DataPath
    tags: tuple[tuple[DataPath, Any], ...]
    raw: dict[str, Any]


_TYPE_ERRORS = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "dict_type": "a mapping",
    "list_type": "a list",
    "none_required": "null",
}


def render_path(path: Iterable[Any]) -> str:
    """`("output", 0, "with", "data_type")` → `output[0].with.data_type`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) and not isinstance(part, bool) else f"{'.' if out else ''}{part}"
    return out


def show_value(value: Any) -> str:
    """How a user's value appears in a message: `'abc'`, `5`, `true`, `null`, `a mapping`, `a list`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        text = value if len(value) <= 60 else value[:57] + "..."
        return f"'{text}'"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return str(value)


def _choices(expected: str) -> list[str]:
    found = re.findall(r"'((?:[^'\\]|\\.)*)'", expected)
    return found or [p.strip() for p in re.split(r",| or ", expected) if p.strip()]


def _did_you_mean(got: Any, choices: Sequence[str]) -> str:
    if isinstance(got, str):
        close = difflib.get_close_matches(got, list(choices), n=1, cutoff=0.6)
        if close:
            return f" (did you mean `{close[0]}`?)"
    return ""


def _data_path(loc: Sequence[Any], data: Any, keep_from: int) -> tuple[DataPath, tuple[tuple[DataPath, Any], ...]]:
    path: list[Any] = []
    tags: list[tuple[DataPath, Any]] = []
    cur = data
    for i, elem in enumerate(loc):
        in_dict = isinstance(cur, dict) and elem in cur
        if in_dict or (isinstance(cur, list) and isinstance(elem, int) and 0 <= elem < len(cur)):
            path.append(elem)
            cur = cur[elem]
        elif i >= keep_from:  # a key the user did not write (a missing one, or one a validator names)
            path.append(elem)
            cur = None
        else:
            tags.append((tuple(path), elem))
    return tuple(path), tuple(tags)


def _unwrap(tp: Any) -> Any:
    while True:
        if get_origin(tp) is Annotated:
            tp = get_args(tp)[0]
            continue
        if get_origin(tp) in (Union, types.UnionType):
            members = [a for a in get_args(tp) if a is not type(None)]
            if len(members) == 1:
                tp = members[0]
                continue
        return tp


def _model_field(model: type[BaseModel], elem: Any) -> Any:
    for name, info in model.model_fields.items():
        if elem in (name, info.alias, info.validation_alias):
            return info.annotation
    return None


def _matches_tag(member: Any, tag: Any) -> bool:
    member = _unwrap(member)
    if isinstance(member, type) and issubclass(member, BaseModel):
        if member.__name__ == tag:
            return True
        for info in member.model_fields.values():
            annotation = _unwrap(info.annotation)
            if get_origin(annotation) is Literal and tag in get_args(annotation):
                return True
        return False
    origin = get_origin(member)
    name = getattr(origin or member, "__name__", "")
    return isinstance(tag, str) and (tag == name or tag.startswith(f"{name}["))


def _type_at(root: Any, loc: Sequence[Any]) -> Any:
    tp = root
    for elem in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            tp = _model_field(tp, elem)
        elif get_origin(tp) in (Union, types.UnionType):
            tp = next((m for m in get_args(tp) if _matches_tag(m, elem)), None)
        elif get_origin(tp) is list:
            tp = get_args(tp)[0] if isinstance(elem, int) else None
        elif get_origin(tp) is dict:
            tp = None if isinstance(elem, str) and elem == "[key]" else get_args(tp)[1]
        else:
            return None
        if tp is None:
            return None
    return _unwrap(tp)


def _allowed_keys(root: Any, loc: Sequence[Any]) -> list[str]:
    tp = _type_at(root, loc)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [info.alias or name for name, info in tp.model_fields.items()]
    return []


def _is_root_type_error(err: _Error, at: DataPath) -> bool:
    if err.path != at:
        return False
    if err.type in _TYPE_ERRORS or err.type == "literal_error":
        return True
    return err.type == "string_pattern_mismatch" and err.raw.get("ctx", {}).get("pattern", "").startswith(r"^\$\{")


def _expected(err: _Error, *, in_union: bool = False) -> str:
    if in_union and err.type in ("bool_type", "bool_parsing"):
        return "a boolean"
    if err.type == "literal_error":
        return "one of " + ", ".join(_choices(str(err.raw.get("ctx", {}).get("expected", ""))))
    if err.type == "string_pattern_mismatch":
        return "a `${...}` reference"
    return _TYPE_ERRORS.get(err.type, err.type)


def _reduce_unions(errors: list[_Error]) -> list[_Error]:
    out = [e for e in errors if not e.tags]
    groups: dict[DataPath, dict[Any, list[_Error]]] = {}
    for e in errors:
        if e.tags:
            at, tag = e.tags[0]
            groups.setdefault(at, {}).setdefault(tag, []).append(e)
    for at, branches in groups.items():
        chosen: list[_Error]
        if len(branches) == 1:
            chosen = next(iter(branches.values()))
        else:
            deep = [b for b in branches.values() if not all(_is_root_type_error(e, at) for e in b)]
            if deep:
                chosen = deep[0]
            else:
                first = next(iter(branches.values()))[0]
                wanted = list(dict.fromkeys(_expected(b[0], in_union=True) for b in branches.values()))
                either = wanted[0] if len(wanted) == 1 else f"{', '.join(wanted[:-1])} or {wanted[-1]}"
                merged = {**first.raw, "type": "union_mismatch", "expected": either}
                chosen = [replace(first, type="union_mismatch", path=at, raw=merged)]
        out.extend(_reduce_unions([replace(e, tags=e.tags[1:]) for e in chosen]))
    return out


def locate_errors(
    exc: ValidationError,
    data: Any,
    model: type[BaseModel],
    references: dict[DataPath, str] | None = None,
) -> list[Located]:
    """Every error of `exc` (raised validating `data` as `model`) as a located one-line message."""
    errors: list[_Error] = []
    for raw in exc.errors(include_url=False):
        loc = list(raw["loc"])
        keep_from = len(loc) - 1 if raw["type"] == "missing" else len(loc)
        at = (raw.get("ctx") or {}).get("at")
        if isinstance(at, tuple):
            loc.extend(at)
        path, tags = _data_path(loc, data, keep_from)
        errors.append(_Error(raw["type"], path, tags, {**raw, "loc": tuple(loc)}))
    located = [_message(e, model, references or {}) for e in _reduce_unions(errors)]
    return list(dict.fromkeys(located))


def _message(err: _Error, model: type[BaseModel], references: dict[DataPath, str]) -> Located:
    raw, path = err.raw, err.path
    ctx: dict[str, Any] = raw.get("ctx") or {}
    value = raw.get("input")
    got = f"the value of `{references[path]}`" if path in references else show_value(value)
    match err.type:
        case "missing":
            return Located(path, path[:-1], f"missing required key `{path[-1]}`")
        case "extra_forbidden":
            key = path[-1] if path else raw["loc"][-1]
            allowed = _allowed_keys(model, raw["loc"][:-1])
            hint = _did_you_mean(str(key), allowed) or (f" (expected one of: {', '.join(allowed)})" if allowed else "")
            return Located(path, path[:-1], f"unknown key `{key}`{hint}")
        case "literal_error":
            choices = _choices(str(ctx.get("expected", "")))
            msg = f"{got} is not one of {', '.join(choices)}{_did_you_mean(value, choices)}"
            return Located(path, path, msg)
        case "union_tag_invalid":
            field = str(ctx.get("discriminator", "")).strip("'")
            choices = _choices(str(ctx.get("expected_tags", "")))
            tag = ctx.get("tag")
            where = (*path, field)
            if where in references:
                msg = f"the value of `{references[where]}` is not one of {', '.join(choices)}"
            else:
                msg = f"{show_value(tag)} is not one of {', '.join(choices)}{_did_you_mean(tag, choices)}"
            return Located((*path, field), (*path, field), msg)
        case "union_tag_not_found":
            field = str(ctx.get("discriminator", "")).strip("'")
            return Located(path, path, f"missing required key `{field}`")
        case "union_mismatch":
            return Located(path, path, f"expected {raw['expected']}, got {got}")
        case "greater_than_equal":
            return Located(path, path, f"must be at least {ctx['ge']}, got {got}")
        case "less_than_equal":
            return Located(path, path, f"must be at most {ctx['le']}, got {got}")
        case "greater_than":
            return Located(path, path, f"must be greater than {ctx['gt']}, got {got}")
        case "less_than":
            return Located(path, path, f"must be less than {ctx['lt']}, got {got}")
        case "too_short":
            n = ctx.get("min_length")
            return Located(
                path, path, f"needs at least {n} item{'s' if n != 1 else ''}, got {ctx.get('actual_length')}"
            )
        case "too_long":
            n = ctx.get("max_length")
            return Located(path, path, f"takes at most {n} item{'s' if n != 1 else ''}, got {ctx.get('actual_length')}")
        case "string_too_long":
            n = ctx.get("max_length")
            length = "" if path in references else f", got {len(str(value))}"
            return Located(path, path, f"must be at most {n} characters{length}")
        case "string_too_short":
            return Located(path, path, "must not be empty")
        case "string_pattern_mismatch":
            return Located(path, path, f"{got} does not match `{ctx.get('pattern')}`")
        case "value_error" | "assertion_error":
            msg = str(raw["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
            return Located(path, path, msg)
    if err.type in _TYPE_ERRORS:
        return Located(path, path, f"expected {_TYPE_ERRORS[err.type]}, got {got}")
    msg = str(raw["msg"])
    if err.type in _PYDANTIC_TYPES and msg:
        msg = msg[0].lower() + msg[1:]  # pydantic's own wording; ours is already in rdi's style
    return Located(path, path, msg)


_PYDANTIC_TYPES = frozenset(
    {
        "int_type", "float_type", "string_type", "bool_type", "list_type", "dict_type", "set_type",
        "tuple_type", "frozen_field", "frozen_instance", "enum", "uuid_type", "url_type", "url_parsing",
        "date_type", "datetime_type", "time_type", "decimal_type", "bytes_type", "is_instance_of",
        "finite_number", "multiple_of", "unexpected_keyword_argument", "recursion_loop",
    }
)  # fmt: skip
