"""The `pilotpack` command line. Heavy libraries are imported inside commands: --help is instant."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="pilotpack: four ML pilots taken to production.", no_args_is_help=True)
# Piped output (CI logs, `| tee`) would otherwise be cut to 80 columns and wrap every table.
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)
out = Console(width=None if sys.stdout.isatty() else 160)

UseCaseArg = Annotated[str, typer.Argument(help="use case name (see `pilotpack list`)")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="config override section.key=value (repeatable)"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="last stdout line is one JSON object")]


def _use_case(name: str) -> Any:
    from shared.core.usecase import get_use_case

    try:
        return get_use_case(name)
    except KeyError as exc:
        err.print(f"[red]{exc.args[0]}[/red]")
        raise typer.Exit(2) from exc


@app.command("list")
def list_cmd() -> None:
    """List the registered use cases."""
    from shared.core.usecase import registry

    table = Table("use case", "task", "target", "question", show_lines=True)
    for uc in registry().values():
        table.add_row(uc.name, uc.task.name, uc.target, first_question(uc.question))
    out.print(table)


def first_question(doc: str) -> str:
    """The docstring's opening sentences up to and including its last question mark."""
    text = " ".join(doc.split())
    end = text.rfind("?")
    return text[: end + 1] if end >= 0 else text.split(". ")[0]


def _train_one(name: str, data: Path | None, overrides: list[str], register: bool = True) -> Any:
    """Train with a progress bar over the steps; config and data errors exit with code 2 and
    one clear message, no traceback."""
    from pydantic import ValidationError
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from shared.ops.training import STEPS, train

    uc = _use_case(name)
    try:
        cfg = uc.load_config(overrides)
    except (ValidationError, ValueError, OSError) as exc:
        err.print(f"[red]invalid config for {name}: {_one_line(exc)}[/red]", soft_wrap=True)
        raise typer.Exit(2) from exc
    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task(f"{name}: start", total=len(STEPS))

        def on_step(step: str) -> None:
            progress.update(task, description=f"{name}: {step}", completed=STEPS.index(step))

        def log(message: str) -> None:
            progress.update(task, description=f"{name}: {message}")

        try:
            return train(uc, cfg, data, overrides, on_step=on_step, register=register, log=log)
        except (ValidationError, ValueError, KeyError, OSError) as exc:
            # Data validation, bad config values met during the run, unreadable files: the
            # user's input, not a bug in the pack.
            progress.stop()
            err.print(f"[red]{name}: {_one_line(exc)}[/red]")
            raise typer.Exit(2) from exc


