"""The Dockerfile, checked without a Docker daemon (there is none where the tests run): its stages, base pin and
user, that it copies what the package needs, and that the commands the chart runs exist in the package it builds
(the wheel `pip wheel .` makes — the builder stage's own step — and the installed `rdi`)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import yaml

from .test_chart import VALUE_SETS, containers

REPO = Path(__file__).resolve().parents[2]


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def stages() -> list[list[tuple[str, str]]]:
    out: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions():
        if keyword == "FROM":
            out.append([])
        if out:
            out[-1].append((keyword, rest))
    return out


def test_multi_stage_with_a_pinned_python_base_of_the_supported_version() -> None:
    args = dict(rest.split("=", 1) for keyword, rest in instructions()[:2] if keyword == "ARG")
    froms = [stage[0][1] for stage in stages()]
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    match = re.fullmatch(r"python:(3\.\d+)\.(\d+)-slim-bookworm(@sha256:[0-9a-f]{64})?", args["PYTHON_IMAGE"])
    assert match is not None, args
    assert (froms, f">={match.group(1)}" in requires) == (
        ["${PYTHON_IMAGE} AS builder", "${PYTHON_IMAGE} AS runtime"],
        True,
    )


def test_the_runtime_stage_runs_as_the_charts_non_root_user_with_only_the_venv() -> None:
    runtime = stages()[-1]
    users = [rest for keyword, rest in runtime if keyword == "USER"]
    copies = [rest for keyword, rest in runtime if keyword == "COPY"]
    values = yaml.safe_load((REPO / "deploy" / "k8s" / "rdi" / "values.yaml").read_text())
    uid = values["securityContext"]["runAsUser"]
    assert (users, copies, [k for k, _ in runtime].index("USER") > [k for k, _ in runtime].index("RUN")) == (
        [f"{uid}:{uid}"],
        ["--from=builder /opt/rdi /opt/rdi"],
        True,
    )


def test_the_build_context_holds_what_the_builder_copies() -> None:
    copied = [rest.split()[0] for keyword, rest in stages()[0] if keyword == "COPY"]
    sources = [*copied, "README.md"]
    allowed = [
        line[1:].rstrip("/") for line in (REPO / ".dockerignore").read_text().splitlines() if line.startswith("!")
    ]
    packages = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    assert all((REPO / s).exists() for s in sources), sources
    assert set(allowed) == {"pyproject.toml", "README.md", "rdi", "operators", "flows"}
    assert {p.rstrip("*") for p in packages} <= set(allowed)


def test_the_wheel_the_builder_makes_has_every_entrypoint_the_chart_runs(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("rdi-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(archive.read(n).decode() for n in names if n.endswith("entry_points.txt"))
    commands = {tuple(c["command"]) for name in VALUE_SETS for _, _, c in containers(name)}
    modules = {c[c.index("-m") + 2] for c in commands if c[0] == "python"}
    assert (
        {c[0] for c in commands},
        {c[1:3] for c in commands if c[0] == "python"},
        {f"{m.replace('.', '/')}.py" in names for m in modules},
        "rdi = rdi.cli.main:main" in entry_points,
    ) == ({"rdi", "python"}, {("-m", "bytewax.run")}, {True}, True)


def test_each_rdi_command_the_chart_runs_exists() -> None:
    rdi = Path(sys.executable).parent / "rdi"
    commands = {tuple(c["command"]) for name in VALUE_SETS for _, _, c in containers(name) if c["command"][0] == "rdi"}
    failed = []
    for command in sorted(commands):
        subcommand = [part for part in command[1:] if not part.startswith("-")][:1]
        done = subprocess.run([str(rdi), *subcommand, "--help"], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            failed.append(shlex.join(command))
    assert (sorted({c[1] for c in commands}), failed) == (["api", "collector", "controller"], [])
