"""Champion/challenger commands: promote, rollback, rollout (start, advance, hold, status)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.table import Table

from shared.app.cli.common import JsonOpt, UseCaseArg, err, fail, find_use_case, fmt, one_line, out
from shared.core.store import ModelNotFound
from shared.core.tracking import rollback as rollback_champion
from shared.ops import rollout as ro
from shared.ops.governance.oversight import promote as promote_version

PANEL = "Rollout"
ReasonOpt = Annotated[str, typer.Option("--reason", help="why: recorded in the registry")]
ByOpt = Annotated[
    str,
    typer.Option("--by", help="who does it (recorded); default $PILOTPACK_USER, else the login"),
]
SyntheticOpt = Annotated[
    bool,
    typer.Option(
        "--allow-synthetic",
        help="a model trained on synthetic data may become champion (recorded on the version)",
    ),
]
app = typer.Typer()


class Action(StrEnum):
    """The verbs of `pilotpack rollout`; stopping one is `pilotpack rollback`."""

    start = "start"
    advance = "advance"
    hold = "hold"
    status = "status"


@contextmanager
def registry_moves() -> Iterator[None]:
    """A refused move (no challenger, no previous champion, registry error) is exit 2 with one
    line; unmet criteria are the caller's to report."""
    from mlflow.exceptions import MlflowException  # heavy: only commands that move aliases

    try:
        yield
    except ro.CriteriaNotMet:
        raise
    except (ValueError, MlflowException, ModelNotFound) as exc:
        fail(one_line(exc), exc)


def _call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    with registry_moves():
        return fn(*args, **kwargs)


@app.command(rich_help_panel=PANEL)
def promote(
    use_case: UseCaseArg,
    version: Annotated[str | None, typer.Option(help="default: the challenger")] = None,
    reason: ReasonOpt = "manual promotion",
    by: ByOpt = "",
    allow_synthetic: SyntheticOpt = False,
) -> None:
    """Make a version the champion now (the old one becomes `previous`); who/when/why recorded.

    High risk: refused (exit 2) until a second person approved it (`pilotpack approve`).
    """
    uc = find_use_case(use_case)
    old, new = _call(promote_version, uc, version, reason, by, allow_synthetic)
    out.print(f"{uc.name}: champion is now version {new} (previous: {old or 'none'})")
    out.print("running services switch within a few seconds (rollout.refresh_s)")


@app.command(rich_help_panel=PANEL)
def rollback(use_case: UseCaseArg, reason: ReasonOpt = "manual rollback") -> None:
    """Stop an active rollout (the champion serves all), else put the previous champion back."""
    uc = find_use_case(use_case)
    state, _ = _call(ro.read_state, uc.name)
    if state.active:
        _call(ro.abort, uc.name, reason)
        out.print(f"{uc.name}: rollout of version {state.version} rolled back; champion serves all")
        return
    demoted, champion = _call(rollback_champion, uc.name, reason)
    out.print(f"{uc.name}: champion is version {champion} again (version {demoted} rolled back)")


@app.command(rich_help_panel=PANEL)
def rollout(
    use_case: UseCaseArg,
    action: Annotated[Action, typer.Argument(help="start | advance | hold | status")],
    version: Annotated[str | None, typer.Option(help="start: default the challenger")] = None,
    force: Annotated[
        bool, typer.Option("--force", help="advance although criteria fail (recorded)")
    ] = False,
    reason: ReasonOpt = "",
    by: ByOpt = "",
    allow_synthetic: SyntheticOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Roll a challenger out: shadow, then growing canary stages, then champion.

    `pilotpack rollback` stops a rollout. High risk: the last `advance` is refused (exit 2)
    until a second person approved the version (`pilotpack approve`).
    """
    uc = find_use_case(use_case)
    if action is Action.start:
        state = _call(ro.start, uc, version, by, reason, allow_synthetic)
        out.print(
            f"{uc.name}: rollout of version {state.version} started at stage "
            f"{ro.stage_label(state.current)} (champion {state.champion}; stages "
            f"{', '.join(ro.stage_label(s) for s in state.stages)})"
        )
    elif action is Action.advance:
        try:
            state = _call(ro.advance, uc, force, who=by, reason=reason)
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
    elif action is Action.hold:
        state = _call(ro.hold, uc, who=by, reason=reason or "held")
        out.print(f"{uc.name}: held at stage {ro.stage_label(state.current)}: {state.reason}")
    else:
        report = _call(ro.status, uc)
        print_rollout(report)
        if json_:
            print(json.dumps(report, default=str))


def print_rollout(report: dict[str, Any]) -> None:
    """`rollout status`: the stage, each variant's figures, the criteria, the recommendation."""
    head = f"{report['use_case']}: rollout {report['status']}"
    if report["version"]:
        head += f", version {report['version']} vs champion {report['champion']}"
    if report["stage"]:
        head += f", stage {report['stage']} of {' > '.join(report['stages'])}"
    out.print(head)
    if report["variants"]:
        table = Table("variant", "version", "requests", "errors", "scoring p50 ms",
                      "scoring p99 ms", "mean score", "outcomes", "outcome mse")  # fmt: skip
        for name, v in report["variants"].items():
            table.add_row(
                name,
                ",".join(v.get("versions", [])),
                str(v.get("requests", 0)),
                str(v.get("errors", 0)),
                fmt(v.get("scoring_p50_ms")),
                fmt(v.get("scoring_p99_ms")),
                fmt(v.get("mean_score"), "{:.4f}"),
                str(v.get("outcomes", 0)),
                fmt(v.get("outcome_mse"), "{:.4f}"),
            )
        out.print(table)
    if report.get("psi") is not None:
        out.print(f"score shift (PSI, {report.get('candidate')} vs champion): {report['psi']:.3f}")
    for flag in report.get("flags", []):
        out.print(f"[red]FLAG[/red] {flag}")
    if report.get("estimated_auc"):  # CBPE, before outcomes (shared/core/performance.py)
        est = ", ".join(f"{k} {fmt(v, '{:.3f}')}" for k, v in report["estimated_auc"].items())
        out.print(f"estimated ROC AUC (CBPE, no outcomes needed; blind to concept drift): {est}")
    for c in report["criteria"]:
        out.print(f"  [{'green]ok' if c['ok'] else 'red]no'}[/] {c['name']}: {c['detail']}")
    if report["recommendation"]:
        out.print(f"recommendation: [bold]{report['recommendation']}[/bold]")
    for r in report["reasons"]:
        out.print(f"  - {r}")
