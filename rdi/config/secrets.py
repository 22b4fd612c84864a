"""`${...}` references in config values, resolved from the environment and a secrets directory.

Forms (rdi-compat-spec §1.3):

- `${NAME}` — RDI's form, e.g. `${SOURCE_DB_PASSWORD}`, `${TARGET_DB_CACERT}` or RDI 2.0's per-source
  `${ORDERS_EU_DB_PASSWORD}`: the environment variable `NAME`, else the file `NAME` in the secrets directory
  (one file per secret, as Kubernetes mounts a secret). The environment wins over the directory.
- `${env:VAR}` — preview form: `REDIS_DI_VAR` (the preview auto-prefix), else `VAR`.
- `${file:path}` / `${file:path:property}` — preview form: the whole file, or one `key=value` line of it;
  a relative path is relative to the pipeline folder.
- `${secrets:NAME}` — preview form of `${NAME}`.

File contents lose one trailing newline. A reference may be the whole value or part of it
(`redis://${USER}@host`); a value that is only a reference in a numeric field validates as a number.
Resolved values are secrets: callers never echo them (see `Resolution.redact`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

from rdi.config._types import REFERENCE

__all__ = ["Resolution", "SecretStore", "resolve_references"]

DataPath: TypeAlias = tuple[Any, ...]

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_ENV_PREFIX = "REDIS_DI_"
_REDACT_MIN = 4  # shorter values would garble messages when redacted


class _Unresolved(Exception):
    pass


def _strip_newline(text: str) -> str:
    if text.endswith("\r\n"):
        return text[:-2]
    return text[:-1] if text.endswith("\n") else text


@dataclass(frozen=True)
class SecretStore:
    """Where secret values come from: environment variables, then files in `directory`."""

    env: Mapping[str, str]
    directory: Path | None = None
    base_dir: Path | None = None

    @classmethod
    def from_environment(
        cls,
        env: Mapping[str, str] | None = None,
        secrets_dir: str | os.PathLike[str] | None = None,
        base_dir: str | os.PathLike[str] | None = None,
    ) -> SecretStore:
        """`env` defaults to `os.environ`; the directory to `secrets_dir`, else `$RDI_SECRETS_DIR`."""
        env = os.environ if env is None else env
        directory = secrets_dir if secrets_dir is not None else env.get("RDI_SECRETS_DIR") or None
        return cls(
            env=env,
            directory=Path(directory) if directory is not None else None,
            base_dir=Path(base_dir) if base_dir is not None else None,
        )

    def lookup(self, reference: str) -> str:
        """The value of one reference's inside (`NAME`, `env:VAR`, `file:path`); raises `_Unresolved`."""
        kind, _, rest = reference.partition(":")
        if not rest:
            return self._secret(reference)
        if kind == "secrets" and _NAME.fullmatch(rest):
            return self._secret(rest)
        if kind == "env" and _NAME.fullmatch(rest):
            return self._env(rest)
        if kind == "file" and rest:
            return self._file(rest)
        if kind == "secret":
            raise _Unresolved(f"`${{{reference}}}`: external secret providers are not supported yet")
        raise _Unresolved(
            f"`${{{reference}}}` is not a reference rdi understands (expected `${{NAME}}`, `${{env:NAME}}` "
            "or `${file:path}`)"
        )

    def _secret(self, name: str) -> str:
        if not _NAME.fullmatch(name):
            raise _Unresolved(f"`${{{name}}}` is not a valid secret name (letters, digits, `_`, `.`, `-`)")
        if name in self.env:
            return self.env[name]
        if self.directory is not None:
            path = self.directory / name
            if path.is_file():
                return self._read(path, f"secret file `{name}`")
        msg = f"secret `{name}` is not set (set the environment variable or add a file {name} to the secrets directory)"
        raise _Unresolved(msg)

    def _env(self, name: str) -> str:
        prefixed = name if name.startswith(_ENV_PREFIX) else _ENV_PREFIX + name
        for candidate in (prefixed, name):
            if candidate in self.env:
                return self.env[candidate]
        raise _Unresolved(f"environment variable `{prefixed}` is not set (nor `{name}`)")

    def _file(self, spec: str) -> str:
        written, prop = spec, None
        if not self._path(spec).is_file() and ":" in spec:
            written, _, prop = spec.rpartition(":")
        path = self._path(written)
        if not path.is_file():
            raise _Unresolved(f"secret file `{written}` does not exist")
        text = self._read(path, f"secret file `{written}`")
        if prop is None:
            return text
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip() == prop:
                return value.strip()
        raise _Unresolved(f"secret file `{written}` has no property `{prop}`")

    def _path(self, text: str) -> Path:
        path = Path(text)
        return path if path.is_absolute() or self.base_dir is None else self.base_dir / path

    @staticmethod
    def _read(path: Path, what: str) -> str:
        try:
            return _strip_newline(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            raise _Unresolved(f"{what} is not UTF-8 text") from None
        except OSError as exc:
            raise _Unresolved(f"{what} cannot be read ({exc.strerror})") from None


@dataclass
class Resolution:
    """The data with references replaced, and what happened.

    `problems`: `(path, message)` for each reference that could not be resolved (its text is kept).
    `references`: path → original text, for every string value that contained a resolved reference.
    """

    data: Any
    problems: list[tuple[DataPath, str]] = field(default_factory=list)
    references: dict[DataPath, str] = field(default_factory=dict)
    values: set[str] = field(default_factory=set)

    def redact(self, message: str) -> str:
        """`message` with every resolved value (of 4+ characters) replaced by `***`."""
        for value in sorted(self.values, key=len, reverse=True):
            if len(value) >= _REDACT_MIN:
                message = message.replace(value, "***")
        return message


def resolve_references(data: Any, store: SecretStore, *, keep_unresolved: bool = False) -> Resolution:
    """Replace `${...}` in every string value (not in keys) of a parsed YAML tree.

    With `keep_unresolved`, nothing is looked up and the text stays as written (offline validation).
    Never raises for a missing secret: it becomes a problem. Pure apart from reading secret files.
    """
    result = Resolution(data=None)
    result.data = _walk(data, (), store, keep_unresolved, result)
    return result


def _walk(value: Any, path: DataPath, store: SecretStore, keep: bool, out: Resolution) -> Any:
    if isinstance(value, dict):
        return {k: _walk(v, (*path, k), store, keep, out) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, (*path, i), store, keep, out) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value or keep:
        return value
    failed = False

    def substitute(match: re.Match[str]) -> str:
        nonlocal failed
        try:
            resolved = store.lookup(match.group(0)[2:-1].strip())
        except _Unresolved as exc:
            if not failed:
                out.problems.append((path, str(exc)))
            failed = True
            return match.group(0)
        out.values.add(resolved)
        return resolved

    text = REFERENCE.sub(substitute, value)
    if failed:
        return value
    out.references[path] = value
    return text
