"""Human-readable output of a forecasting run: rich tables and the report's task sections.

The common parts (title, split, gates, parity, lineage) are written by shared/ops/report.py.
"""

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


def _savings_key(kpis: dict[str, float]) -> str | None:
    return next((k for k in kpis if k.startswith("savings") and k.endswith("_pct")), None)


def _bounds(m: dict[str, Any], metric: str, digits: int) -> str:
    """ " [lo, hi]": the 95 % bootstrap interval over series x windows, when there is one."""
    iv = (m.get("interval_95") or {}).get(metric)
    return f" [{iv[0]:.{digits}f}, {iv[1]:.{digits}f}]" if iv else ""


def _row(m: dict[str, Any]) -> list[str]:
    x, k = m["metrics"], m["kpis"]
    money, savings = _money_key(k), _savings_key(k)
    return [
        m["name"],
        m["kind"],
        f"{x['mase']:.3f}" + _bounds(m, "mase", 3),
        f"{x['wape']:.4f}" + _bounds(m, "wape", 4),
        f"{x['smape']:.4f}",
        f"{x['bias']:+.4f}",
        _fmt(k[money]) if money else "",
        f"{k[savings]:+.1f} %" if savings else "",
    ]


def coverage_text(cov: dict[str, Any]) -> list[str]:
    if "reason" in cov:
        return [f"- coverage {cov['reason']}"]
    return [f"- {lv} %: empirical coverage {v:.3f}" for lv, v in cov.items()]


def models_table(result: Any) -> Table:
    bt = result.backtest
    t = Table(
        "model", "kind", "MASE", "WAPE", "sMAPE", "bias", "forecast cost",
        f"savings vs {result.baseline}",
        title=f"{result.use_case}: rolling-origin backtest, {bt['windows']} window(s) x "
        f"{bt['horizon']} steps (chosen: {result.chosen})",
    )  # fmt: skip
    for m in result.candidates:
        t.add_row(*_row(m))
    return t


