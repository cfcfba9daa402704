"""Monitoring commands: monitor, monitoring generate, ab plan|analyze, retrain."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from shared.app.cli.common import (
    INPUT_ERRORS,
    JsonOpt,
    UseCaseArg,
    err,
    fail,
    find_use_case,
    fmt,
    out,
    refused,
)
from shared.core.io import read_table
from shared.core.store import ModelNotFound, reports_dir
from shared.ops.monitoring.ab import Plan, analyze_frame, default_plan_path, load_plan, log_frame
from shared.ops.monitoring.ab import plan as make_plan
from shared.ops.monitoring.generate import write_all
from shared.ops.monitoring.monitor import prometheus_text
from shared.ops.monitoring.monitor import run as run_monitor
from shared.ops.monitoring.pages import ab_page, estimate_line, monitor_page, write_page
from shared.ops.monitoring.retrain import retrain as run_retrain

PANEL = "Monitor"
app = typer.Typer()
gen_app = typer.Typer(
    help="Prometheus rules and Grafana dashboards from each use case's config.",
    no_args_is_help=True,
)
ab_app = typer.Typer(
    help="A/B tests: plan the sample size, analyse the outcome.", no_args_is_help=True
)
app.add_typer(gen_app, name="monitoring", rich_help_panel=PANEL)
app.add_typer(ab_app, name="ab", rich_help_panel=PANEL)


@app.command(rich_help_panel=PANEL)
def monitor(
    use_case: UseCaseArg,
    data: Annotated[
        Path | None,
        typer.Option(
            help="records in the raw schema (CSV/Parquet); with the target column "
            "realised performance is measured on them too"
        ),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="prediction log window, e.g. 7d, 12h (default 7d)")
    ] = None,
    last: Annotated[
        int | None, typer.Option(min=1, help="the last N served records of the log")
    ] = None,
    out_path: Annotated[
        Path | None,
        typer.Option("--out", help="JSON report (default reports/<use case>/monitor.json)"),
    ] = None,
    prom_file: Annotated[
        Path | None,
        typer.Option(help="also write Prometheus text (node_exporter textfile collector)"),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Drift (PSI, KS / chi-square) and realised performance of the champion over a window.

    Exit 0: no alert. Exit 1: an alert fired (PSI at or above monitoring.psi_alert on an input or the score, or the realised headline metric down more than monitoring.metric_drop). Exit 2: bad option, file or no model.
    """
    uc = find_use_case(use_case)
    if sum(x is not None for x in (data, since, last)) > 1:
        fail("choose one window: --data, --since or --last")
    with refused(ModelNotFound, *INPUT_ERRORS, prefix=f"{uc.name}: "):
        report = run_monitor(uc, uc.load_config(), data, since, last)
    print_monitor(out, report)
    write_report(out_path or reports_dir(uc.name) / "monitor.json", report, monitor_page(report))
    if prom_file is not None:
        prom_file.parent.mkdir(parents=True, exist_ok=True)
        prom_file.write_text(prometheus_text(report))
    if json_:
        print(json.dumps(report, default=str))
    if report["alerts"]:
        raise typer.Exit(1)


@gen_app.command("generate")
def generate(
    folder: Annotated[Path, typer.Option("--out", help="where to write")] = Path("monitoring"),
    names: Annotated[
        list[str] | None, typer.Option("--use-case", help="default: every registered one")
    ] = None,
    webhook_url: Annotated[
        str | None,
        typer.Option(
            envvar="PILOTPACK_ALERT_WEBHOOK_URL",
            help="Alertmanager's webhook for every use case (default: each config's "
            "monitoring.webhook_url)",
        ),
    ] = None,
) -> None:
    """Write monitoring/: prometheus.yml, alertmanager.yml, and per use case its rules,
    their promtool tests and its Grafana dashboard."""
    for path in write_all(folder, names or None, webhook_url=webhook_url):
        out.print(str(path))


