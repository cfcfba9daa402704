"""Fire drills and the go/no-go page: simulate, scorecard."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from shared.app.cli.common import UseCaseArg, err, fail, find_use_case, out
from shared.core.store import project_root, reports_dir
from shared.ops.governance import scorecard as card
from shared.ops.simulate.rates import error_rates
from shared.ops.simulate.run import ENV_HOME, chosen

PANEL = "Pilot"
app = typer.Typer()
_COLOUR = {True: "green", False: "red", None: "yellow"}


@app.command(rich_help_panel=PANEL)
def simulate(
    use_case: UseCaseArg,
    scenario: Annotated[
        list[str] | None,
        typer.Option(help="all, short (the CI set) or a scenario name (repeatable)"),
    ] = None,
    seed: Annotated[list[int] | None, typer.Option(help="seed (repeatable); default 0")] = None,
    days: Annotated[int, typer.Option(min=2, max=60, help="simulated days per scenario")] = 7,
    rates: Annotated[
        bool, typer.Option("--error-rates", help="measure the decisions' error rates instead")
    ] = False,
    runs: Annotated[int, typer.Option(min=20, help="--error-rates: runs per figure")] = 400,
    keep: Annotated[bool, typer.Option(help="keep the temporary stores (for a look)")] = False,
) -> None:
    """A seeded pilot in fast-forward through the real service, log, registry, monitor,
    rollout, A/B, retrain and alert rules; each decision checked against the truth.

    Writes reports/<use case>/simulate.json and the simulated pilot's scorecard. Exit 0: every decision right. Exit 1: a wrong decision. Exit 2: bad input.
    """
    uc = find_use_case(use_case)
    folder = reports_dir(uc.name)
    if rates:
        result = error_rates(uc, runs, (seed or [0])[0], log=err.print)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "error_rates.json").write_text(json.dumps(result, indent=2, default=str))
        print_rates(result)
        err.print(f"wrote {folder / 'error_rates.json'}")
        raise typer.Exit(0 if all(r["ok"] for r in result["figures"]) else 1)
    try:
        chosen(scenario or ["all"])
    except ValueError as exc:
        fail(str(exc), exc)
    target = folder / "simulate.json"
    target.unlink(missing_ok=True)  # a crashed run must not show the last one's table
    home = Path(tempfile.mkdtemp(prefix=f"pilotpack-simulate-{uc.name}-"))
    env = os.environ | {
        ENV_HOME: str(home),
        "BENTOML_HOME": str(home / "bentoml"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
        "PILOTPACK_HOME": str(home),
        "PILOTPACK_PREDICTION_LOG": str(home / "predictions.db"),
        "BENTOML_DO_NOT_TRACK": "true",
    }
    env.pop("PILOTPACK_MODEL_" + uc.name.upper(), None)  # the simulated registry decides
    cmd = [sys.executable, "-m", "shared.ops.simulate.run", uc.name, "--days", str(days),
           "--out", str(target), "--report-dir", str(folder),
           "--bench", str(project_root() / "benchmarks" / "results" / f"{uc.name}.json")]  # fmt: skip
    cmd += [a for s in scenario or ["all"] for a in ("--scenario", s)]
    cmd += [a for s in seed or [0] for a in ("--seed", str(s))]
    code = subprocess.run(cmd, env=env, check=False).returncode
    if not keep:
        subprocess.run(["rm", "-rf", str(home)], check=False)
    else:
        err.print(f"stores kept in {home}")
    if not target.exists() or code not in (0, 1):
        fail(f"the simulation stopped (exit {code}); see the output above")
    result = json.loads(target.read_text())
    print_simulation(result)
    err.print(f"wrote {target}")
    raise typer.Exit(1 if result["wrong"] else 0)


@app.command(rich_help_panel=PANEL)
def scorecard(
    use_case: UseCaseArg,
    bench: Annotated[
        Path | None, typer.Option(help="benchmark JSON (default benchmarks/results/<uc>.json)")
    ] = None,
) -> None:
    """One page for the go/no-go meeting: business, technical, operational and governance
    figures, each green, amber or red against the bands in config (`scorecard:`).

    Writes reports/<use case>/scorecard.md and .html. Exit 0: go. Exit 1: review or no-go.
    """
    uc = find_use_case(use_case)
    cfg = uc.load_config()
    inputs = card.gather(uc.name, bench=bench)
    md, html, figures = card.write(
        uc.name, cfg, inputs, card.retrain_count(uc.name), reports_dir(uc.name)
    )
    table = Table("family", "figure", "value", "", "basis", title=f"{uc.name}: pilot scorecard")
    for f in figures:
        c = {"amber": "yellow", "grey": "bright_black"}.get(f.colour, f.colour)
        table.add_row(f.family, f.name, f.shown, f"[{c}]{f.colour}[/{c}]", f.basis)
    out.print(table)
    verdict = card.verdict(figures)
    out.print(f"[bold]{verdict}[/bold]")
    err.print(f"wrote {md}\nwrote {html}")
    raise typer.Exit(0 if verdict == "go" else 1)


def print_simulation(result: dict[str, Any]) -> None:
    table = Table("seed", "scenario", "decision", "expected", "got", "time to detect",
                  title=f"{result['use_case']}: simulated pilot ({result['days']} days)")  # fmt: skip
    for d in result["decisions"]:
        c = _COLOUR[d["ok"]]
        table.add_row(str(d["figures"].get("seed", "-")), d["scenario"], d["decision"],
                      d["expected"], f"[{c}]{d['got']}[/{c}]", d["detect"])  # fmt: skip
    out.print(table)
    out.print(
        f"{result['wrong']} wrong decision(s), {result['skipped']} skipped, "
        f"{len(result['decisions'])} checked in {result['seconds']:.0f} s"
    )
    if result.get("scorecard"):
        out.print(
            f"scorecard: {result['scorecard']['verdict']} ({result['scorecard']['markdown']})"
        )


def print_rates(result: dict[str, Any]) -> None:
    table = Table("figure", "measured", "bound", "runs", "ok", title="decision error rates")
    for r in result["figures"]:
        c = _COLOUR[r["ok"]]
        table.add_row(r["name"], r["shown"], r["bound"], str(r["runs"]), f"[{c}]{r['ok']}[/{c}]")
    out.print(table)
