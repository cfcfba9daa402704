"""Human-readable output of a training run: rich tables for the terminal, JSON + Markdown files.

The common parts (split, gates, parity, lineage) are written here; each task adds its own
sections (`Task.report_tables`, `Task.markdown`, `Task.headline`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.table import Table

from shared.core.store import reports_dir
from shared.ops.governance.card import (
    CARD_HTML,
    CARD_MD,
    card_html,
    card_markdown,
    fairness_markdown,
    importance_markdown,
    promotion_history,
)
from shared.ops.governance.html_report import render
from shared.tasks import get_task


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.4f}" if abs(v) < 10 else f"{v:,.0f}"
    return str(v)


def split_lines(split: dict[str, Any]) -> list[str]:
    """The split kind, the size of each part and, where the data has them, its dates/entities."""
    lines = [f"- kind: `{split.get('kind', '-')}`"]
    for part in ("train", "valid", "test"):
        if part in split:
            text = f"- {part}: {split[part]} rows"
            if f"{part}_range" in split:
                lo, hi = split[f"{part}_range"]
                text += f", {lo} to {hi}"
            if f"{part}_entities" in split:
                text += f", {split[f'{part}_entities']} entities"
            lines.append(text)
    lines += [
        f"- {k}: {v}"
        for k, v in split.items()
        if k != "kind" and not k.startswith(("train", "valid", "test"))
    ]
    return lines


def split_table(result: Any) -> Table:
    t = Table("split", "value", title=f"{result.use_case}: how the data was split")
    for line in split_lines(result.split):
        key, _, value = line.removeprefix("- ").partition(": ")
        t.add_row(key, value)
    return t


def result_tables(result: Any) -> list[Table]:
    return [split_table(result), *get_task(result.task).training.report_tables(result)]


def summary_table(results: Sequence[Any]) -> Table:
    t = Table(
        "use case",
        "model",
        "quality",
        "quality 2",
        "main KPI",
        "parity",
        "gates",
        "model tag",
        title="pilotpack demo",
    )
    for r in results:
        money = next((k for k in r.kpis if k.endswith(("_eur", "_usd"))), None)
        t.add_row(
            r.use_case,
            r.chosen,
            *get_task(r.task).training.headline(r),
            f"{money} = {_fmt(r.kpis[money])}" if money else "",
            f"{r.parity.max_abs_diff:.1e}",
            "passed" if r.gates_passed else "FAILED",
            r.bento_tag or "-",
        )
    return t


def markdown(result: Any) -> str:
    lines = [
        f"# {result.use_case}: training report",
        "",
        f"Task `{result.task}`. Chosen model: **{result.chosen}**, MLflow version "
        f"{result.model_version or '-'}, BentoML tag `{result.bento_tag or '-'}`"
        + ("" if result.registered else " (not registered: an experiment, not served)")
        + ".",
        "",
        "## Split",
        "",
        *split_lines(result.split),
        "",
        *get_task(result.task).training.markdown(result),
    ]
    lines += governance_lines(result)
    gates = "passed" if result.gates_passed else "FAILED: " + "; ".join(result.gate_reasons)
    lines += [
        "",
        "## Gates and parity",
        "",
        f"- gates: {gates}",
        f"- {result.parity.describe()}",
        f"- validation: {result.validation.to_text()}",
        "",
        "## Lineage",
        "",
    ]
    lines += [f"- {k}: `{v}`" for k, v in result.lineage.items()]
    return "\n".join(lines) + "\n"


def governance_lines(result: Any) -> list[str]:
    """Fairness by sensitive column and the global explanation, when the run has them."""
    d = result.details
    lines = fairness_markdown(d["fairness"]) if "fairness" in d else []
    lines += importance_markdown(d.get("global_importance") or {})
    return lines


def documents(uc: Any, cfg: Any, result: Any) -> dict[str, str]:
    """report.md, report.html (plots embedded) and the model card (Markdown + HTML)."""
    history = promotion_history(uc.name) if result.registered else []
    md = markdown(result)
    card = card_markdown(uc, cfg, result.report(), history)
    title = f"Model card: {uc.name} {result.model_version or ''}".strip()
    return {
        "report.md": md,
        "report.html": render(uc, cfg, result, result.governance, md),
        CARD_MD: card,
        CARD_HTML: card_html(card, title),
    }


def write_report(result: Any, uc: Any = None, cfg: Any = None) -> Path:
    """reports/<use case>/report.{json,md,html} and model_card.{md,html}; returns the Markdown
    path. An untracked run's documents are made here (it needs the use case and config)."""
    folder = reports_dir(result.use_case)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(json.dumps(result.report(), indent=2, default=str))
    docs = result.documents
    if not docs and uc is not None and cfg is not None:
        docs = documents(uc, cfg, result)
    for name, text in (docs or {"report.md": markdown(result)}).items():
        (folder / name).write_text(text)
    return folder / "report.md"
