"""Config and job examples as files: each valid shape loads; each mistake renders exactly its expected lines.

A case is a file: `tests/cases/config/valid/*.yaml`, `tests/cases/jobs/valid/*.yaml`; a mistake is
`tests/cases/{config,jobs}/invalid/<case>.yaml` (one file) or `tests/cases/config/invalid/<case>/` (a pipeline
folder, with an optional `secrets/` directory) next to `<case>.expected.txt`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rdi.config import load_config_text, load_job_text, load_pipeline
from rdi.errors import ConfigError

CASES = Path(__file__).parents[2] / "cases"

# Secrets the invalid cases may reference; none of these values may ever appear in a message.
ENV = {
    "SOURCE_DB_PASSWORD": "s3cr3t-source-pw",
    "SOURCE_DB_KEY_PASSWORD": "s3cr3t-key-pw",
    "TARGET_DB_KEY": "/etc/rdi/s3cr3t-key.pem",
    "TARGET_DB_CERT": "/etc/rdi/s3cr3t-cert.pem",
    "TARGET_DB_PASSWORD": "s3cr3t-target-pw",
    "PG_PORT": "s3cr3t-port",
}
SECRET_VALUES = [*ENV.values(), "s3cr3t-batch"]


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem if p.is_file() else p.name for p in paths]


VALID_CONFIGS = sorted((CASES / "config" / "valid").glob("*.yaml"))
VALID_JOBS = sorted((CASES / "jobs" / "valid").glob("*.yaml"))
INVALID = sorted(
    p for kind in ("config", "jobs") for p in (CASES / kind / "invalid").iterdir() if p.is_dir() or p.suffix == ".yaml"
)


@pytest.mark.parametrize("path", VALID_CONFIGS, ids=_ids(VALID_CONFIGS))
def test_valid_config_loads(path: Path) -> None:
    config = load_config_text(path.read_text(), "config.yaml", env={}, resolve_secrets=False)
    assert config.model_dump() is not None


@pytest.mark.parametrize("path", VALID_JOBS, ids=_ids(VALID_JOBS))
def test_valid_job_loads(path: Path) -> None:
    job = load_job_text(path.read_text(), f"jobs/{path.name}")
    assert job.name in (path.stem, "orders-to-json")


def _render_issues(path: Path) -> list[str]:
    try:
        if path.is_dir():
            secrets = path / "secrets"
            load_pipeline(path, env=ENV, secrets_dir=secrets if secrets.is_dir() else None)
        elif path.parent.parent.name == "config":
            load_config_text(path.read_text(), "config.yaml", env=ENV)
        else:
            load_job_text(path.read_text(), f"jobs/{path.name}")
    except ConfigError as exc:
        return [str(issue) for issue in exc.issues]
    return ["(loaded without issues)"]


def _expected(path: Path) -> list[str]:
    name = (path.name if path.is_dir() else path.stem) + ".expected.txt"
    return (path.parent / name).read_text().splitlines()


@pytest.mark.parametrize(
    "path", INVALID, ids=[f"{p.parent.parent.name}/{i}" for p, i in zip(INVALID, _ids(INVALID), strict=True)]
)
def test_mistake_renders_expected_lines(path: Path) -> None:
    assert _render_issues(path) == _expected(path)


def test_no_message_carries_a_secret_value_or_a_traceback() -> None:
    lines = [line for path in INVALID for line in _render_issues(path)]
    leaks = [line for line in lines if "Traceback" in line or any(v in line for v in SECRET_VALUES)]
    assert leaks == []
