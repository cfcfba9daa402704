"""Human-readable output of a forecasting run: rich tables and the Markdown report."""

from __future__ import annotations

from typing import Any

from rich.table import Table


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.4f}" if abs(v) < 10 else f"{v:,.0f}"
    return str(v)


def _money_key(kpis: dict[str, float]) -> str | None:
    """The model's own cost: the first money KPI naming a cost (else the first money KPI)."""
    money = [k for k in kpis if k.endswith(("_eur", "_usd"))]
    return next((k for k in money if "cost" in k), money[0] if money else None)


def models_table(result: Any) -> Table:
    t = Table(
        "model",
        "MASE",
        "WAPE",
        "sMAPE",
        "bias",
        "forecast cost",
        "savings vs seasonal naive",
        title=f"{result.use_case}: rolling-origin backtest, {result.backtest['windows']} window(s) x "
        f"{result.backtest['horizon']} steps (chosen: {result.chosen})",
    )
    for m in result.models:
        x, k = m["metrics"], m["kpis"]
        money = _money_key(k)
        savings = next(
            (key for key in k if key.startswith("savings") and key.endswith("_pct")), None
        )
        t.add_row(
            m["name"],
            f"{x['mase']:.3f}",
            f"{x['wape']:.4f}",
            f"{x['smape']:.4f}",
            f"{x['bias']:+.4f}",
            _fmt(k[money]) if money else "",
            f"{k[savings]:+.1f} %" if savings else "",
        )
    return t


def steps_table(result: Any) -> Table:
    name = result.model_name
    rows = {m["name"]: m["by_step"] for m in result.models}
    t = Table(
        "step",
        f"{name} MASE",
        f"{result.baseline} MASE",
        f"{name} WAPE",
        f"{result.baseline} WAPE",
        title=f"{result.use_case}: by horizon step",
    )
    for mine, base in zip(rows[name], rows[result.baseline], strict=True):
        t.add_row(
            str(mine["step"]),
            f"{mine['mase']:.3f}",
            f"{base['mase']:.3f}",
            f"{mine['wape']:.4f}",
            f"{base['wape']:.4f}",
        )
    return t


def kpi_table(result: Any) -> Table:
    t = Table(
        "KPI (backtests)",
        "value",
        title=f"{result.use_case}: cost of forecast errors ({result.chosen})",
    )
    for k, v in result.kpis.items():
        t.add_row(k, _fmt(v))
    cov = result.intervals.get("coverage", {})
    for level, v in cov.items():
        t.add_row(f"{level} % interval coverage ({result.model_name})", _fmt(v))
    t.add_row("WAPE gain vs seasonal naive, %", f"{result.wape_gain_vs_seasonal_naive_pct:.1f}")
    t.add_row("backtest wall time, s", _fmt(result.backtest["seconds"]))
    return t


def result_tables(result: Any) -> list[Table]:
    return [models_table(result), steps_table(result), kpi_table(result)]


def headline(result: Any) -> tuple[str, str]:
    return f"MASE {result.metrics['mase']:.3f}", f"WAPE {result.metrics['wape']:.3f}"


def markdown(result: Any) -> str:
    bt = result.backtest
    lines = [
        f"# {result.use_case}: training report",
        "",
        f"Chosen model: **{result.chosen}**, MLflow version {result.model_version or '-'}, "
        f"BentoML tag `{result.bento_tag or '-'}`.",
        "",
        f"Rolling-origin backtest: {bt['windows']} window(s) of {bt['horizon']} steps, cut-offs "
        f"{', '.join(bt['cutoffs'])}; series scored per window {bt['series_scored']}; "
        f"wall time {bt['seconds']} s.",
        "",
        "## Every model (all windows pooled)",
        "",
        "| model | MASE | WAPE | sMAPE | bias | forecast cost | savings vs seasonal naive |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in result.models:
        x, k = m["metrics"], m["kpis"]
        money = _money_key(k)
        savings = next(
            (key for key in k if key.startswith("savings") and key.endswith("_pct")), None
        )
        lines.append(
            f"| {m['name']} | {x['mase']:.3f} | {x['wape']:.4f} | {x['smape']:.4f} | {x['bias']:+.4f} "
            f"| {_fmt(k[money]) if money else ''} | {f'{k[savings]:+.1f} %' if savings else ''} |"
        )
    lines += [
        "",
        f"WAPE gain of {result.model_name} vs {result.baseline}: "
        f"**{result.wape_gain_vs_seasonal_naive_pct:.1f} %**; MASE gain: "
        f"{result.mase_gain_vs_seasonal_naive_pct:.1f} %.",
        "",
        "## By horizon step",
        "",
        "| model | step | MASE | WAPE | sMAPE | bias |",
        "|---|---|---|---|---|---|",
    ]
    for m in result.models:
        for s in m["by_step"]:
            lines.append(
                f"| {m['name']} | {s['step']} | {s['mase']:.3f} | {s['wape']:.4f} | {s['smape']:.4f} | {s['bias']:+.4f} |"
            )
    lines += ["", "## By window", "", "| model | cut-off | MASE | WAPE |", "|---|---|---|---|"]
    for m in result.models:
        lines += [
            f"| {m['name']} | {w['cutoff']} | {w['mase']:.3f} | {w['wape']:.4f} |"
            for w in m["by_window"]
        ]
    iv = result.intervals
    lines += ["", f"## Prediction intervals ({result.model_name})", "", iv.get("method", ""), ""]
    lines += [
        f"- {lv} %: empirical coverage {cov:.3f}" for lv, cov in iv.get("coverage", {}).items()
    ]
    lines += ["", "## KPIs (backtests)", "", "| KPI | value |", "|---|---|"]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in result.kpis.items()]
    gates = "passed" if result.gates_passed else "FAILED: " + "; ".join(result.gate_reasons)
    lines += [
        "",
        "## Gates, parity, data",
        "",
        f"- gates: {gates}",
        f"- {result.parity.describe()}",
        f"- validation: {result.validation.to_text()}",
        f"- panel: {result.panel.to_dict()}",
        f"- excluded per window: {bt['excluded']}; fallback series per window: {bt['fallback_series']}",
        "",
        "## Lineage",
        "",
    ]
    lines += [f"- {k}: `{v}`" for k, v in result.lineage.items()]
    return "\n".join(lines) + "\n"