@ab_app.command("plan")
def ab_plan(
    baseline_rate: Annotated[
        float, typer.Option(min=0.0001, max=0.9999, help="control conversion rate")
    ],
    mde: Annotated[float, typer.Option(help="smallest lift worth detecting (absolute)")],
    relative: Annotated[
        bool, typer.Option("--relative", help="--mde is relative (0.1 = +10 %)")
    ] = False,
    alpha: Annotated[float, typer.Option(min=0.0001, max=0.5)] = 0.05,
    power: Annotated[float, typer.Option(min=0.5, max=0.9999)] = 0.8,
    daily_traffic: Annotated[
        int | None, typer.Option(min=1, help="units entering the test per day, both groups")
    ] = None,
    method: Annotated[
        str,
        typer.Option(
            help="fixed (one look at the planned size) or msprt (always-valid p-values: look any time)"
        ),
    ] = "fixed",
    use_case: Annotated[
        str | None,
        typer.Option("--use-case", help="save the plan for `ab analyze` of this use case"),
    ] = None,
    control: Annotated[str, typer.Option(help="the control group's name")] = "champion",
    treatment: Annotated[str, typer.Option(help="the treatment group's name")] = "challenger",
    split: Annotated[
        float,
        typer.Option(
            min=0.01, max=0.99, help="the treatment's share of units: 0.2 for a 20 % canary stage"
        ),
    ] = 0.5,
    lower_is_better: Annotated[
        bool,
        typer.Option(
            "--lower-is-better",
            help="the counted outcome is bad (churned, failed); default: the use case's "
            "monitoring.outcome_is_good with --use-case, else higher is better",
        ),
    ] = False,
    plan_path: Annotated[Path | None, typer.Option("--out", help="plan file to write")] = None,
    json_: JsonOpt = False,
) -> None:
    """Sample sizes and duration of a two-sided two-proportion test at a planned split."""
    higher_is_better = not lower_is_better
    if use_case and not lower_is_better:
        uc = find_use_case(use_case)
        higher_is_better = uc.load_config().monitoring.outcome_is_good
    with refused(ValueError):
        p = make_plan(
            baseline_rate, mde, relative, alpha, power, daily_traffic, method, control,
            treatment, split, higher_is_better,
        )  # fmt: skip
    out.print(Plan.describe(p))
    target = plan_path or (default_plan_path(find_use_case(use_case).name) if use_case else None)
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(p.to_dict(), indent=2))
        err.print(f"wrote {target}")
    if json_:
        print(json.dumps(p.to_dict()))


@ab_app.command("analyze")
def ab_analyze(
    use_case: UseCaseArg,
    data: Annotated[
        Path | None,
        typer.Option(
            help="CSV/Parquet: group, unit id, converted (0/1) [, time]; default: "
            "the prediction log's variants and outcomes"
        ),
    ] = None,
    plan_file: Annotated[
        Path | None, typer.Option("--plan", help="default: the plan saved for this use case")
    ] = None,
    since: Annotated[str | None, typer.Option(help="log window, e.g. 30d")] = None,
    group_col: Annotated[str, typer.Option("--group-col")] = "group",
    unit_col: Annotated[str, typer.Option("--unit-col")] = "unit",
    value_col: Annotated[str, typer.Option("--value-col")] = "converted",
    time_col: Annotated[str, typer.Option("--time-col")] = "time",
    out_path: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="JSON report (default reports/<use case>/ab_analysis.json); "
            "the HTML page is written beside it",
        ),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Per group n and rate, lift with intervals, z-test, SRM check, power, lift by week.

    Exit 0: a verdict (or a clear "keep running"). Exit 1: sample ratio mismatch (no verdict). Exit 2: bad input.
    """
    uc = find_use_case(use_case)
    with refused(*INPUT_ERRORS, prefix=f"{uc.name}: "):
        path = plan_file or default_plan_path(uc.name)
        p = load_plan(path) if path.exists() else None
        if p is not None:  # the use case says which way is better (lower churn wins)
            p = replace(p, higher_is_better=uc.load_config().monitoring.outcome_is_good)
        frame = read_table(data) if data is not None else log_frame(uc.name, since)
        report = analyze_frame(frame, p, group_col, unit_col, value_col, time_col)
    print_ab(out, report)
    target = out_path or reports_dir(uc.name) / "ab_analysis.json"
    write_report(target, report, ab_page(report, uc.name))
    if json_:
        print(json.dumps(report, default=str))
    if report["srm"]["mismatch"]:
        raise typer.Exit(1)


@app.command(rich_help_panel=PANEL)
def retrain(
    use_case: UseCaseArg,
    data: Annotated[Path, typer.Option(help="the new training data (CSV/Parquet)")],
    eval_data: Annotated[
        Path | None,
        typer.Option(
            "--eval",
            help="recent labelled records both models are compared on; "
            "default: the prediction log's records with outcomes",
        ),
    ] = None,
    since: Annotated[str, typer.Option(help="log window for the comparison")] = "30d",
    start_shadow: Annotated[
        bool, typer.Option("--shadow/--no-shadow", help="start the shadow stage if accepted")
    ] = True,
    json_: JsonOpt = False,
) -> None:
    """Train on new data; keep it as challenger only if it is not worse than the champion.

    Both are compared on the same recent labelled records (paired); an accepted challenger
    starts the shadow stage.

    Exit 0: accepted (challenger, shadow started). Exit 1: gates failed or worse than the champion. Exit 2: bad input.
    """
    uc = find_use_case(use_case)
    with refused(ModelNotFound, *INPUT_ERRORS, prefix=f"{uc.name}: "):
        report = run_retrain(uc, data, eval_data, since, start_shadow, log=err.print)
    for line in report["lines"]:
        out.print(line)
    if json_:
        print(json.dumps({k: v for k, v in report.items() if k != "lines"}, default=str))
    if not report["accepted"]:
        raise typer.Exit(1)


# --------------------------------------------------------------------------- printing


def write_report(path: Path, report: dict[str, Any], html: str) -> None:
    """The report as JSON at `path` and its page beside it (.html); both paths on stderr."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str))
    err.print(f"wrote {path}")
    err.print(f"wrote {write_page(path.with_suffix('.html'), html)}")


