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
    from shared.usecase import get_use_case

    try:
        return get_use_case(name)
    except KeyError as exc:
        err.print(f"[red]{exc.args[0]}[/red]")
        raise typer.Exit(2) from exc


@app.command("list")
def list_cmd() -> None:
    """List the registered use cases."""
    from shared.usecase import registry

    table = Table("use case", "task", "target", "question", show_lines=True)
    for uc in registry().values():
        table.add_row(uc.name, uc.task, uc.target, first_question(uc.question))
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

    from shared.training import STEPS, train

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
    from shared.report import result_tables

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
) -> None:
    """Validate, train, evaluate, export to ONNX, track in MLflow and store for BentoML."""
    from shared.report import write_report

    result = _train_one(use_case, data, set_ or [], register)
    _print_result(result)
    path = write_report(result)
    err.print(f"report: {path}")
    if json_:
        print(json.dumps(result.summary(), default=str))
    if not result.gates_passed:
        raise typer.Exit(1)


@app.command()
def demo(json_: JsonOpt = False) -> None:
    """Train every registered use case on its synthetic data, then print a summary table."""
    from shared.report import summary_table, write_report
    from shared.usecase import registry

    results = []
    for name in registry():
        result = _train_one(name, None, [])
        write_report(result)
        results.append(result)
        err.print(
            f"{name}: done in {result.seconds:.1f} s, model {result.bento_tag or 'not stored'}"
        )
    out.print(summary_table(results))
    out.print(
        "Next: `make serve` (or `bentoml serve`), `mlflow ui --backend-store-uri sqlite:///mlflow.db`"
    )
    if json_:
        print(json.dumps([r.summary() for r in results], default=str))
    if not all(r.gates_passed for r in results):
        raise typer.Exit(1)


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
        typer.Option(
            help="binary, regression, forecast or binary_sequence (default: target + template)"
        ),
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
    from shared.scaffold.new import NewSpec, write_use_case

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
        f"`bentoml serve shared.services:{name}`; then the checklist in {folder / 'README.md'}"
    )


@app.command()
def sample(
    use_case: UseCaseArg,
    rows: Annotated[int, typer.Option(help="rows to write")] = 20,
    out: Annotated[Path | None, typer.Option(help="default: data/samples/<use case>.csv")] = None,
) -> None:
    """Write a few rows of the use case's synthetic data: the raw format your export must match."""
    from shared.paths import project_root

    uc = _use_case(use_case)
    out = out or project_root() / "data" / "samples" / f"{uc.name}.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    uc.make_synthetic(max(rows, 100)).head(rows).to_csv(out, index=False)
    err.print(f"wrote {rows} rows to {out}")


@app.command()
def forecast(
    use_case: Annotated[str, typer.Argument(help="a forecasting use case")] = "demand_forecasting",
    data: Annotated[Path, typer.Option(help="history, CSV or Parquet, in the raw schema")] = ...,
    horizon: Annotated[int, typer.Option(help="steps ahead, at most the trained horizon")] = 8,
    out: Annotated[Path, typer.Option(help="forecasts to write: .csv or .parquet")] = ...,
) -> None:
    """Batch forecasts for every series from the latest stored model (intervals included)."""
    from shared.io import read_table
    from shared.store import ModelNotFound
    from shared.tasks import get_task
    from shared.validation import DataValidationError

    uc = _use_case(use_case)
    batch_forecast = getattr(get_task(uc.task), "batch_forecast", None)
    if batch_forecast is None:
        err.print(f"[red]{uc.name} is not a forecasting use case (task {uc.task})[/red]")
        raise typer.Exit(2)
    if out.suffix.lower() not in {".csv", ".parquet", ".pq"}:
        err.print(f"[red]--out must end in .csv or .parquet, not {out.name}[/red]")
        raise typer.Exit(2)
    try:
        frame = batch_forecast(uc, read_table(data, uc.load_config().data.reader), horizon)
    except (DataValidationError, FileNotFoundError, ModelNotFound, ValueError) as exc:
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
def serve(
    use_case: Annotated[str | None, typer.Argument(help="one use case; default: all")] = None,
    port: int = 3000,
    host: str = "127.0.0.1",
) -> None:
    """Start `bentoml serve` for one use case or for all of them."""
    from shared.serving import model_tag
    from shared.store import ModelNotFound, load_model
    from shared.usecase import registry

    cases = [_use_case(use_case)] if use_case else list(registry().values())
    try:  # BentoML would retry a failing worker forever: check the store first
        for uc in cases:
            load_model(model_tag(uc))
    except ModelNotFound as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    target = cases[0].service if use_case else "shared.service:PilotPack"
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
    from shared.benchmark import run_benchmark

    uc = _use_case(use_case)
    result = run_benchmark(uc, quick=quick, sla_ms=sla_ms, log=lambda m: err.print(m))
    if json_:
        print(json.dumps(result, default=str))
    if not result["sla_ok"]:
        err.print(
            f"[red]SLA failed: p99 {result['http_p99_ms']:.1f} ms, errors {result['errors']}[/red]"
        )
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
