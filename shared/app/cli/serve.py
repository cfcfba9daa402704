"""Serving commands: serve (bentoml serve), bench (latency against the SLA), bench-scale."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Annotated

import typer

from shared.app.cli.common import JsonOpt, UseCaseArg, err, fail, find_use_case, out
from shared.core.store import ModelNotFound, load_model, project_root
from shared.core.tracking import model_tag
from shared.core.usecase import registry
from shared.ops.batch_benchmark import run_scale_benchmark, scale_markdown
from shared.ops.benchmark import run_benchmark, sla_budget

PANEL = "Serve"
ROOT_SERVICE = "shared.serve.root:PilotPack"
app = typer.Typer()


@app.command(rich_help_panel=PANEL)
def serve(
    use_case: Annotated[str | None, typer.Argument(help="one use case; default: all")] = None,
    port: int = 3000,
    host: str = "127.0.0.1",
) -> None:
    """Start `bentoml serve` for one use case or for all of them."""
    cases = [find_use_case(use_case)] if use_case else list(registry().values())
    try:  # BentoML would retry a failing worker forever: check the store first
        for uc in cases:
            load_model(model_tag(uc))
    except ModelNotFound as exc:
        fail(str(exc), exc)
    target = cases[0].service if use_case else ROOT_SERVICE
    cmd = [sys.executable, "-m", "bentoml", "serve", target, "--host", host, "--port", str(port)]
    err.print(" ".join(cmd))
    raise typer.Exit(subprocess.call(cmd, env=os.environ.copy()))


@app.command(rich_help_panel=PANEL)
def bench(
    use_case: UseCaseArg,
    quick: Annotated[bool, typer.Option(help="fewer requests, for CI")] = False,
    sla_ms: Annotated[
        float | None,
        typer.Option(help="p99 budget in ms; default: the use case's rollout.sla_ms"),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """ONNX vs native latency, then HTTP latency and throughput through a real bentoml serve."""
    uc = find_use_case(use_case)
    budget = sla_budget(uc, sla_ms)
    try:
        result = run_benchmark(uc, quick=quick, sla_ms=budget, log=lambda m: err.print(m))
    except ModelNotFound as exc:  # nothing trained yet: one line, no traceback
        fail(str(exc), exc)
    if json_:
        print(json.dumps(result, default=str))
    if not result["sla_ok"]:
        err.print(
            f"[red]SLA failed: p99 {result['http_p99_ms']:.1f} ms (budget {budget:g} ms), "
            f"errors {result['errors']}[/red]"
        )
        raise typer.Exit(1)


@app.command("bench-scale", rich_help_panel=PANEL)
def bench_scale(
    rows: Annotated[int, typer.Option(help="records to score")] = 200_000,
    series: Annotated[int, typer.Option(help="series to forecast")] = 2_000,
    workers: Annotated[int | None, typer.Option(help="Dask workers (default: cores)")] = None,
    json_: JsonOpt = False,
) -> None:
    """Rows/s of `score` and series/s of `forecast`, local vs Dask on this machine.

    Run it after `make demo`; writes benchmarks/results/scale.json and scale.md (the README's
    Scaling table).
    """
    try:
        result = run_scale_benchmark(rows, series, workers, log=lambda m: err.print(m))
    except ModelNotFound as exc:
        fail(str(exc), exc)
    folder = project_root() / "benchmarks" / "results"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "scale.json").write_text(json.dumps(result, indent=2) + "\n")
    (folder / "scale.md").write_text(scale_markdown(result))
    out.print(scale_markdown(result))
    err.print(f"wrote {folder / 'scale.json'} and scale.md")
    if json_:
        print(json.dumps(result))
