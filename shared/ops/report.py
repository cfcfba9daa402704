"""Human-readable output of a training run: rich tables for the terminal, JSON + Markdown files.

The common parts (split, gates, parity, lineage) are written here; each task adds its own
sections (`Task.report_tables`, `Task.markdown`, `Task.headline`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from shared.core.columns import sensitive_columns, sensitive_inputs
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
from shared.ops.governance.fairness import assess_fairness
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


def parts_lines(parts: dict[str, Any]) -> list[str]:
    """Label rate (or target mean) per part, the inputs that drift most from train to test,
    identical rows across parts, and the split's warnings."""
    if not parts:
        return []
    rate_key = "label_rate" if "label_rate" in parts else "target_mean"
    rates = parts[rate_key]
    shown = (
        " / ".join(f"{100 * rates[p]:.1f} %" for p in ("train", "valid", "test"))
        if rate_key == "label_rate"
        else " / ".join(_fmt(float(rates[p])) for p in ("train", "valid", "test"))
    )
    top = ", ".join(f"{c} {v:.3f}" for c, v in parts["psi_train_test_top5"].items())
    lines = [
        f"- {rate_key.replace('_', ' ')} (train / valid / test): {shown}",
        f"- PSI train to test, top 5 inputs: {top or '-'}",
    ]
    if "identical_rows_across_parts" in parts:
        lines += [
            f"- rows repeating an earlier row's inputs: {parts['repeated_input_rows']}",
            f"- identical rows across parts: {parts['identical_rows_across_parts']}",
        ]
    return lines + [f"- warning: {w}" for w in parts.get("warnings", [])]


def sensitive_costs(task: Any, uc: Any, cfg: Any, fit: Any) -> dict[str, Any]:
    """What leaving out each sensitive column costs: the chosen recipe refitted with it, its
    test ROC AUC, money KPI and fairness gaps beside the same recipe without it.

    Only columns the model does not read, and only for tasks that can refit a variant (a
    classifier with its test rows in `fit.state`); one extra fit per column, no search.
    """
    variants = getattr(task, "sensitive_variants", None)
    raw = fit.state.get("raw")
    if variants is None or raw is None or fit.details.get("threshold") is None:
        return {}
    used = set(sensitive_inputs(uc))
    columns = [c for c in sensitive_columns(uc) if c in raw and c not in used]
    if not columns:
        return {}
    fits = variants(uc, cfg, fit, columns)
    split = fit.state["split"]
    y_test = np.asarray(uc.labels(raw))[split.test]
    raw_test = raw.iloc[split.test].reset_index(drop=True)
    without = fits.pop("")
    money = next((k for k in without["kpis"] if k.endswith(("_eur", "_usd"))), None)
    out: dict[str, Any] = {}
    for name, with_it in fits.items():
        row: dict[str, Any] = {}
        for label, v in (("without", without), ("with", with_it)):
            row |= {
                f"roc_auc_{label}": round(v["roc_auc"], 4),
                f"pr_auc_{label}": round(v["pr_auc"], 4),
                f"threshold_{label}": v["threshold"],
            }
            if name in columns:  # fairness across the groups of that one column
                gaps = assess_fairness(
                    raw_test, [name], y_test, v["test_pred"], v["threshold"], cfg.fairness
                )["by_column"].get(name, {})
                dp, eo = "demographic_parity_difference", "equalized_odds_difference"
                row[f"dp_difference_{label}"] = round(gaps.get(dp, 0.0), 4)
                row[f"eo_difference_{label}"] = round(gaps.get(eo, 0.0), 4)
            if money:
                row[f"{money}_{label}"] = round(float(v["kpis"][money]), 2)
        row["roc_auc_cost"] = round(row["roc_auc_with"] - row["roc_auc_without"], 4)
        if money:
            row["kpi"] = money
            row["kpi_cost"] = round(row[f"{money}_with"] - row[f"{money}_without"], 2)
        out[name] = row
    return out


def _gaps(r: dict[str, Any], key: str) -> str:
    """A fairness gap without / with, or '-' for the row of all columns together."""
    if f"{key}_without" not in r:
        return "-"
    return f"{r[f'{key}_without']:.3f} / {r[f'{key}_with']:.3f}"


def sensitive_lines(costs: dict[str, Any]) -> list[str]:
    """The report's table: each sensitive column's price, as ROC AUC, money KPI and fairness."""
    if not costs:
        return []
    kpi = next((r["kpi"] for r in costs.values() if "kpi" in r), None)
    lines = [
        "",
        "## What leaving out each sensitive column costs (test part)",
        "",
        "The chosen model's family and tuned parameters, fitted on the training part without "
        "the sensitive columns, then with one added (threshold from validation profit each "
        "time); with two or more, the last row adds them all. A positive cost is what the model would gain by "
        "reading the column; the fairness gaps (by that column's groups) say what reading it "
        "would do to the groups.",
        "",
        "| column | ROC AUC without / with (cost) | "
        + (f"{kpi} without / with (cost) | " if kpi else "")
        + "parity difference without / with | equalized odds difference without / with |",
        "|---|---|" + ("---|" if kpi else "") + "---|---|",
    ]
    for col, r in costs.items():
        cells = [
            col,
            f"{r['roc_auc_without']:.3f} / {r['roc_auc_with']:.3f} ({r['roc_auc_cost']:+.3f})",
        ]
        if kpi:
            cells.append(
                f"{_fmt(r[f'{kpi}_without'])} / {_fmt(r[f'{kpi}_with'])} ({r['kpi_cost']:+,.0f})"
            )
        cells += [_gaps(r, "dp_difference"), _gaps(r, "eo_difference")]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def parts_table(result: Any) -> Table | None:
    parts = result.details.get("parts")
    if not parts:
        return None
    t = Table("parts", "value", title=f"{result.use_case}: label rate and drift by part")
    for line in parts_lines(parts):
        key, _, value = line.removeprefix("- ").partition(": ")
        t.add_row(key, value)
    return t


def sensitive_table(result: Any) -> Table | None:
    costs = result.details.get("sensitive_cost") or {}
    if not costs:
        return None
    t = Table(
        "column",
        "ROC AUC without / with",
        "KPI without / with",
        "parity diff without / with",
        "eq. odds diff without / with",
        title=f"{result.use_case}: what leaving out each sensitive column costs (test part)",
    )
    for col, r in costs.items():
        kpi = r.get("kpi")
        t.add_row(
            col,
            f"{r['roc_auc_without']:.3f} / {r['roc_auc_with']:.3f} ({r['roc_auc_cost']:+.3f})",
            f"{kpi}: {_fmt(r[f'{kpi}_without'])} / {_fmt(r[f'{kpi}_with'])}" if kpi else "-",
            _gaps(r, "dp_difference"),
            _gaps(r, "eo_difference"),
        )
    return t


def split_table(result: Any) -> Table:
    t = Table("split", "value", title=f"{result.use_case}: how the data was split")
    for line in split_lines(result.split):
        key, _, value = line.removeprefix("- ").partition(": ")
        t.add_row(key, value)
    return t


def result_tables(result: Any) -> list[Table]:
    extra = [t for t in (parts_table(result), sensitive_table(result)) if t is not None]
    return [split_table(result), *extra, *get_task(result.task).training.report_tables(result)]


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
        *parts_lines(result.details.get("parts") or {}),
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
    lines += sensitive_lines(d.get("sensitive_cost") or {})
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
