"""`pilotpack` run by its own entry point inside the test process, returned as a subprocess
run returns (exit code, stdout, stderr): for runs whose subprocess would only import the pack
again. An exception other than the CLI's own exit is raised, never turned into an exit code."""

from __future__ import annotations

import subprocess

from typer.testing import CliRunner

from shared.app.cli import app


def in_process(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`pilotpack *args` in this process, as `subprocess.run` would report it; `env` is set
    for the run only."""
    result = CliRunner().invoke(app, list(args), env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)
