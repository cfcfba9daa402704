"""The training report as one self-contained HTML page: matplotlib plots embedded as base64
PNG (no file beside it, no network), then the Markdown report's tables.

Sections, as far as the task has them: candidates side by side; ROC and PR curves with
bootstrap 95 % bands; calibration; lift and cumulative gain; profit against the threshold
with the chosen one marked, and the use case's cost and rate per 1,000 rows against it where
it reports them; predicted against actual (regression); forecast model comparison, error by
horizon step and fan charts of sample series; fairness by group; global explanations.
"""

from __future__ import annotations

import base64
import html
import io
import re
from typing import Any

import numpy as np

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{border-bottom:2px solid #446;padding-bottom:.2em}h2{margin-top:1.6em;color:#335}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}td,th{border:1px solid #ccd;
padding:.25em .6em;text-align:left}th{background:#eef}figure{margin:1em 0}
figure img{max-width:100%;border:1px solid #dde}figcaption{color:#555;font-size:.9em}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:1em}
code{background:#f4f4f8;padding:0 .2em}
"""


# --------------------------------------------------------------------------- Markdown -> HTML


def _inline(text: str) -> str:
    t = html.escape(text, quote=False)
    t = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", t)
    t = re.sub(r"`(.+?)`", r"<code>\1</code>", t)
    return re.sub(r"\[(.+?)\]\((.+?)\)", r'<a href="\2">\1</a>', t)


def md_to_html(md: str) -> str:
    """The Markdown this pack writes (headings, lists, pipe tables, paragraphs) as HTML."""
    out: list[str] = []
    lines = md.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{_inline(line[level:].strip())}</h{level}>")
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append([c.strip() for c in lines[i].strip().strip("|").split("|")])
                i += 1
            body = [r for r in rows[1:] if not all(set(c) <= set("-: ") for c in r)]
            out.append("<table><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in rows[0]))
            out += ["<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in body]
            out.append("</table>")
            continue
        elif line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(f"<li>{_inline(lines[i][2:])}</li>")
                i += 1
            out.append("<ul>" + "".join(items) + "</ul>")
            continue
        elif line.strip():
            out.append(f"<p>{_inline(line)}</p>")
        i += 1
    return "\n".join(out)


def page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        '<link rel="icon" href="data:,">'  # no request for /favicon.ico: no console error
        f"<style>{STYLE}</style></head><body>\n{body}\n</body></html>\n"
    )


# --------------------------------------------------------------------------- figures


def _figure(draw: Any, caption: str, size: tuple[float, float] = (6.0, 4.0)) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=size, dpi=90)
    try:
        draw(ax)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        # tight_layout leaves a placeholder layout engine, and savefig then lays the figure out
        # once more (a full draw without rendering, ~12 of a figure's ~74 ms) for the same PNG
        fig.set_layout_engine(None)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
    finally:
        plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode()
    alt = html.escape(caption)
    return (
        f'<figure><img alt="{alt}" src="data:image/png;base64,{data}">'
        f"<figcaption>{alt}</figcaption></figure>"
    )


def _roc_band(y: np.ndarray, p: np.ndarray, grid: np.ndarray, n: int, seed: int, pr: bool) -> Any:
    from sklearn.metrics import precision_recall_curve, roc_curve

    rng = np.random.default_rng(seed)
    curves = []
    for _ in range(n):
        i = rng.integers(0, len(y), len(y))
        if len(np.unique(y[i])) < 2:
            continue
        if pr:
            prec, rec, _ = precision_recall_curve(y[i], p[i])
            curves.append(np.interp(grid, rec[::-1], prec[::-1]))
        else:
            fpr, tpr, _ = roc_curve(y[i], p[i])
            curves.append(np.interp(grid, fpr, tpr))
    c = np.array(curves)
    return np.quantile(c, 0.025, axis=0), np.quantile(c, 0.975, axis=0)


def binary_figures(uc: Any, cfg: Any, result: Any, curves: dict[str, Any]) -> list[str]:
    from sklearn.metrics import precision_recall_curve, roc_curve

    y, p = np.asarray(curves["y_test"]), np.asarray(curves["pred_test"])
    figs = []
    grid = np.linspace(0, 1, 101)
    lo, hi = _roc_band(y, p, grid, 100, 0, pr=False)

    def roc(ax: Any) -> None:
        ax.fill_between(grid, lo, hi, alpha=0.25, label="95 % bootstrap band")
        for name, pred in ((curves["chosen"], p), (curves["baseline"], curves["baseline_pred"])):
            if pred is not None and (name != curves["chosen"] or pred is p):
                fpr, tpr, _ = roc_curve(y, pred)
                ax.plot(fpr, tpr, label=name)
        ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="chance")
        ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (test part)")
        ax.legend(loc="lower right")

    plo, phi = _roc_band(y, p, grid, 100, 1, pr=True)

    def pr_curve(ax: Any) -> None:
        ax.fill_between(grid, plo, phi, alpha=0.25, label="95 % bootstrap band")
        prec, rec, _ = precision_recall_curve(y, p)
        ax.plot(rec, prec, label=curves["chosen"])
        ax.axhline(y.mean(), color="k", ls="--", lw=0.8, label="base rate")
        ax.set(xlabel="recall", ylabel="precision", title="Precision-recall (test part)")
        ax.legend(loc="upper right")

    figs += [_figure(roc, "ROC curve with 95 % bootstrap band"), _figure(pr_curve, "PR curve")]
    cal = result.details.get("calibration") or []
    if cal:

        def calibration(ax: Any) -> None:
            ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="perfect")
            ax.plot(
                [r["mean_predicted"] for r in cal],
                [r["observed_rate"] for r in cal],
                "o-",
                label="model",
            )
            ax.set(xlabel="mean predicted", ylabel="observed rate", title="Calibration")
            ax.legend()

        figs.append(_figure(calibration, "Calibration by probability bin"))
    lift = result.details.get("lift") or []
    if lift:

        def gain(ax: Any) -> None:
            d = [r["decile"] for r in lift]
            ax.bar(d, [r["lift"] for r in lift], alpha=0.6, label="lift")
            ax2 = ax.twinx()
            ax2.plot(d, [r["cumulative_gain"] for r in lift], "o-", color="C1", label="gain")
            ax2.set_ylabel("cumulative gain")
            ax.set(xlabel="decile (1 = highest scores)", ylabel="lift", title="Lift and gain")

        figs.append(_figure(gain, "Lift by decile and cumulative gain"))
    if uc.profit is not None:
        ts = np.round(np.arange(0.01, 1.0, 0.01), 2)
        values = [uc.profit(y, p >= t, cfg=cfg.kpi) for t in ts]

        def profit(ax: Any) -> None:
            ax.plot(ts, values)
            if curves["threshold"] is not None:
                ax.axvline(curves["threshold"], color="C3", ls="--", label="chosen threshold")
            ax.axhline(0, color="k", lw=0.8)
            ax.set(
                xlabel="threshold", ylabel="profit on the test part", title="Profit vs threshold"
            )
            ax.legend()

        figs.append(_figure(profit, "Profit (or negative cost) against the decision threshold"))
        figs += threshold_kpi_figures(uc, cfg, result.kpis, y, p, curves["threshold"])
    return figs


def _threshold_kpi(key: str) -> bool:
    # KPI names are the use case's contract: a money cost is `expected_cost_<unit>` and a
    # count per 1,000 rows says of what (`alarms_per_1000_operations`); no domain word here
    return key.startswith("expected_cost_") or "_per_1000_" in key


def threshold_kpi_figures(
    uc: Any, cfg: Any, kpis: dict[str, Any], y: np.ndarray, p: np.ndarray, chosen: float | None
) -> list[str]:
    """The use case's cost and per-1,000 KPIs against the threshold, the chosen one marked."""
    keys = [k for k in kpis if _threshold_kpi(k)]
    if not keys or uc.compute_kpis is None or chosen is None:
        return []
    ts = np.round(np.arange(0.01, 1.0, 0.01), 2)
    rows = [uc.compute_kpis(y, p, float(t), cfg.kpi) for t in ts]
    figs = []
    for key in keys:
        unit = key.removeprefix("expected_cost_")
        label = (
            f"expected cost ({unit.upper()})"
            if unit != key
            else key.replace("_per_1000_", " per 1,000 ").replace("_", " ")
        )
        values = [r[key] for r in rows]

        def curve(ax: Any, values: list[float] = values, label: str = label) -> None:
            ax.plot(ts, values)
            ax.axvline(chosen, color="C3", ls="--", label=f"chosen threshold {chosen:.2f}")
            ax.set(xlabel="threshold", ylabel=label, title=f"{label} vs threshold (test part)")
            ax.legend()

        figs.append(_figure(curve, f"{label[0].upper()}{label[1:]} against the decision threshold"))
    return figs


def regression_figures(curves: dict[str, Any]) -> list[str]:
    y, p = np.asarray(curves["y_test"], dtype=float), np.asarray(curves["pred_test"], dtype=float)

    def scatter(ax: Any) -> None:
        ax.scatter(y, p, s=6, alpha=0.4)
        lim = [min(y.min(), p.min()), max(y.max(), p.max())]
        ax.plot(lim, lim, "k--", lw=0.8)
        ax.set(xlabel="actual", ylabel="predicted", title="Predicted vs actual (test part)")

    def residuals(ax: Any) -> None:
        ax.hist(p - y, bins=40)
        ax.set(xlabel="predicted - actual", ylabel="rows", title="Errors (test part)")

    return [_figure(scatter, "Predicted against actual"), _figure(residuals, "Error distribution")]


def candidates_figure(result: Any) -> list[str]:
    rows = result.candidates
    key = next(
        (k for k in ("test_roc_auc", "test_rmse") if rows and k in rows[0]),
        None,
    )
    if rows and key is None and "metrics" in rows[0]:  # forecast model rows
        names = [r["name"] for r in rows]
        wape = [r["metrics"].get("wape", np.nan) for r in rows]

        def bars(ax: Any) -> None:
            ax.barh(names, wape, color=["C3" if n == result.chosen else "C0" for n in names])
            ax.set(xlabel="WAPE (backtest, lower is better)", title="Models (chosen in red)")

        figs = [_figure(bars, "Forecast models side by side (WAPE)")]
        with_steps = [r for r in rows if r.get("by_step")]
        if with_steps:

            def steps(ax: Any) -> None:
                for r in with_steps:
                    s = r["by_step"]
                    ax.plot(
                        range(1, len(s) + 1), [v.get("wape", np.nan) for v in s], label=r["name"]
                    )
                ax.set(xlabel="horizon step", ylabel="WAPE", title="Error by horizon step")
                ax.legend(fontsize=7)

            figs.append(_figure(steps, "Error by horizon step"))
        return figs
    if not rows or key is None:
        return []
    names = [r["name"] for r in rows]
    values = [r[key] for r in rows]

    def bars(ax: Any) -> None:
        ax.barh(names, values, color=["C3" if n == result.chosen else "C0" for n in names])
        if key == "test_roc_auc" and "test_roc_auc_ci" in rows[0]:
            lo = [v - r["test_roc_auc_ci"][0] for v, r in zip(values, rows, strict=True)]
            hi = [r["test_roc_auc_ci"][1] - v for v, r in zip(values, rows, strict=True)]
            ax.errorbar(values, names, xerr=[lo, hi], fmt="none", color="k")
        ax.set(xlabel=key.replace("_", " "), title="Candidates side by side (chosen in red)")

    return [_figure(bars, f"Candidates on the same test part ({key})")]


def fan_figures(samples: list[dict[str, Any]]) -> list[str]:
    """One fan chart per sample series: history, backtest actuals, forecast, intervals."""
    figs = []
    for s in samples:

        def fan(ax: Any, s: dict[str, Any] = s) -> None:
            dates = np.array(s["dates"], dtype="datetime64[D]")
            past = np.array(s["history_dates"], dtype="datetime64[D]")
            ax.plot(past, s["history"], color="k", lw=1, label="history")
            for k, level in enumerate(sorted(s["bounds"], key=int, reverse=True)):
                lo, hi = s["bounds"][level]
                ax.fill_between(dates, lo, hi, color="C0", alpha=0.2 + 0.2 * k, label=f"{level} %")
            ax.plot(dates, s["forecast"], "o-", color="C0", ms=3, label=f"forecast ({s['model']})")
            ax.plot(dates, s["actual"], "s", color="C3", ms=4, label="actual")
            if len(past):
                ax.axvline(past[-1], color="k", ls=":", lw=0.8)
            ax.set(ylabel="target", title=f"Series {s['series']}: backtest window")
            ax.tick_params(axis="x", labelrotation=30)
            ax.legend(fontsize=7, loc="upper left")

        levels = " and ".join(f"{lv} %" for lv in sorted(s["bounds"], key=int))
        figs.append(
            _figure(
                fan, f"Fan chart of series {s['series']}: actual vs forecast, {levels} intervals"
            )
        )
    return figs


def fairness_figures(fairness: dict[str, Any]) -> list[str]:
    figs = []
    for col, entry in (fairness.get("by_column") or {}).items():
        groups = entry["groups"]
        names = [g["group"] for g in groups]
        x = np.arange(len(names))

        def bars(
            ax: Any,
            groups: list[dict[str, Any]] = groups,
            col: str = col,
            x: np.ndarray = x,
            names: list[str] = names,
        ) -> None:
            for k, (metric, label) in enumerate(
                (("selection_rate", "selection rate"), ("tpr", "TPR"), ("fpr", "FPR"))
            ):
                vals = [g[metric] if g[metric] is not None else np.nan for g in groups]
                ax.bar(x + (k - 1) * 0.27, vals, 0.27, label=label)
            ax.set_xticks(x, [f"{n}\n(n={g['n']})" for n, g in zip(names, groups, strict=True)])
            ax.set(ylabel="rate", title=f"Fairness by {col}")
            ax.legend()

        figs.append(_figure(bars, f"Selection rate, TPR and FPR by {col} (test part)"))
    return figs


def importance_figure(importance: dict[str, float], note: str) -> list[str]:
    if not importance:
        return []
    items = list(importance.items())[:15][::-1]

    def bars(ax: Any) -> None:
        ax.barh([k for k, _ in items], [v for _, v in items])
        ax.set(xlabel="mean |contribution|", title="Global explanation")

    return [_figure(bars, f"Global explanation: {note}", size=(6.0, 0.3 * len(items) + 1.5))]


def render(uc: Any, cfg: Any, result: Any, assessment: Any, markdown: str) -> str:
    """The whole page; figures first, then the report's text and tables."""
    curves = assessment.curves if assessment is not None else {}
    figs = candidates_figure(result)
    if "fan" in curves:
        figs += fan_figures(curves["fan"])
    elif curves:
        if curves.get("threshold") is not None:
            figs += binary_figures(uc, cfg, result, curves)
        else:
            figs += regression_figures(curves)
    if assessment is not None:
        figs += fairness_figures(assessment.fairness)
        figs += importance_figure(assessment.importance, assessment.importance_note)
    body = md_to_html(markdown)
    head, _, rest = body.partition("\n")
    plots = '<h2>Plots</h2><div class="grid">' + "".join(figs) + "</div>"
    return page(f"{result.use_case}: training report", f"{head}\n{plots}\n{rest}")
