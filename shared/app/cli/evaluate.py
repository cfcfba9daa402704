"""`pilotpack evaluate`: a held-out file scored by the stored model against its truth."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from shared.app.cli.common import (
    INPUT_ERRORS,
    JsonOpt,
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
from shared.core.validation import DataValidationError
from shared.ops.evaluate import evaluate_file

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
            "two columns id,value, or a header naming the target; default: the file's target"
        ),
    ] = None,
    model_version: Annotated[
        str | None, typer.Option(help="registered version to evaluate; default: the champion")
    ] = None,
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
