"""deploy/vm/install.sh: valid bash, and a dry run that prints the two-VM layout without touching the machine."""

from __future__ import annotations

import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[3] / "deploy" / "vm" / "install.sh"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, check=False)


def test_the_script_parses() -> None:
    assert subprocess.run(["bash", "-n", str(SCRIPT)], check=False).returncode == 0


def test_a_dry_run_prints_user_venv_env_keys_and_units(tmp_path: Path) -> None:
    result = _run("--dry-run", "--rdi-db-url", "redis://db:6379/0", "--instance-id", "vm-1", "--etc", str(tmp_path))
    out = result.stdout
    steps = [
        "+ useradd --system" in out or "+ useradd" not in out,  # only when the user does not exist yet
        "/opt/rdi/venv/bin/python -m pip install -q" in out,
        f"+ write {tmp_path}/keys/secrets.key (mode 0640, root:rdi)" in out,
        "|   RDI_DB_URL=redis://db:6379/0" in out,
        "|   RDI_INSTANCE_ID=vm-1" in out,
        "|   ExecStart=/opt/rdi/venv/bin/rdi controller" in out,
        "|   KillMode=mixed" in out,
        "+ systemctl restart rdi-api" in out,
        "@" not in "".join(line for line in out.splitlines() if line.startswith("|")).replace("redis://db", ""),
        list(tmp_path.iterdir()),
    ]
    assert (result.returncode, steps) == (0, [True] * 9 + [[]])


def test_the_first_install_needs_the_rdi_db_url(tmp_path: Path) -> None:
    result = _run("--dry-run", "--etc", str(tmp_path))
    assert (result.returncode, result.stderr) == (
        2, f"install.sh: --rdi-db-url is required on the first install ({tmp_path}/rdi.env does not exist)\n",
    )  # fmt: skip
