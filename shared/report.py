"""Human-readable output of a training run: rich tables for the terminal, JSON + Markdown files."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.table import Table

from shared.paths import reports_dir


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.4f}" if abs(v) < 10 else f"{v:,.0f}"
    return str(v)


def candidates_table(result: Any) -> Table:
    t = Table(
        "candidate",
        "CV AUC",
        "valid AUC",
        "test AUC (95 % CI)",
        "PR AUC",
        "Brier",
        "profit at its threshold",
        title=f"{result.use_case}: candidates on the same test part (chosen: {result.chosen})",
    )
    for c in result.candidates:
        lo, hi = c["test_roc_auc_ci"]
        first_money = next((k for k in c["test_kpis"] if k.endswith(("_eur", "_usd"))), None)
        t.add_row(
            c["name"],
            _fmt(c["cv_roc_auc"]),
            _fmt(c["valid_roc_auc"]),
            f"{c['test_roc_auc']:.3f} ({lo:.3f}-{hi:.3f})",
            _fmt(c["test_pr_auc"]),
            _fmt(c["test_brier"]),
            _fmt(c["test_kpis"][first_money]) if first_money else "",
        )
    return t


def kpi_table(result: Any) -> Table:
    t = Table(
        "KPI (test part)",
        "value",
        title=f"{result.use_case}: business KPIs at threshold {result.threshold}",
    )
    for k, v in result.kpis.items():
        t.add_row(k, _fmt(v))
    return t


def _is_forecast(result: Any) -> bool:
    return getattr(result, "task", "") == "forecast"


def result_tables(result: Any) -> list[Table]:
    if _is_forecast(result):
        from shared.forecast import report as forecast_report

        return forecast_report.result_tables(result)
    return [candidates_table(result), kpi_table(result)]


def _headline(r: Any) -> tuple[str, str]:
    """The two quality figures of the demo table: ROC / PR AUC, or MASE / WAPE for forecasts."""
    if _is_forecast(r):
        from shared.forecast.report import headline

        return headline(r)
    return f"ROC AUC {r.metrics['roc_auc']:.3f}", f"PR AUC {r.metrics['pr_auc']:.3f}"


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
            *_headline(r),
            f"{money} = {_fmt(r.kpis[money])}" if money else "",
            f"{r.parity.max_abs_diff:.1e}",
            "passed" if r.gates_passed else "FAILED",
            r.bento_tag or "-",
        )
    return t


def markdown(result: Any) -> str:
    if _is_forecast(result):
        from shared.forecast import report as forecast_report

        return forecast_report.markdown(result)
    lines = [
        f"# {result.use_case}: training report",
        "",
        f"Chosen model: **{result.chosen}**, threshold {result.threshold}, "
        f"MLflow version {result.model_version or '-'}, BentoML tag `{result.bento_tag or '-'}`.",
        "",
        "## Candidates (same test part)",
        "",
        "| candidate | CV AUC | valid AUC | test AUC | 95 % CI | PR AUC | Brier |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in result.candidates:
        lo, hi = c["test_roc_auc_ci"]
        lines.append(
            f"| {c['name']} | {c['cv_roc_auc']:.3f} | {c['valid_roc_auc']:.3f} | {c['test_roc_auc']:.3f} "
            f"| {lo:.3f}-{hi:.3f} | {c['test_pr_auc']:.3f} | {c['test_brier']:.4f} |"
        )
    lines += ["", "## KPIs (test part)", "", "| KPI | value |", "|---|---|"]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in result.kpis.items()]
    lines += [
        "",
        "## Lift by decile (test part)",
        "",
        "| decile | rate | lift | cumulative gain |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r['decile']} | {r['rate']:.3f} | {r['lift']:.2f} | {r['cumulative_gain']:.2f} |"
        for r in result.lift
    ]
    lines += [
        "",
        "## Calibration (test part)",
        "",
        "| bin | n | mean predicted | observed |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r['bin_low']:.1f}-{r['bin_high']:.1f} | {r['n']} | {r['mean_predicted']:.3f} | {r['observed_rate']:.3f} |"
        for r in result.calibration
    ]
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


def write_report(result: Any) -> Path:
    """reports/<use case>/report.{json,md}; returns the Markdown path."""
    folder = reports_dir(result.use_case)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(json.dumps(result.report(), indent=2, default=str))
    path = folder / "report.md"
    path.write_text(markdown(result))
    return path