def _one_line(exc: BaseException) -> str:
    """One line for the terminal: pydantic's errors as `where: what; ...`, others as they are."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
    text = str(exc) if not isinstance(exc, KeyError) else f"missing column or key {exc}"
    return f"{type(exc).__name__}: {text}" if type(exc).__name__ not in text else text


def _print_result(result: Any) -> None:
    from shared.ops.report import result_tables

    for table in result_tables(result):
        err.print(table)
    state = "[green]passed[/green]" if result.gates_passed else "[red]FAILED[/red]"
    err.print(f"gates {state}" + "".join(f"\n  - {r}" for r in result.gate_reasons))


@app.command()
def train(
    use_case: UseCaseArg,
    data: Annotated[
        Path | None, typer.Option(help="CSV or Parquet; default: synthetic data")
    ] = None,
    set_: SetOpt = None,
    json_: JsonOpt = False,
    register: Annotated[
        bool,
        typer.Option(
            help="--no-register: log the run to MLflow but register no model version and "
            "store nothing: an experiment that can never be served"
        ),
    ] = True,
    repeats: Annotated[
        int,
        typer.Option(
            min=0,
            help="also refit every candidate on K splits (seeds seed..seed+K-1; time-ordered "
            "kinds: K rolling origins) and print each one's mean ± sd test metrics and the "
            "chosen model paired with the baseline (untracked)",
        ),
    ] = 0,
) -> None:
    """Validate, train, evaluate, export to ONNX, track in MLflow and store for BentoML."""
    from shared.ops.report import write_report

    result = _train_one(use_case, data, set_ or [], register)
    _print_result(result)
    path = write_report(result)
    err.print(f"report: {path}")
    if repeats:
        summary = _repeated(use_case, data, set_ or [], repeats)
        if json_:
            print(json.dumps(summary, default=str))
    if json_:
        print(json.dumps(result.summary(), default=str))
    if not result.gates_passed:
        raise typer.Exit(1)


def _repeated(name: str, data: Path | None, overrides: list[str], k: int) -> dict[str, Any]:
    """`train --repeats K`: the repeated-split table (see TabularTask.repeated_splits)."""
    from rich.table import Table

    from shared.ops.training import load_raw

    uc = _use_case(name)
    task = uc.task
    if not hasattr(task, "repeated_splits"):
        err.print(f"[yellow]{name}: task {uc.task.name} has no repeated-split evaluation[/yellow]")
        return {}
    cfg = uc.load_config(overrides)
    uc = uc.with_config(cfg)
    raw, _ = load_raw(uc, cfg, data)
    with err.status(f"{name}: {k} splits ..."):
        summary = task.repeated_splits(uc, cfg, raw, k, lambda message: None)
    metrics = list(task.repeat_metrics)
    title = f"{name}: test metrics over {k} {summary['kind']} splits (mean ± sd)"
    table = Table("candidate", *metrics, title=title)
    for cand, values in summary["candidates"].items():
        table.add_row(cand, *(f"{values[m]['mean']:.4f} ± {values[m]['sd']:.4f}" for m in metrics))
    pair = summary["paired"]
    table.add_row(
        f"chosen - {summary['baseline']}",
        *(
            f"{pair[m]['mean_diff']:+.4f} ± {pair[m]['sd_diff']:.4f} "
            f"(higher on {pair[m]['chosen_better']}/{k})"
            for m in metrics
        ),
    )
    out.print(table)
    return summary


@app.command()
def demo(json_: JsonOpt = False) -> None:
    """Train every registered use case on its synthetic data, then print a summary table."""
    from shared.core.usecase import registry
    from shared.ops.report import summary_table, write_report

    results = []
    for name in registry():
        result = _train_one(name, None, [])
        write_report(result)
        results.append(result)
        err.print(
            f"{name}: done in {result.seconds:.1f} s, model {result.bento_tag or 'not stored'}"
        )
    out.print(summary_table(results))
    _write_registry(list(registry().values()))
    out.print(
        "Next: `make serve` (or `bentoml serve`), `mlflow ui --backend-store-uri sqlite:///mlflow.db`"
    )
    if json_:
        print(json.dumps([r.summary() for r in results], default=str))
    if not all(r.gates_passed for r in results):
        raise typer.Exit(1)


def _write_registry(use_cases: list[Any]) -> None:
    """reports/registry.md after the demo: the AI registry of what was just trained."""
    from shared.core.paths import reports_dir
    from shared.ops.governance.registry import Undeclared, entries, render

    try:
        text = render(entries(use_cases), "md")
    except Undeclared as exc:
        err.print(f"[yellow]registry not written: {exc}[/yellow]")
        return
    path = reports_dir("registry.md")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    err.print(f"AI registry: {path}")


@app.command()
def registry(
    names: Annotated[
        list[str] | None, typer.Argument(help="use cases to list (default: every one)")
    ] = None,
    format_: Annotated[
        str, typer.Option("--format", help="md | csv | json", case_sensitive=False)
    ] = "md",
) -> None:
    """The AI registry: purpose, EU AI Act risk level, personal data, sources, owner, champion.

    Refuses (exit 2) when a use case's config does not declare its risk level and owner.
    """
    from shared.core.usecase import registry as use_cases
    from shared.ops.governance.registry import Undeclared, entries, render

    if format_ not in ("md", "csv", "json"):
        err.print(f"[red]--format {format_!r}: use md, csv or json[/red]")
        raise typer.Exit(2)
    chosen = [_use_case(n) for n in names] if names else list(use_cases().values())
    try:
        rows = entries(chosen)
    except Undeclared as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    sys.stdout.write(render(rows, format_))


@app.command()
def card(
    use_case: UseCaseArg,
    version: Annotated[
        str | None, typer.Option(help="registered version; default champion, else challenger")
    ] = None,
) -> None:
    """Write the model card of a registered version again, with today's promotion history."""
    from shared.core.paths import reports_dir
    from shared.ops.governance.card import model_card_from_registry

    uc = _use_case(use_case)
    try:
        docs, version = model_card_from_registry(uc, version)
    except LookupError as exc:
        err.print(f"[red]{exc.args[0]}[/red]")
        raise typer.Exit(2) from exc
    folder = reports_dir(uc.name)
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in docs.items():
        (folder / name).write_text(text)
    err.print(f"model card of {uc.name} version {version}: {folder / 'model_card.md'} (+ .html)")