def steps_table(result: Any) -> Table:
    name, base = result.chosen_servable, result.baseline
    rows = {m["name"]: m["by_step"] for m in result.candidates}
    t = Table(
        "step", f"{name} MASE", f"{base} MASE", f"{name} WAPE", f"{base} WAPE",
        title=f"{result.use_case}: by horizon step",
    )  # fmt: skip
    for mine, ref in zip(rows[name], rows[base], strict=True):
        t.add_row(
            str(mine["step"]),
            f"{mine['mase']:.3f}",
            f"{ref['mase']:.3f}",
            f"{mine['wape']:.4f}",
            f"{ref['wape']:.4f}",
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
    cov = result.interval_coverage
    if "reason" in cov:
        t.add_row("interval coverage", cov["reason"])
    for level, v in cov.items():
        if level != "reason" and not isinstance(v, str):
            t.add_row(f"{level} % interval coverage ({result.intervals['model']})", _fmt(v))
    t.add_row(f"WAPE gain vs {result.baseline}, %", f"{result.wape_gain_pct:.1f}")
    t.add_row("backtest wall time, s", _fmt(result.backtest["seconds"]))
    return t


def _win_sentence(win: dict[str, Any] | None) -> str:
    """How the candidate beat (or did not beat) the baseline: margin and paired test."""
    if not win:
        return ""
    test = (
        f" one-sided paired {win['test']} test over {win['pairs']} series x windows: "
        f"p = {win['p_value']:.3g} ({'wins' if win['by_test'] else 'no win'});"
        if win["test"] != "none"
        else ""
    )
    margin = "above" if win["by_margin"] else "not above"
    return f" Against the baseline:{test} WAPE gain {margin} the margin."


def class_lines(by_class: dict[str, Any], routes: dict[str, Any] | None) -> list[str]:
    """Per demand class (ADI / CV², Syntetos-Boylan): each model's errors and zero shares."""
    if not by_class:
        return []
    lines = [
        "",
        "## By demand class (ADI / CV² of each series' history at the cut-off)",
        "",
        "| model | class | series x windows | MASE | WAPE | bias | zero forecasts | zero actuals |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, classes in by_class.items():
        lines += [
            f"| {name} | {c} | {v['series']} | {v['mase']:.3f} | {v['wape']:.4f} | "
            f"{v['bias']:+.4f} | {v['zero_forecast_share']:.3f} | {v['zero_actual_share']:.3f} |"
            for c, v in classes.items()
        ]
    if routes:
        lines += [
            "",
            "Routes of the ensemble, chosen on earlier windows only: "
            + "; ".join(
                f"{b['cutoff']}: "
                + (", ".join(f"{k} -> {v}" for k, v in b.items() if k != "cutoff") or "none")
                for b in routes["by_window"]
            )
            + "; served: "
            + (", ".join(f"{k} -> {v}" for k, v in routes["routes"].items()) or "none")
            + ".",
        ]
    return lines


def result_tables(result: Any) -> list[Table]:
    return [models_table(result), steps_table(result), kpi_table(result)]


def headline(result: Any) -> tuple[str, str]:
    return f"MASE {result.metrics['mase']:.3f}", f"WAPE {result.metrics['wape']:.3f}"


def markdown(result: Any) -> list[str]:
    """The report's forecasting sections, as Markdown lines."""
    bt = result.backtest
    ens = result.details.get("ensemble")
    lines = [
        f"Rolling-origin backtest ({bt['freq']}, season {bt['season']}, gaps `{bt['gaps']}`): "
        f"{bt['windows']} window(s) of {bt['horizon']} steps, cut-offs {', '.join(bt['cutoffs'])}; "
        f"series scored per window {bt['series_scored']}, cells scored {bt['cells_scored']} "
        f"(not observed, not scored: {bt['cells_not_observed']}); wall time {bt['seconds']} s.",
        "",
        f"Gates compare against **{result.baseline}** (config gates.baseline: "
        f"{result.gates_baseline}; the best baseline = lowest backtest MASE)."
        + (
            " The ensemble is a weighted mean of its members; each window's weights were "
            "chosen on the earlier windows only ("
            + "; ".join(
                f"{b['cutoff']}: "
                + ", ".join(
                    f"{k} {v:g}" for k, v in b.items() if k not in ("cutoff", "chosen_on") and v
                )
                for b in ens["by_window"]
            )
            + "); served with "
            + ", ".join(f"{k} {v:g}" for k, v in ens["weights"].items())
            + ", chosen on every window."
            if ens
            else ""
        ),
        "",
        "## Every model (all windows pooled)",
        "",
        "MASE and WAPE with [the 95 % bootstrap interval over series x windows].",
        "",
        f"| model | kind | MASE | WAPE | sMAPE | bias | forecast cost | savings vs {result.baseline} |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(_row(m)) + " |" for m in result.candidates]
    lines += [
        "",
        f"WAPE gain of {result.chosen_servable} vs {result.baseline}: "
        f"**{result.wape_gain_pct:.1f} %**; MASE gain: {result.mase_gain_pct:.1f} %."
        + _win_sentence(result.details.get("baseline_win")),
        "",
        "## By horizon step",
        "",
        "| model | step | MASE | WAPE | sMAPE | bias |",
        "|---|---|---|---|---|---|",
    ]
    for m in result.candidates:
        lines += [
            f"| {m['name']} | {s['step']} | {s['mase']:.3f} | {s['wape']:.4f} | {s['smape']:.4f} "
            f"| {s['bias']:+.4f} |"
            for s in m["by_step"]
        ]
    lines += ["", "## By window", "", "| model | cut-off | MASE | WAPE |", "|---|---|---|---|"]
    for m in result.candidates:
        lines += [
            f"| {m['name']} | {w['cutoff']} | {w['mase']:.3f} | {w['wape']:.4f} |"
            for w in m["by_window"]
        ]
    lines += class_lines(result.details.get("by_class") or {}, result.details.get("class_routes"))
    iv = result.intervals
    lines += ["", f"## Prediction intervals ({iv['model']})", "", iv.get("method", ""), ""]
    lines += coverage_text(result.interval_coverage)
    lines += ["", "## KPIs (backtests)", "", "| KPI | value |", "|---|---|"]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in result.kpis.items()]
    lines += [
        "",
        "## Data",
        "",
        f"- panel: {result.panel}",
        f"- excluded per window: {bt['excluded']}; fallback series per window: "
        f"{bt['fallback_series']}",
    ]
    return lines
