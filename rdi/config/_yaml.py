"""YAML text → Python data, keeping the line of every key and sequence item, and catching duplicate keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeAlias

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

DataPath: TypeAlias = tuple[Any, ...]

_MERGE = "tag:yaml.org,2002:merge"


class YamlSyntaxError(Exception):
    def __init__(self, line: int, problem: str) -> None:
        self.line = line
        self.problem = problem
        super().__init__(f"{line}: {problem}")


@dataclass
class Document:
    """Parsed data, `lines[path]` (1-based) for every key and item, and `(path, line, message)` problems."""

    data: Any
    lines: dict[DataPath, int] = field(default_factory=dict)
    problems: list[tuple[DataPath, int, str]] = field(default_factory=list)
    empty: bool = False

    def line_of(self, path: DataPath) -> int:
        """The line of `path`, or of its deepest ancestor present in the file."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return 1


def parse_yaml(text: str) -> Document:
    """Parse one YAML document with the safe loader; raises `YamlSyntaxError` with a 1-based line."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "cannot parse"
        raise YamlSyntaxError(mark.line + 1 if mark else 1, problem) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(getattr(exc, "line", 0) + 1, str(exc).splitlines()[0]) from None
    finally:
        loader.dispose()
    doc = Document(data=data, empty=node is None)
    if node is not None:
        doc.lines[()] = node.start_mark.line + 1
        _walk(node, (), doc, SafeConstructor(), set())
    return doc


def _key(node: Node, constructor: SafeConstructor) -> Any:
    if isinstance(node, ScalarNode):
        return constructor.construct_object(node, deep=True)
    return None  # complex keys: not addressable by a path


def _walk(node: Node, path: DataPath, doc: Document, constructor: SafeConstructor, active: set[int]) -> None:
    if id(node) in active:  # a recursive alias
        return
    active.add(id(node))
    if isinstance(node, MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                _walk(value_node, path, doc, constructor, active)
                continue
            key = _key(key_node, constructor)
            line = key_node.start_mark.line + 1
            try:
                first = seen.get(key)
            except TypeError:
                continue
            if first is not None:
                doc.problems.append((path, line, f"duplicate key `{key}` (first defined on line {first})"))
            else:
                seen[key] = line
            doc.lines[(*path, key)] = line
            _walk(value_node, (*path, key), doc, constructor, active)
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            doc.lines[(*path, i)] = item.start_mark.line + 1
            _walk(item, (*path, i), doc, constructor, active)
    active.discard(id(node))
