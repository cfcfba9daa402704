"""Governance commands: registry (the AI registry), card (a model card), approve (a second
person's approval of a version, which a high-risk promotion needs)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from shared.app.cli.common import UseCaseArg, err, fail, find_use_case, one_line, out
from shared.core.store import reports_dir
from shared.core.usecase import registry as use_cases
from shared.ops.governance.card import model_card_from_registry
from shared.ops.governance.oversight import approve as record_approval
from shared.ops.governance.registry import Undeclared, entries, render

PANEL = "Governance"
FORMATS = ("md", "csv", "json")
app = typer.Typer()


@app.command(rich_help_panel=PANEL)
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
    if format_ not in FORMATS:
        fail(f"--format {format_!r}: use md, csv or json")
    chosen = [find_use_case(n) for n in names] if names else list(use_cases().values())
    try:
        rows = entries(chosen)
    except Undeclared as exc:
        fail(str(exc), exc)
    sys.stdout.write(render(rows, format_))


@app.command(rich_help_panel=PANEL)
def card(
    use_case: UseCaseArg,
    version: Annotated[
        str | None, typer.Option(help="registered version; default champion, else challenger")
    ] = None,
) -> None:
    """Write the model card of a registered version again, with today's promotion history."""
    uc = find_use_case(use_case)
    try:
        docs, version = model_card_from_registry(uc, version)
    except LookupError as exc:
        fail(exc.args[0], exc)
    folder = reports_dir(uc.name)
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in docs.items():
        (folder / name).write_text(text)
    err.print(f"model card of {uc.name} version {version}: {folder / 'model_card.md'} (+ .html)")


@app.command(rich_help_panel=PANEL)
def approve(
    use_case: UseCaseArg,
    version: Annotated[str, typer.Option(help="the registered version approved")],
    by: Annotated[str, typer.Option("--by", help="who approves (recorded)")],
    note: Annotated[str, typer.Option(help="why: recorded with the approval")] = "",
) -> None:
    """Approve a version for promotion: who, when and why, recorded on the version.

    A high-risk use case promotes only an approved version, and only by someone other than
    the approver.
    """
    from mlflow.exceptions import MlflowException  # heavy: only when the registry is written

    uc = find_use_case(use_case)
    try:
        record_approval(uc, version, by, note)
    except (ValueError, MlflowException) as exc:
        fail(f"{uc.name}: {one_line(exc)}", exc)
    risk = uc.load_config().governance.risk_level
    out.print(f"{uc.name}: version {version} approved by {by}")
    if risk == "high":
        step = f"`pilotpack promote {uc.name} --version {version}` (or completes its rollout)"
        out.print(f"next: someone other than {by} runs {step}")
    else:
        out.print(f"(risk level {risk or 'undeclared'}: promotion does not require it)")
