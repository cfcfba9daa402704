"""The GitHub Actions workflow every fork gets: actionlint (from the pinned wheel in the venv)
finds no problem, and it runs what the README says CI runs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]  # the repository (PILOTPACK_HOME is a temp folder)
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"


def actionlint() -> str:
    """The venv's actionlint (a dependency in pyproject.toml), else one on PATH."""
    here = Path(sys.executable).parent / "actionlint"
    found = str(here) if here.exists() else shutil.which("actionlint")
    assert found, "actionlint is missing: `make venv` installs it (pyproject dependency)"
    return found


def test_actionlint_finds_no_problem():
    done = subprocess.run(
        [actionlint(), "-no-color", str(WORKFLOW)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    """The check is live: a typo in an expression is reported."""
    broken = WORKFLOW.read_text().replace("${{ github.ref }}", "${{ github.reff }}")
    path = tmp_path / ".github" / "workflows" / "ci.yml"
    path.parent.mkdir(parents=True)
    path.write_text(broken)
    done = subprocess.run([actionlint(), "-no-color", str(path)], capture_output=True, text=True)
    assert done.returncode == 1 and "reff" in done.stdout


def test_workflow_runs_the_readme_commands_and_keeps_results():
    flow = yaml.safe_load(WORKFLOW.read_text())
    steps = flow["jobs"]["test"]["steps"]
    runs = [s.get("run", "").strip() for s in steps]
    for command in ("make lint", "make docs", "make test", "make demo", "make bench-quick"):
        assert command in runs, command
    # the same make steps, in the same order, as the local CI entry point
    local = [x.split("#")[0].strip() for x in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert [x for x in runs if x.startswith("make ")] == [x for x in local if x.startswith("make ")]
    setup = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python"))
    assert setup["with"]["cache"] == "pip"
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert "benchmarks/results/" in upload["with"]["path"] and upload["if"] == "always()"
    assert "make test" in (ROOT / "README.md").read_text()


def test_ci_installs_the_alerting_tools_that_make_lint_and_the_tests_need():
    """`make lint` runs amtool, the alerting tests a real Alertmanager: both CI paths install
    Debian's prometheus-alertmanager (and prometheus) before `make lint`."""
    flow = yaml.safe_load(WORKFLOW.read_text())
    runs = [s.get("run", "") for s in flow["jobs"]["test"]["steps"]]
    install = next(i for i, run in enumerate(runs) if "apt-get install" in run)
    assert "prometheus-alertmanager" in runs[install] and " prometheus " in runs[install]
    assert install < runs.index("make lint")
    local = (ROOT / ".ci" / "run").read_text()
    assert local.index("apt-get install -y -qq prometheus-alertmanager") < local.index(
        "\nmake lint"
    )
    assert "amtool check-config monitoring/alertmanager.yml" in (ROOT / "Makefile").read_text()
