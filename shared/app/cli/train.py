"""Training commands: list, train, demo, sample, new."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

import usecases
from shared.app.cli.common import (
    INPUT_ERRORS,
    JsonOpt,
    SetOpt,
    UseCaseArg,
    err,
    fail,
    find_use_case,
    one_line,
    out,
    refused,
)
from shared.app.cli.evaluate import NamesOpt, NoHeaderOpt, SepOpt
from shared.app.scaffold.infer import Decisions
from shared.app.scaffold.new import NewSpec, columns_option, write_use_case
from shared.core.io import reading_overrides
from shared.core.store import project_root, reports_dir
from shared.core.usecase import registry
from shared.core.validation import DataValidationError, ValidationReport
from shared.ops.governance.registry import Undeclared, entries, render
from shared.ops.report import result_tables, summary_table, write_report
from shared.ops.training import STEPS, load_raw
from shared.ops.training import train as run_training

PANEL = "Train"
app = typer.Typer()
SyntheticOpt = Annotated[
    bool,
    typer.Option(
        "--allow-synthetic",
        help="on synthetic data, the first version that passes may still become champion "
        "(recorded); without it, it stays challenger",
    ),
]


@app.command("list", rich_help_panel=PANEL)
def list_cmd() -> None:
    """List the registered use cases."""
    table = Table("use case", "task", "target", "question", show_lines=True)
    for uc in registry().values():
        table.add_row(uc.name, uc.task.name, uc.target, first_question(uc.question))
    out.print(table)


def first_question(doc: str) -> str:
    """The docstring's opening sentences up to and including its last question mark."""
    text = " ".join(doc.split())
    end = text.rfind("?")
    return text[: end + 1] if end >= 0 else text.split(". ")[0]


@app.command(rich_help_panel=PANEL)
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
    allow_synthetic: SyntheticOpt = False,
    sep: SepOpt = None,
    no_header: NoHeaderOpt = False,
    names: NamesOpt = None,
) -> None:
    """Validate, train, evaluate, export to ONNX, track in MLflow and store for BentoML."""
    with refused(ValueError):
        set_ = [*(set_ or []), *reading_overrides(sep, no_header, names)]
    result = train_one(use_case, data, set_, register, allow_synthetic)
    print_result(result)
    err.print(f"report: {write_report(result)}")
    if repeats:
        summary = repeated(use_case, data, set_ or [], repeats)
        if json_:
            print(json.dumps(summary, default=str))
    if json_:
        print(json.dumps(result.summary(), default=str))
    if not result.gates_passed:
        raise typer.Exit(1)


def train_one(
    name: str,
    data: Path | None,
    overrides: list[str],
    register: bool = True,
    allow_synthetic: bool = False,
) -> Any:
    """Train with a progress bar over the steps; config and data errors exit with code 2 and
    one clear message, no traceback."""
    uc = find_use_case(name)
    with refused(ValidationError, *INPUT_ERRORS, prefix=f"invalid config for {name}: "):
        cfg = uc.load_config(overrides)
    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=err, transient=True) as progress:
        bar = progress.add_task(f"{name}: start", total=len(STEPS))

        def on_step(step: str) -> None:
            progress.update(bar, description=f"{name}: {step}", completed=STEPS.index(step))

        def log(message: str) -> None:
            progress.update(bar, description=f"{name}: {message}")

        try:
            return run_training(
                uc,
                cfg,
                data,
                overrides,
                on_step=on_step,
                register=register,
                log=log,
                allow_synthetic=allow_synthetic,
            )
        except DataValidationError as exc:
            progress.stop()
            fail(f"{name}: {invalid_data(exc.report)}", exc)
        except (ValidationError, *INPUT_ERRORS) as exc:
            # Bad config values met during the run, unreadable files: the user's input, not a
            # bug in the pack.
            progress.stop()
            fail(f"{name}: {one_line(exc)}", exc)


def invalid_data(report: ValidationReport) -> str:
    """A failed validation as one line: each problem with its count and failing values."""
    problems = "; ".join(str(p) for p in report.problems)
    return f"invalid data ({report.rows} rows x {report.columns} columns): {problems}"


def print_result(result: Any) -> None:
    """The run's tables and the gates' verdict, on stderr (stdout is for --json)."""
    for table in result_tables(result):
        err.print(table)
    state = "[green]passed[/green]" if result.gates_passed else "[red]FAILED[/red]"
    err.print(f"gates {state}" + "".join(f"\n  - {r}" for r in result.gate_reasons))
    withheld = result.details.get("champion_withheld")
    if withheld:
        err.print(f"version {result.model_version} is challenger, not champion: {withheld}")


def repeated(name: str, data: Path | None, overrides: list[str], k: int) -> dict[str, Any]:
    """`train --repeats K`: the repeated-split table (see TabularTraining.repeated_splits)."""
    uc = find_use_case(name)
    task = uc.task
    if not task.repeat_metrics:
        err.print(f"[yellow]{name}: task {uc.task.name} has no repeated-split evaluation[/yellow]")
        return {}
    cfg = uc.load_config(overrides)
    uc = uc.with_config(cfg)
    raw, _ = load_raw(uc, cfg, data)
    with err.status(f"{name}: {k} splits ..."):
        summary = task.training.repeated_splits(uc, cfg, raw, k, lambda message: None)
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


