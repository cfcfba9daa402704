"""`pilotpack evaluate`: a held-out file scored by the stored model against its truth."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.table import Table

from shared.app.cli.common import (
    INPUT_ERRORS,
    JsonOpt,
    SetOpt,
    UseCaseArg,
    err,
    fail,
    find_use_case,
    fmt,
    one_line,
    out,
)
from shared.core.io import with_reading
from shared.core.store import ModelNotFound
from shared.core.usecase import UseCase
from shared.core.validation import DataValidationError
from shared.ops.evaluate import cross_validate_cuts, evaluate_file, labelled_histories

PANEL = "Train"
app = typer.Typer()
# How a file is read, on the command line (`new`, `evaluate`); shared/core/io.py `with_reading`.
SepOpt = Annotated[
    str | None,
    typer.Option(help="separator; 'whitespace' = any run of spaces or tabs (default: config)"),
]
NoHeaderOpt = Annotated[
    bool, typer.Option("--no-header", help="the first line is data, not column names")
]
NamesOpt = Annotated[
    str | None,
    typer.Option(help="column names of a header-less file, a,b,c (implies --no-header)"),
]


@app.command(rich_help_panel=PANEL)
def evaluate(
    use_case: UseCaseArg,
    data: Annotated[Path, typer.Option(help="held-out file in the raw schema (CSV, TXT, Parquet)")],
    truth: Annotated[
        Path | None,
        typer.Option(
            help="true values: one column in the order of the sorted ids (C-MAPSS RUL file), "
            "two columns id,value, or a header naming the target; default: the file's target. "
            "Forecasts: the actuals after the history (series key, time, target)"
        ),
    ] = None,
    model_version: Annotated[
        str | None, typer.Option(help="registered version to evaluate; default: the champion")
    ] = None,
    folds: Annotated[
        int,
        typer.Option(
            min=0,
            help="instead of a stored model: K group folds by entity on a labelled file of "
            "whole histories, each held-out entity cut at a random row and scored by its last "
            "row (history regression use cases)",
        ),
    ] = 0,
    repeats: Annotated[int, typer.Option(min=1, help="with --folds: seeds seed..seed+R-1")] = 1,
    set_: SetOpt = None,
    sep: SepOpt = None,
    no_header: NoHeaderOpt = False,
    names: NamesOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Score a held-out file and print the metrics and KPIs; history use cases: the last row
    of each entity against the truth at that cut.

    Exit 0: scored. Exit 2: bad file, truth, option or no stored model (one line, no traceback).
    """
    uc = find_use_case(use_case)
    if folds:
        folds_table(uc, data, folds, repeats, set_ or [], (sep, no_header, names), json_)
        return
    try:
        reader = with_reading(uc.load_config().data.reader, sep, no_header, names)
        result = evaluate_file(uc, data, truth, model_version, reader)
    except DataValidationError as exc:
        fail(f"{uc.name}: invalid data: {'; '.join(str(p) for p in exc.report.problems)}", exc)
    except (ModelNotFound, *INPUT_ERRORS) as exc:
        fail(f"{uc.name}: {one_line(exc)}", exc)
    title = (
        f"{uc.name}: model {result.model_version} on {data.name}, {result.scored} scored "
        f"({result.layout}) of {result.rows_read} rows"
    )
    table = Table("metric", "value", title=title)
    for key, value in result.metrics.items():
        table.add_row(key, fmt(value, "{:.4f}"))
    for key, value in result.kpis.items():
        table.add_row(f"KPI {key}", fmt(value, "{:,.2f}"))
    out.print(table)
    err.print(f"{uc.name}: {len(result.metrics)} metrics, {len(result.kpis)} KPIs")
    if json_:
        print(json.dumps(result.to_dict(), default=str))


def folds_table(
    uc: UseCase,
    data: Path,
    folds: int,
    repeats: int,
    overrides: list[str],
    reading: tuple[str | None, bool, str | None],
    json_: bool,
) -> None:
    """`evaluate --folds K`: per candidate, mean ± sd and a 95 % interval over the folds."""
    if folds < 2:
        fail(f"--folds {folds}: give at least 2")
    try:
        cfg = uc.load_config(overrides)
        raw = labelled_histories(uc, data, with_reading(cfg.data.reader, *reading))
        with err.status(f"{uc.name}: {folds} folds x {repeats} ..."):
            summary = cross_validate_cuts(uc.with_config(cfg), cfg, raw, folds, repeats)
    except DataValidationError as exc:
        fail(f"{uc.name}: invalid data: {'; '.join(str(p) for p in exc.report.problems)}", exc)
    except (ValidationError, *INPUT_ERRORS) as exc:
        fail(f"{uc.name}: {one_line(exc)}", exc)
    title = (
        f"{uc.name} on {data.name}: {folds} folds by {uc.id_column} x {repeats}, "
        f"{summary['entities_scored']} cut histories scored by their last row "
        "(mean ± sd [95 % interval])"
    )
    metrics = ("rmse", "mae", "phm08_score_mean")
    table = Table("candidate", *metrics, title=title)
    for name, values in summary["candidates"].items():
        cells = [values[m] for m in metrics]
        table.add_row(
            name,
            *(f"{v['mean']:.2f} ± {v['sd']:.2f} [{v['low']:.2f}, {v['high']:.2f}]" for v in cells),
        )
    out.print(table)
    if json_:
        print(json.dumps(summary, default=str))
