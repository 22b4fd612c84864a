"""CLI contexts: named API endpoints in ``~/.rdi/contexts.yaml`` (``RDI_CONTEXTS_FILE`` overrides the path).

The file holds ``current-context`` and ``contexts: {name: {api-url, user, cacert, insecure}}`` — never a
password or token (RDI's rule: secrets are never stored).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["Context", "ContextFile", "contexts_path"]


@dataclass(frozen=True)
class Context:
    name: str
    api_url: str
    user: str | None = None
    cacert: str | None = None
    insecure: bool = False

    def as_yaml(self) -> dict[str, Any]:
        data: dict[str, Any] = {"api-url": self.api_url}
        if self.user:
            data["user"] = self.user
        if self.cacert:
            data["cacert"] = self.cacert
        if self.insecure:
            data["insecure"] = True
        return data


def contexts_path() -> Path:
    given = os.environ.get("RDI_CONTEXTS_FILE")
    return Path(given) if given else Path.home() / ".rdi" / "contexts.yaml"


class ContextFile:
    """The contexts file, read on creation and written by :meth:`save` (mode 0600)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or contexts_path()
        data: Any = {}
        if self.path.is_file():
            try:
                data = yaml.safe_load(self.path.read_text(encoding="utf-8")) or {}
            except (OSError, yaml.YAMLError) as exc:
                msg = f"cannot read the contexts file {self.path}: {exc}"
                raise ValueError(msg) from None
        if not isinstance(data, dict):
            data = {}
        raw = data.get("contexts") if isinstance(data.get("contexts"), dict) else {}
        self.contexts: dict[str, Context] = {}
        for name, entry in (raw or {}).items():
            if isinstance(entry, dict) and isinstance(entry.get("api-url"), str):
                self.contexts[str(name)] = Context(
                    name=str(name), api_url=entry["api-url"], user=entry.get("user"), cacert=entry.get("cacert"),
                    insecure=bool(entry.get("insecure", False)),
                )  # fmt: skip
        current = data.get("current-context")
        self.current: str | None = current if isinstance(current, str) and current in self.contexts else None

    def save(self) -> None:
        data = {
            "current-context": self.current,
            "contexts": {name: c.as_yaml() for name, c in sorted(self.contexts.items())},
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            yaml.safe_dump(data, out, sort_keys=False)