@app.command(rich_help_panel=PANEL)
def demo(json_: JsonOpt = False, allow_synthetic: SyntheticOpt = False) -> None:
    """Train every registered use case on its synthetic data, then print a summary table.

    `make demo` passes --allow-synthetic: the first models become champions, so they serve.
    """
    results = []
    for name in registry():
        result = train_one(name, None, [], allow_synthetic=allow_synthetic)
        write_report(result)
        results.append(result)
        err.print(
            f"{name}: done in {result.seconds:.1f} s, model {result.bento_tag or 'not stored'}"
        )
    out.print(summary_table(results))
    write_registry(list(registry().values()))
    out.print(
        "Next: `make serve` (or `bentoml serve`), `mlflow ui --backend-store-uri sqlite:///mlflow.db`"
    )
    if json_:
        print(json.dumps([r.summary() for r in results], default=str))
    if not all(r.gates_passed for r in results):
        raise typer.Exit(1)


def write_registry(cases: list[Any]) -> None:
    """reports/registry.md after the demo: the AI registry of what was just trained."""
    try:
        text = render(entries(cases), "md")
    except Undeclared as exc:
        err.print(f"[yellow]registry not written: {exc}[/yellow]")
        return
    path = reports_dir("registry.md")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    err.print(f"AI registry: {path}")


@app.command(rich_help_panel=PANEL)
def sample(
    use_case: UseCaseArg,
    rows: Annotated[int, typer.Option(help="rows to write")] = 20,
    out_path: Annotated[
        Path | None, typer.Option("--out", help="default: data/samples/<use case>.csv")
    ] = None,
) -> None:
    """Write a few rows of the use case's synthetic data: the raw format your export must match."""
    uc = find_use_case(use_case)
    path = out_path or project_root() / "data" / "samples" / f"{uc.name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    uc.make_synthetic(max(rows, 100)).head(rows).to_csv(path, index=False)
    err.print(f"wrote {rows} rows to {path}")


@app.command(rich_help_panel=PANEL)
def new(
    name: Annotated[str, typer.Argument(help="the new use case's folder name, e.g. bank_churn")],
    data: Annotated[Path, typer.Option(help="your file: CSV, TSV, TXT or Parquet")],
    target: Annotated[
        str | None, typer.Option(help="the column to predict (--rul: derived when absent)")
    ] = None,
    from_: Annotated[
        str, typer.Option("--from", help="use case whose config and KPIs to start from")
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
            help="binary, regression, forecast or binary_sequence (default: from the target "
            "and the --from use case)"
        ),
    ] = None,
    split: Annotated[
        str | None, typer.Option(help="stratified | time | row_order | group | group_time")
    ] = None,
    holiday: Annotated[
        str | None, typer.Option(help="forecasting: a 0/1 column known in advance (holidays)")
    ] = None,
    no_header: NoHeaderOpt = False,
    names: NamesOpt = None,
    rul: Annotated[
        bool,
        typer.Option(
            "--rul",
            help="regression of the remaining life from run-to-failure histories (--id, --time): "
            "derived, capped, history windows, split by entity",
        ),
    ] = False,
    cap: Annotated[float, typer.Option(min=1, help="--rul: labels are min(life, cap)")] = 125.0,
    leaky: Annotated[
        str | None,
        typer.Option(help="COL,...: known only after the outcome; never a model or request input"),
    ] = None,
    drop: Annotated[str | None, typer.Option(help="COL,...: not a model input")] = None,
    sensitive: Annotated[
        str | None, typer.Option(help="COL,...: protected attributes, left out and audited")
    ] = None,
    use_sensitive: Annotated[
        str | None,
        typer.Option(
            help="COL,...: sensitive columns the model may read (governance.use_sensitive)"
        ),
    ] = None,
    positive: Annotated[
        str | None, typer.Option(help="the target's positive value (default: the rarer one)")
    ] = None,
    horizon: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="forecasting: periods ahead (default 8); history: H of 'event within H' (14)",
        ),
    ] = None,
    season: Annotated[
        int | None,
        typer.Option(min=1, help="forecasting: periods per cycle (default: from the frequency)"),
    ] = None,
    calendar: Annotated[
        Path | None,
        typer.Option(help="forecasting: CSV of dates + flags known in advance (holidays)"),
    ] = None,
    calendar_date: Annotated[
        str | None,
        typer.Option(help="the calendar's date column (default: named like --time)"),
    ] = None,
    currency: Annotated[
        str, typer.Option(help="forecasting: suffix of money KPIs, eur or usd")
    ] = "eur",
) -> None:
    """Write usecases/NAME/ from your file: schema, features, synthetic data, config, tests.
    Every decision is a flag, so the fork trains with no file edited."""
    ids = tuple(id_column or ())
    if target is None and not rul:
        fail("--target: the column to predict (only --rul derives it)")
    decisions = Decisions(
        leaky=columns_option(leaky),
        drop=columns_option(drop),
        sensitive=columns_option(sensitive),
        use_sensitive=columns_option(use_sensitive),
        positive=positive,
    )
    spec = NewSpec(
        name=name,
        template=from_,
        data=data,
        target=target or "rul",
        id_column=ids[0] if len(ids) == 1 else None,
        time_column=time_column,
        sep=sep,
        task=task,
        split=split,
        id_columns=ids,
        holiday_column=holiday,
        no_header=no_header,
        names=names,
        rul=rul,
        cap=cap,
        decisions=decisions,
        horizon=horizon,
        season=season,
        calendar=calendar,
        calendar_date=calendar_date,
        currency=currency,
    )
    with refused(*INPUT_ERRORS):  # next to the other use cases, where the registry looks
        folder = write_use_case(spec, Path(usecases.__path__[0]))
    err.print(f"wrote {folder}")
    err.print(
        f"next: `pilotpack train {name}` (synthetic rows drawn from your file), "
        f"`pilotpack train {name} --data {data}`, `pytest usecases/{name}`, "
        f"`bentoml serve shared.serve.services:{name}`; then the checklist in {folder / 'README.md'}"
    )
