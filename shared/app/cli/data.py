"""Data commands: score and forecast files, outcomes load, log prune|export."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, NoReturn

import pandas as pd
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from shared.app.cli.common import (
    INPUT_ERRORS,
    JsonOpt,
    UseCaseArg,
    err,
    fail,
    find_use_case,
    one_line,
    out,
    refused,
)
from shared.core.io import count_rows, read_table
from shared.core.store import ModelNotFound
from shared.core.usecase import UseCase
from shared.core.validation import DataValidationError
from shared.ops.batch import score_file
from shared.ops.scale import open_engine, windows_on
from shared.serve.predlog import open_log, outcome_values
from shared.serve.privacy import protect_outcomes, prune
from shared.tasks.forecast.batch import batch_forecast

PANEL = "Data"
TABLE_SUFFIXES = {".csv", ".parquet", ".pq"}
app = typer.Typer()
outcomes_app = typer.Typer(help="Outcomes: what happened after a prediction.", no_args_is_help=True)
log_app = typer.Typer(help="The prediction log: retention and export.", no_args_is_help=True)
app.add_typer(outcomes_app, name="outcomes", rich_help_panel=PANEL)
app.add_typer(log_app, name="log", rich_help_panel=PANEL)

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


def check_table_suffix(path: Path) -> None:
    """Outputs are written as CSV or Parquet, chosen by the suffix."""
    if path.suffix.lower() not in TABLE_SUFFIXES:
        fail(f"--out must end in .csv or .parquet, not {path.name}")


def schema_report(name: str, exc: DataValidationError) -> NoReturn:
    """A file that breaks the schema: exit 2 with the whole report (each column, rule, count)."""
    err.print(f"{name}: {exc}", style="red", markup=False)
    raise typer.Exit(2) from exc


@app.command(rich_help_panel=PANEL)
def forecast(
    use_case: Annotated[str, typer.Argument(help="a forecasting use case")] = "demand_forecasting",
    data: Annotated[Path, typer.Option(help="history, CSV or Parquet, in the raw schema")] = ...,
    horizon: Annotated[int, typer.Option(help="steps ahead, at most the trained horizon")] = 8,
    out_path: Annotated[
        Path, typer.Option("--out", help="forecasts to write: .csv or .parquet")
    ] = ...,
    engine: EngineOpt = "local",
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
) -> None:
    """Batch forecasts for every series from the served model (intervals included)."""
    uc = find_use_case(use_case)
    if not uc.task.batch_forecasts:
        fail(f"{uc.name} is not a forecasting use case (task {uc.task.name})")
    check_table_suffix(out_path)
    try:
        raw = read_table(data, uc.load_config().data.reader)
        if engine == "local" and not scheduler:
            frame = batch_forecast(uc, raw, horizon)
        else:  # groups of series on the engine's workers (shared/ops/scale.py)
            with open_engine(engine, scheduler, workers) as running:
                err.print(f"engine: {running.describe()}")
                frame = batch_forecast(uc, raw, horizon, run=windows_on(running))
    except DataValidationError as exc:
        schema_report(uc.name, exc)
    except (ModelNotFound, *INPUT_ERRORS) as exc:
        fail(f"{uc.name}: {one_line(exc)}", exc)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if out_path.suffix.lower() == ".csv":
        frame.to_csv(out_path, index=False)
    else:
        frame.to_parquet(out_path, index=False)
    n_series = len(frame) // max(horizon, 1)
    err.print(f"wrote {len(frame)} rows ({n_series} series x {horizon} steps) to {out_path}")


@app.command(rich_help_panel=PANEL)
def score(
    use_case: UseCaseArg,
    data: Annotated[Path, typer.Option(help="records to score, CSV or Parquet, in the raw schema")],
    out_path: Annotated[Path, typer.Option("--out", help="scores to write: .csv or .parquet")],
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
    uc = find_use_case(use_case)
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    try:
        total = count_rows(data, uc.load_config().data.reader)
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
                uc, data, out_path, rejects, model_version, running, chunk_rows, on_chunk
            )
    except DataValidationError as exc:
        schema_report(uc.name, exc)
    except (ModelNotFound, *INPUT_ERRORS) as exc:
        fail(f"{uc.name}: {one_line(exc)}", exc)
    err.print(
        f"{uc.name}: scored {summary.scored} of {summary.rows} rows with model version "
        f"{summary.model_version} ({summary.model_tag}) in {summary.seconds:.1f} s -> {out_path}"
    )
    if summary.rejected:
        err.print(f"[yellow]{summary.rejected} rows rejected -> {summary.rejects}[/yellow]")
        for rule, n in sorted(summary.reasons.items(), key=lambda kv: -kv[1])[:10]:
            err.print(f"  - {rule}: {n} row(s)")
    if json_:
        print(json.dumps(summary.to_dict(), default=str))
    if summary.rejected:
        raise typer.Exit(1)


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
    uc = find_use_case(use_case)
    cfg = uc.load_config()
    with refused(OSError, ValueError):
        frame = read_table(data, cfg.data.reader)
    value = value or (uc.target if uc.target in frame else "value")
    key = key or cfg.rollout.routing_key or uc.id_column or "routing_key"
    if value not in frame or ("request_id" not in frame and key not in frame):
        fail(
            f"{data}: needs a {value!r} column and a 'request_id' or {key!r} column; "
            f"has {list(frame.columns)}"
        )
    values = checked_values(uc, frame[value], value)
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
            "value": values[i],
            "ts": None if times.iat[i] is None else float(times.iat[i]),
        }
        for i in range(len(frame))
    ]
    with open_log() as log:
        n = log.write_outcomes(protect_outcomes(rows))
    out.print(f"{uc.name}: {n} outcomes loaded into {log.location}")


def checked_values(uc: UseCase, column: pd.Series, name: str) -> list[float]:
    """The stored values (0/1 for a binary target's labels) or exit 2 naming the first rows
    whose value the target cannot take, as POST /outcome refuses them."""
    rule = outcome_values(uc)
    stored, bad = [], []
    for i, v in enumerate(column.tolist()):  # Python scalars: a CSV's 1 is an int, not numpy's
        try:
            stored.append(rule.parse(v))
        except ValueError as exc:
            bad.append(f"row {i + 1}: {exc}")
    if bad:
        more = f" (+{len(bad) - 5} more)" if len(bad) > 5 else ""
        fail(f"{len(bad)} of {len(column)} values in {name!r} refused, nothing loaded: "
             + "; ".join(bad[:5]) + more)  # fmt: skip
    return stored


@log_app.command("prune")
def log_prune(
    days: Annotated[
        float | None,
        typer.Option(help="keep this many days; default: each use case's privacy.retention_days"),
    ] = None,
    use_case: Annotated[str | None, typer.Option(help="one use case; default: all")] = None,
) -> None:
    """Delete predictions and outcomes older than the retention (run it daily)."""
    name = find_use_case(use_case).name if use_case else None
    with open_log() as log:
        done = prune(log, days, name)
    for case, (n_pred, n_out) in done.items():
        out.print(f"{case}: deleted {n_pred} predictions and {n_out} outcomes past retention")


@log_app.command("export")
def log_export(
    use_case: UseCaseArg,
    out_path: Annotated[Path, typer.Option("--out", help="Parquet file to write")],
    days: Annotated[float | None, typer.Option(help="only the last N days")] = None,
) -> None:
    """Export a use case's predictions to Parquet, outcomes joined by request id or routing key."""
    uc = find_use_case(use_case)
    since = time.time() - days * 86400 if days else None
    with open_log() as log:
        n = log.export(uc.name, out_path, since)
    out.print(f"wrote {n} predictions of {uc.name} to {out_path}")