@app.command()
def new(
    name: Annotated[str, typer.Argument(help="the new use case's folder name, e.g. bank_churn")],
    data: Annotated[Path, typer.Option(help="your file: CSV, TSV, TXT or Parquet")],
    target: Annotated[str, typer.Option(help="the column to predict")],
    from_: Annotated[
        str, typer.Option("--from", help="template whose config and KPIs to start from")
    ] = "churn",
    id_column: Annotated[
        list[str] | None,
        typer.Option("--id", help="id column, never a feature; repeat for a series key of several"),
    ] = None,
    time_column: Annotated[
        str | None, typer.Option("--time", help="time column: the split becomes time-ordered")
    ] = None,
    sep: Annotated[
        str | None,
        typer.Option(help="separator (default: by suffix; 'whitespace' for runs of spaces)"),
    ] = None,
    task: Annotated[
        str | None,
        typer.Option(help="binary, regression or forecast (default: from target and template)"),
    ] = None,
    split: Annotated[
        str | None, typer.Option(help="stratified | time | row_order | group | group_time")
    ] = None,
    holiday: Annotated[
        str | None, typer.Option(help="forecasting: a 0/1 column known in advance (holidays)")
    ] = None,
) -> None:
    """Write usecases/NAME/ from your file: schema, features, synthetic data, config, tests."""
    import usecases
    from shared.app.scaffold.new import NewSpec, write_use_case

    ids = tuple(id_column or ())
    spec = NewSpec(
        name,
        from_,
        data,
        target,
        ids[0] if len(ids) == 1 else None,
        time_column,
        sep,
        task,
        split,
        ids,
        holiday,
    )
    try:  # next to the other use cases, where the registry looks
        folder = write_use_case(spec, Path(usecases.__path__[0]))
    except (ValueError, KeyError, OSError) as exc:
        err.print(f"[red]{_one_line(exc)}[/red]")
        raise typer.Exit(2) from exc
    err.print(f"wrote {folder}")
    err.print(
        f"next: `pilotpack train {name}` (synthetic rows drawn from your file), "
        f"`pilotpack train {name} --data {data}`, `pytest usecases/{name}`, "
        f"`bentoml serve shared.serve.services:{name}`; then the checklist in {folder / 'README.md'}"
    )


@app.command()
def sample(
    use_case: UseCaseArg,
    rows: Annotated[int, typer.Option(help="rows to write")] = 20,
    out: Annotated[Path | None, typer.Option(help="default: data/samples/<use case>.csv")] = None,
) -> None:
    """Write a few rows of the use case's synthetic data: the raw format your export must match."""
    from shared.core.paths import project_root

    uc = _use_case(use_case)
    out = out or project_root() / "data" / "samples" / f"{uc.name}.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    uc.make_synthetic(max(rows, 100)).head(rows).to_csv(out, index=False)
    err.print(f"wrote {rows} rows to {out}")