_COLOURS = {"alert": "red", "watch": "yellow", "test": "cyan", "ok": "green"}


def print_monitor(console: Console, report: dict[str, Any]) -> None:
    """`monitor`: drift per feature, realised performance per variant, alerts, retraining."""
    console.print(
        f"[bold]{report['use_case']}[/bold] model version {report['model_version']} "
        f"({report['model_tag']}): {report['rows']} rows from {report['source']}"
    )
    if report["drift"]:
        table = Table("feature", "kind", "PSI", "test", "p-value", "flag", title="drift")
        for r in report["drift"]:
            colour = _COLOURS.get(r["flag"], "white")
            table.add_row(
                r["feature"], r["kind"], fmt(r["psi"], "{:.3f}"), r["test"] or "-",
                fmt(r["p_value"], "{:.3g}"), f"[{colour}]{r['flag']}[/{colour}]",
            )  # fmt: skip
        console.print(table)
    if report["performance"]:
        table = Table("variant", "version", "n", "metric", "realised", "registered", "status",
                      title="realised performance")  # fmt: skip
        for p in report["performance"]:
            table.add_row(
                p["variant"], str(p["model_version"]), str(p["n"]), p["headline"],
                fmt(p["realised"], "{:.3f}"), fmt(p["registered"], "{:.3f}"), p["message"],
            )  # fmt: skip
        console.print(table)
    if report.get("estimated"):
        console.print(f"estimated performance: {estimate_line(report['estimated'])}")
    for note in report["notes"]:
        console.print(f"note: {note}")
    for alert in report["alerts"]:
        console.print(f"[red]ALERT[/red] {alert}")
    retrain_due = report["retrain"]
    if retrain_due["due"]:
        console.print("[yellow]retraining due:[/yellow] " + "; ".join(retrain_due["reasons"]))
    else:
        console.print("retraining not due")


def print_ab(console: Console, report: dict[str, Any]) -> None:
    """`ab analyze`: groups, lift with intervals, tests, sample ratio, by week, the verdict."""
    table = Table("group", "units", "conversions", "rate", title="groups")
    for g in report["groups"]:
        table.add_row(g["group"], str(g["n"]), str(g["conversions"]), fmt(g["rate"], "{:.4f}"))
    console.print(table)
    lift = report["lift"]
    console.print(
        f"absolute lift {lift['absolute']:+.4f} (95 % CI {lift['absolute_ci'][0]:+.4f} to "
        f"{lift['absolute_ci'][1]:+.4f}); relative {lift['relative']:+.1%} (95 % CI "
        f"{lift['relative_ci'][0]:+.1%} to {lift['relative_ci'][1]:+.1%})"
    )
    test = report["test"]
    console.print(f"two-proportion z-test: z = {test['z']:.3f}, p = {test['p_value']:.4g}")
    if report.get("sequential"):
        console.print(f"mSPRT always-valid p = {report['sequential']['p_value']:.4g}")
    srm = report["srm"]
    console.print(
        f"sample ratio check: chi-square p = {srm['p_value']:.4g} "
        f"({'MISMATCH' if srm['mismatch'] else 'ok'}; expected split {srm['expected']})"
    )
    if report.get("power") is not None:
        console.print(f"achieved power at the planned effect: {report['power']:.1%}")
    if report["weeks"]:
        table = Table("week", "units", "control rate", "treatment rate", "lift", title="by week")
        for w in report["weeks"]:
            table.add_row(
                str(w["week"]), str(w["n"]), fmt(w["control_rate"], "{:.4f}"),
                fmt(w["treatment_rate"], "{:.4f}"), fmt(w["lift"], "{:+.4f}"),
            )  # fmt: skip
        console.print(table)
    console.print(f"[bold]verdict:[/bold] {report['verdict']}")
