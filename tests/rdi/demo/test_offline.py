"""`rdi demo --offline`: the demo pipeline's orders job on sample events, with no services."""

from __future__ import annotations

from typer.testing import CliRunner

from rdi.cli.main import DEMO_DIR, app

runner = CliRunner()


def test_the_offline_demo_prints_what_dry_run_prints() -> None:
    demo = runner.invoke(app, ["demo", "--offline"])
    dry_run = runner.invoke(app, ["dry-run", "--dir", str(DEMO_DIR / "pipeline"), "--job", "orders",
                                  "--input", str(DEMO_DIR / "events.json")])  # fmt: skip
    assert (demo.exit_code, demo.stdout.splitlines()[1:]) == (0, dry_run.stdout.splitlines())