EngineOpt = Annotated[
    str,
    typer.Option(help="local (this process) | dask (a Dask cluster: --scheduler, else one here)"),
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option(help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (with --engine dask)"),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(help="--engine dask without --scheduler: worker processes (default: cores)"),
]


@app.command()
def forecast(
    use_case: Annotated[str, typer.Argument(help="a forecasting use case")] = "demand_forecasting",
    data: Annotated[Path, typer.Option(help="history, CSV or Parquet, in the raw schema")] = ...,
    horizon: Annotated[int, typer.Option(help="steps ahead, at most the trained horizon")] = 8,
    out: Annotated[Path, typer.Option(help="forecasts to write: .csv or .parquet")] = ...,
    engine: EngineOpt = "local",
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
) -> None:
    """Batch forecasts for every series from the served model (intervals included)."""
    from shared.core.io import read_table
    from shared.core.store import ModelNotFound
    from shared.core.validation import DataValidationError

    uc = _use_case(use_case)
    batch_forecast = getattr(uc.task, "batch_forecast", None)
    if batch_forecast is None:
        err.print(f"[red]{uc.name} is not a forecasting use case (task {uc.task.name})[/red]")
        raise typer.Exit(2)
    if out.suffix.lower() not in {".csv", ".parquet", ".pq"}:
        err.print(f"[red]--out must end in .csv or .parquet, not {out.name}[/red]")
        raise typer.Exit(2)
    try:
        raw = read_table(data, uc.load_config().data.reader)
        if engine == "local" and not scheduler:
            frame = batch_forecast(uc, raw, horizon)
        else:  # groups of series on the engine's workers (shared/ops/scale.py)
            from shared.ops.scale import open_engine, windows_on
            from shared.tasks.forecast.batch import batch_forecast as forecast_on

            with open_engine(engine, scheduler, workers) as running:
                err.print(f"engine: {running.describe()}")
                frame = forecast_on(uc, raw, horizon, run=windows_on(running))
    except (DataValidationError, FileNotFoundError, ModelNotFound, ValueError, OSError) as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".csv":
        frame.to_csv(out, index=False)
    else:
        frame.to_parquet(out, index=False)
    n_series = len(frame) // max(horizon, 1)
    err.print(f"wrote {len(frame)} rows ({n_series} series x {horizon} steps) to {out}")


@app.command()
def score(
    use_case: UseCaseArg,
    data: Annotated[Path, typer.Option(help="records to score, CSV or Parquet, in the raw schema")],
    out: Annotated[Path, typer.Option(help="scores to write: .csv or .parquet")],
    model_version: Annotated[
        str | None, typer.Option(help="registered version to score with; default: the champion")
    ] = None,
    rejects: Annotated[
        Path | None,
        typer.Option(help="rows that break the schema, with the reason (default: OUT.rejects.*)"),
    ] = None,
    chunk_rows: Annotated[int, typer.Option(min=1, help="rows read and scored at a time")] = 50_000,
    engine: EngineOpt = "local",
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Score a file with the served model, chunk by chunk: ids, outputs and model version.

    Exit 0: every row scored. Exit 1: some rows broke the schema (they are in the rejects file with the reason), the others are scored. Exit 2: nothing scored (bad file or option, missing column, no model).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from shared.core.io import count_rows
    from shared.core.store import ModelNotFound
    from shared.core.validation import DataValidationError
    from shared.ops.batch import score_file
    from shared.ops.scale import open_engine

    uc = _use_case(use_case)
    try:
        total = count_rows(data, uc.load_config().data.reader)
        columns = [
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        ]
        with (
            open_engine(engine, scheduler, workers) as running,
            Progress(*columns, console=err, transient=True) as progress,
        ):
            err.print(f"engine: {running.describe()}")
            bar = progress.add_task(f"{uc.name}: scoring", total=total)
            rejected = 0

            def on_chunk(rows: int, bad: int) -> None:
                nonlocal rejected
                rejected += bad
                progress.update(bar, advance=rows, description=f"{uc.name}: {rejected} rejected")

            summary = score_file(
                uc, data, out, rejects, model_version, running, chunk_rows, on_chunk
            )
    except DataValidationError as exc:
        err.print(f"[red]{uc.name}: {exc}[/red]")
        raise typer.Exit(2) from exc
    except (FileNotFoundError, ModelNotFound, ValueError, KeyError, OSError) as exc:
        err.print(f"[red]{uc.name}: {_one_line(exc)}[/red]")
        raise typer.Exit(2) from exc
    err.print(
        f"{uc.name}: scored {summary.scored} of {summary.rows} rows with model version "
        f"{summary.model_version} ({summary.model_tag}) in {summary.seconds:.1f} s -> {out}"
    )
    if summary.rejected:
        err.print(f"[yellow]{summary.rejected} rows rejected -> {summary.rejects}[/yellow]")
        for rule, n in sorted(summary.reasons.items(), key=lambda kv: -kv[1])[:10]:
            err.print(f"  - {rule}: {n} row(s)")
    if json_:
        print(json.dumps(summary.to_dict(), default=str))
    if summary.rejected:
        raise typer.Exit(1)


@app.command()
def serve(
    use_case: Annotated[str | None, typer.Argument(help="one use case; default: all")] = None,
    port: int = 3000,
    host: str = "127.0.0.1",
) -> None:
    """Start `bentoml serve` for one use case or for all of them."""
    from shared.core.store import ModelNotFound, load_model
    from shared.core.usecase import registry
    from shared.serve.factory import model_tag

    cases = [_use_case(use_case)] if use_case else list(registry().values())
    try:  # BentoML would retry a failing worker forever: check the store first
        for uc in cases:
            load_model(model_tag(uc))
    except ModelNotFound as exc:
        err.print(f"[red]{exc}[/red]", soft_wrap=True)
        raise typer.Exit(2) from exc
    target = cases[0].service if use_case else "shared.serve.root:PilotPack"
    cmd = [sys.executable, "-m", "bentoml", "serve", target, "--host", host, "--port", str(port)]
    err.print(" ".join(cmd))
    raise typer.Exit(subprocess.call(cmd, env=os.environ.copy()))


@app.command()
def bench(
    use_case: UseCaseArg,
    quick: Annotated[bool, typer.Option(help="fewer requests, for CI")] = False,
    sla_ms: Annotated[float, typer.Option(help="p99 budget in ms")] = 200.0,
    json_: JsonOpt = False,
) -> None:
    """ONNX vs native latency, then HTTP latency and throughput through a real bentoml serve."""
    from shared.core.store import ModelNotFound
    from shared.ops.benchmark import run_benchmark

    uc = _use_case(use_case)
    try:
        result = run_benchmark(uc, quick=quick, sla_ms=sla_ms, log=lambda m: err.print(m))
    except ModelNotFound as exc:  # nothing trained yet: one line, no traceback
        err.print(f"[red]{exc}[/red]", soft_wrap=True)
        raise typer.Exit(2) from exc
    if json_:
        print(json.dumps(result, default=str))
    if not result["sla_ok"]:
        err.print(
            f"[red]SLA failed: p99 {result['http_p99_ms']:.1f} ms, errors {result['errors']}[/red]"
        )
        raise typer.Exit(1)


@app.command("bench-scale")
def bench_scale(
    rows: Annotated[int, typer.Option(help="records to score")] = 200_000,
    series: Annotated[int, typer.Option(help="series to forecast")] = 2_000,
    workers: Annotated[int | None, typer.Option(help="Dask workers (default: cores)")] = None,
    json_: JsonOpt = False,
) -> None:
    """Rows/s of `score` and series/s of `forecast`, local vs Dask on this machine (after
    `make demo`): benchmarks/results/scale.json and scale.md (the README's Scaling table)."""
    from shared.core.paths import project_root
    from shared.core.store import ModelNotFound
    from shared.ops.batch_benchmark import run_scale_benchmark, scale_markdown

    try:
        result = run_scale_benchmark(rows, series, workers, log=lambda m: err.print(m))
    except ModelNotFound as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    folder = project_root() / "benchmarks" / "results"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "scale.json").write_text(json.dumps(result, indent=2) + "\n")
    (folder / "scale.md").write_text(scale_markdown(result))
    out.print(scale_markdown(result))
    err.print(f"wrote {folder / 'scale.json'} and scale.md")
    if json_:
        print(json.dumps(result))


# --------------------------------------------------------------------------- rollout

ReasonOpt = Annotated[str, typer.Option("--reason", help="why: recorded in the registry")]


def _registry_call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Registry commands: a refused move (no challenger, criteria not met...) is exit 2 with
    one line, no traceback."""
    from mlflow.exceptions import MlflowException

    from shared.core.store import ModelNotFound
    from shared.ops.rollout import CriteriaNotMet

    try:
        return fn(*args, **kwargs)
    except CriteriaNotMet:
        raise
    except (ValueError, MlflowException, ModelNotFound) as exc:
        err.print(f"[red]{_one_line(exc)}[/red]")
        raise typer.Exit(2) from exc


@app.command()
def promote(
    use_case: UseCaseArg,
    version: Annotated[str | None, typer.Option(help="default: the challenger")] = None,
    reason: ReasonOpt = "manual promotion",
) -> None:
    """Make a version the champion now (the old one becomes `previous`); who/when/why recorded."""
    from shared.core.tracking import promote as promote_version

    uc = _use_case(use_case)
    old, new = _registry_call(promote_version, uc.name, version, reason)
    out.print(f"{uc.name}: champion is now version {new} (previous: {old or 'none'})")
    out.print("running services switch within a few seconds (rollout.refresh_s)")


@app.command()
def rollback(use_case: UseCaseArg, reason: ReasonOpt = "manual rollback") -> None:
    """Put the previous champion back at once (and stop an active rollout)."""
    from shared.core.tracking import rollback as rollback_champion
    from shared.ops.rollout import abort, read_state

    uc = _use_case(use_case)
    state, _ = _registry_call(read_state, uc.name)
    if state.active:
        _registry_call(abort, uc.name, reason)
        out.print(f"{uc.name}: rollout of version {state.version} stopped")
        return
    demoted, champion = _registry_call(rollback_champion, uc.name, reason)
    out.print(f"{uc.name}: champion is version {champion} again (version {demoted} rolled back)")


@app.command()
def rollout(
    use_case: UseCaseArg,
    action: Annotated[str, typer.Argument(help="start | advance | hold | rollback | status")],
    version: Annotated[str | None, typer.Option(help="start: default the challenger")] = None,
    force: Annotated[
        bool, typer.Option("--force", help="advance although criteria fail (recorded)")
    ] = False,
    reason: ReasonOpt = "",
    json_: JsonOpt = False,
) -> None:
    """Roll a challenger out: shadow, then growing canary stages, then champion."""
    from shared.ops import rollout as ro

    uc = _use_case(use_case)
    if action == "start":
        state = _registry_call(ro.start, uc, version, reason=reason)
        out.print(
            f"{uc.name}: rollout of version {state.version} started at stage "
            f"{ro.stage_label(state.current)} (champion {state.champion}; stages "
            f"{', '.join(ro.stage_label(s) for s in state.stages)})"
        )
    elif action == "advance":
        try:
            state = _registry_call(ro.advance, uc, force, reason=reason)
        except ro.CriteriaNotMet as exc:
            err.print(f"[red]{uc.name}: not advancing, criteria not met:[/red]")
            for c in exc.failed:
                err.print(f"  - {c['name']}: {c['detail']}")
            err.print("  (`--force` advances anyway and records it)")
            raise typer.Exit(1) from exc
        if state.status == "promoted":
            out.print(f"{uc.name}: version {state.version} is now the champion")
        else:
            forced = " (forced)" if force else ""
            out.print(f"{uc.name}: stage {ro.stage_label(state.current)}{forced}")
    elif action == "hold":
        state = _registry_call(ro.hold, uc, reason=reason or "held")
        out.print(f"{uc.name}: held at stage {ro.stage_label(state.current)}: {state.reason}")
    elif action == "rollback":
        state = _registry_call(ro.abort, uc.name, reason or "manual rollback")
        out.print(f"{uc.name}: rollout of version {state.version} rolled back; champion serves all")
    elif action == "status":
        report = _registry_call(ro.status, uc)
        _print_rollout(report)
        if json_:
            print(json.dumps(report, default=str))
    else:
        err.print(
            f"[red]unknown action {action!r}: start | advance | hold | rollback | status[/red]"
        )
        raise typer.Exit(2)


def _print_rollout(report: dict[str, Any]) -> None:
    head = f"{report['use_case']}: rollout {report['status']}"
    if report["version"]:
        head += f", version {report['version']} vs champion {report['champion']}"
    if report["stage"]:
        head += f", stage {report['stage']} of {' > '.join(report['stages'])}"
    out.print(head)
    if report["variants"]:
        table = Table("variant", "version", "requests", "errors", "p50 ms", "p99 ms", "mean score",
                      "outcomes", "outcome mse")  # fmt: skip
        for name, v in report["variants"].items():
            table.add_row(
                name,
                ",".join(v.get("versions", [])),
                str(v.get("requests", 0)),
                str(v.get("errors", 0)),
                _fmt(v.get("p50_ms")),
                _fmt(v.get("p99_ms")),
                _fmt(v.get("mean_score"), "{:.4f}"),
                str(v.get("outcomes", 0)),
                _fmt(v.get("outcome_mse"), "{:.4f}"),
            )
        out.print(table)
    if report.get("psi") is not None:
        out.print(f"score shift (PSI, {report.get('candidate')} vs champion): {report['psi']:.3f}")
    for c in report["criteria"]:
        out.print(f"  [{'green]ok' if c['ok'] else 'red]no'}[/] {c['name']}: {c['detail']}")
    if report["recommendation"]:
        out.print(f"recommendation: [bold]{report['recommendation']}[/bold]")
    for r in report["reasons"]:
        out.print(f"  - {r}")


def _fmt(value: Any, fmt: str = "{:.2f}") -> str:
    return "-" if value is None else fmt.format(value)


outcomes_app = typer.Typer(help="Outcomes: what happened after a prediction.", no_args_is_help=True)
app.add_typer(outcomes_app, name="outcomes")


@outcomes_app.command("load")
def outcomes_load(
    use_case: UseCaseArg,
    data: Annotated[Path, typer.Option(help="CSV or Parquet of outcomes")],
    value: Annotated[
        str | None, typer.Option(help="column of observed values; default: the target, or value")
    ] = None,
    key: Annotated[
        str | None, typer.Option(help="routing key column; default: the routing key / id column")
    ] = None,
    time_column: Annotated[
        str | None, typer.Option("--time", help="column of when it was observed")
    ] = None,
) -> None:
    """Load outcomes (by request_id and/or routing key) into the prediction log."""
    import pandas as pd

    from shared.core.io import read_table
    from shared.serve.predlog import open_log
    from shared.serve.privacy import protect_outcomes

    uc = _use_case(use_case)
    cfg = uc.load_config()
    try:
        frame = read_table(data, cfg.data.reader)
    except (OSError, ValueError) as exc:
        err.print(f"[red]{_one_line(exc)}[/red]")
        raise typer.Exit(2) from exc
    value = value or (uc.target if uc.target in frame else "value")
    key = key or cfg.rollout.routing_key or uc.id_column or "routing_key"
    missing = [c for c in (value,) if c not in frame]
    if missing or ("request_id" not in frame and key not in frame):
        err.print(
            f"[red]{data}: needs a {value!r} column and a 'request_id' or {key!r} column; "
            f"has {list(frame.columns)}[/red]"
        )
        raise typer.Exit(2)
    values = frame[value]
    if not pd.api.types.is_numeric_dtype(values):  # e.g. Yes/No: 1 for the positive label
        values = (values.astype(str) == str(uc.positive_label)).astype(float)
    times = (
        pd.to_datetime(frame[time_column], utc=True).astype("int64") / 1e9
        if time_column
        else pd.Series([None] * len(frame))
    )
    rows = [
        {
            "use_case": uc.name,
            "request_id": frame["request_id"].iat[i] if "request_id" in frame else None,
            "routing_key": frame[key].iat[i] if key in frame else None,
            "value": float(values.iat[i]),
            "ts": None if times.iat[i] is None else float(times.iat[i]),
        }
        for i in range(len(frame))
    ]
    with open_log() as log:
        n = log.write_outcomes(protect_outcomes(rows))
    out.print(f"{uc.name}: {n} outcomes loaded into {log.location}")


log_app = typer.Typer(help="The prediction log: retention and export.", no_args_is_help=True)
app.add_typer(log_app, name="log")


@log_app.command("prune")
def log_prune(
    days: Annotated[
        float | None,
        typer.Option(help="keep this many days; default: each use case's privacy.retention_days"),
    ] = None,
    use_case: Annotated[str | None, typer.Option(help="one use case; default: all")] = None,
) -> None:
    """Delete predictions and outcomes older than the retention (run it daily)."""
    from shared.serve.predlog import open_log
    from shared.serve.privacy import prune

    with open_log() as log:
        done = prune(log, days, _use_case(use_case).name if use_case else None)
    for name, (n_pred, n_out) in done.items():
        out.print(f"{name}: deleted {n_pred} predictions and {n_out} outcomes past retention")


@log_app.command("export")
def log_export(
    use_case: UseCaseArg,
    out_path: Annotated[Path, typer.Option("--out", help="Parquet file to write")],
    days: Annotated[float | None, typer.Option(help="only the last N days")] = None,
) -> None:
    """Export a use case's predictions (outcomes joined by request id) to Parquet."""
    import time as _time

    from shared.serve.predlog import open_log

    uc = _use_case(use_case)
    since = _time.time() - days * 86400 if days else None
    with open_log() as log:
        n = log.export(uc.name, out_path, since)
    out.print(f"wrote {n} predictions of {uc.name} to {out_path}")


# --------------------------------------------------------------------------- monitoring


def _add_monitoring_commands() -> None:
    """monitor, monitoring generate, ab plan|analyze, retrain (shared/app/cli/monitoring.py)."""
    from shared.app.cli.monitoring import register

    register(app, out, err, _use_case)


_add_monitoring_commands()


def _add_security_commands() -> None:
    """auth new-key|revoke, privacy export|erase (shared/app/cli/security.py)."""
    from shared.app.cli.security import register

    register(app, out, err, _use_case)


_add_security_commands()
