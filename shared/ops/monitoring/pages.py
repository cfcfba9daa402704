"""The monitoring and A/B reports as self-contained HTML pages beside their JSON: plots embedded
as base64 PNG by the training report's helpers (no file beside it, no network), then tables.

`pilotpack monitor`: PSI per input and for the score with the alert line, and the score's
distribution in the reference against the window. `pilotpack ab analyze`: the rate per group
with 95 % intervals, and the lift by week against the overall lift and its interval.
Each page is a function of the JSON report alone, so a saved report can be drawn again.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np

from shared.core.drift import SCORE, NumericBins, reference_bins
from shared.ops.governance.html_report import _figure, md_to_html, page

_FLAG_COLOURS = {"alert": "C3", "watch": "C1", "test": "C4", "ok": "C0"}


def write_page(path: Path, text: str) -> Path:
    """Write `text` to `path` (folders made); returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _num(value: Any, fmt: str = "{:.3f}") -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    try:
        return fmt.format(value)
    except (TypeError, ValueError):
        return str(value)


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _body(title: str, figs: list[str], markdown: list[str]) -> str:
    plots = '<h2>Plots</h2><div class="grid">' + "".join(figs) + "</div>" if figs else ""
    return f"<h1>{html.escape(title)}</h1>\n{plots}\n{md_to_html(chr(10).join(markdown))}"


# --------------------------------------------------------------------------- monitor


def score_distribution(
    profile: dict[str, Any], sample: Any, score: np.ndarray | None
) -> dict[str, Any] | None:
    """The score's shares per reference bin (the bins its PSI is computed on): reference and
    window; None without a score or a profiled training output."""
    bins = reference_bins(profile, sample).get(SCORE)
    if score is None or not isinstance(bins, NumericBins):
        return None
    return {
        "edges": [float(e) for e in bins.edges],
        "reference": [float(v) for v in bins.expected],
        "window": [float(v) for v in bins.shares(np.asarray(score, dtype=np.float64))],
    }


def _bin_labels(edges: list[float]) -> list[str]:
    """Right-closed bins between the edges, then the missing-value bin."""
    bounds = ["-inf", *(f"{e:.3g}" for e in edges), "inf"]
    return [f"({a}, {b}]" for a, b in zip(bounds[:-1], bounds[1:], strict=True)] + ["missing"]


def drift_figure(report: dict[str, Any]) -> list[str]:
    rows = report.get("drift") or []
    if not rows:
        return []
    items = rows[:25][::-1]  # the largest PSI at the top
    t = report["thresholds"]

    def bars(ax: Any) -> None:
        ax.barh(
            [r["feature"] for r in items],
            [r["psi"] for r in items],
            color=[_FLAG_COLOURS.get(r["flag"], "C0") for r in items],
        )
        ax.axvline(t["psi_alert"], color="C3", ls="--", label=f"alert {t['psi_alert']:g}")
        ax.axvline(t["psi_watch"], color="C1", ls=":", label=f"watch {t['psi_watch']:g}")
        ax.set(xlabel="PSI (window vs training reference)", title="Drift by input")
        ax.legend(loc="lower right")

    size = (6.0, 0.3 * len(items) + 1.6)
    return [_figure(bars, f"PSI per input and the score (alert line at {t['psi_alert']:g})", size)]


def score_figure(dist: dict[str, Any] | None) -> list[str]:
    if not dist:
        return []
    labels = _bin_labels(dist["edges"])
    ref, win = np.asarray(dist["reference"]), np.asarray(dist["window"])
    keep = (ref > 0) | (win > 0)  # the missing bin only when a side has missing scores
    x = np.arange(int(keep.sum()))

    def bars(ax: Any) -> None:
        ax.bar(x - 0.2, ref[keep], 0.4, label="training reference")
        ax.bar(x + 0.2, win[keep], 0.4, label="window")
        ax.set_xticks(x, [lab for lab, k in zip(labels, keep, strict=True) if k], rotation=45)
        ax.set(xlabel="score bin", ylabel="share of rows", title="Score distribution")
        ax.legend()

    return [_figure(bars, "Score distribution: training reference vs window")]


def monitor_page(report: dict[str, Any]) -> str:
    """The `pilotpack monitor` report as one HTML page."""
    figs = drift_figure(report) + score_figure(report.get("score_distribution"))
    md = [
        f"Model version **{report['model_version']}** (`{report['model_tag']}`): "
        f"{report['rows']} rows from {report['source']}.",
        "## Alerts",
    ]
    md += [f"- {a}" for a in report["alerts"]] or ["No alert."]
    retrain = report.get("retrain") or {}
    md.append(
        "Retraining due: " + "; ".join(retrain.get("reasons", []))
        if retrain.get("due")
        else "Retraining not due."
    )
    if report["drift"]:
        md += ["## Drift", ""]
        md.append(
            _table(
                ["input", "kind", "PSI", "test", "p-value", "flag"],
                [
                    [
                        r["feature"],
                        r["kind"],
                        _num(r["psi"]),
                        r["test"] or "-",
                        _num(r["p_value"], "{:.3g}"),
                        r["flag"],
                    ]
                    for r in report["drift"]
                ],
            )
        )
    if report["performance"]:
        md += ["## Realised performance", ""]
        md.append(
            _table(
                ["variant", "version", "n", "metric", "realised", "registered", "status"],
                [
                    [
                        p["variant"],
                        str(p["model_version"]),
                        str(p["n"]),
                        str(p.get("headline")),
                        _num(p.get("realised")),
                        _num(p.get("registered")),
                        p["message"],
                    ]
                    for p in report["performance"]
                ],
            )
        )
    if report.get("estimated"):
        md += ["## Estimated performance (before outcomes)", "", estimate_line(report["estimated"])]
    if report["notes"]:
        md += ["## Notes", *(f"- {n}" for n in report["notes"])]
    title = f"{report['use_case']}: monitoring report"
    return page(title, _body(title, figs, md))


def estimate_line(est: dict[str, Any]) -> str:
    """One sentence: the CBPE estimate of the window, labelled as an estimate."""
    return (
        f"ROC AUC {_num(est.get('roc_auc'))} (registered {_num(est.get('registered_roc_auc'))}), "
        f"expected positive rate {_num(est.get('expected_rate'))}, precision "
        f"{_num(est.get('precision'))}, recall {_num(est.get('recall'))} over "
        f"{int(est.get('n') or 0)} records: {est['label']}."
    )


# --------------------------------------------------------------------------- A/B analysis


def group_figure(report: dict[str, Any]) -> list[str]:
    from statsmodels.stats.proportion import proportion_confint

    groups = report["groups"]
    names = [g["group"] for g in groups]
    rates = np.array([g["rate"] for g in groups])
    lo, hi = np.array(
        [proportion_confint(g["conversions"], g["n"], method="wilson") for g in groups]
    ).T

    def bars(ax: Any) -> None:
        ax.bar(names, rates, color=["C0", "C1"][: len(names)])
        ax.errorbar(names, rates, yerr=[rates - lo, hi - rates], fmt="none", color="k", capsize=6)
        ax.set(ylabel="conversion rate", title="Rate per group (95 % Wilson interval)")

    return [_figure(bars, "Conversion rate per group with 95 % intervals")]


def lift_figure(report: dict[str, Any]) -> list[str]:
    weeks = [w for w in report.get("weeks") or [] if w["lift"] is not None]
    if not weeks:
        return []
    lift = report["lift"]
    x = [w["week"] for w in weeks]

    def lines(ax: Any) -> None:
        ax.plot(x, [w["lift"] for w in weeks], "o-", label="lift in the week")
        ax.axhspan(*lift["absolute_ci"], color="C0", alpha=0.15, label="overall lift, 95 % CI")
        ax.axhline(lift["absolute"], color="C0", ls="--", lw=1)
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xticks(x)
        ax.set(xlabel="week since the start", ylabel="treatment - control rate")
        ax.set_title("Lift by week (a fading lift is a novelty effect)")
        ax.legend()

    return [_figure(lines, "Absolute lift by week against the overall lift and its 95 % CI")]


def ab_page(report: dict[str, Any], use_case: str) -> str:
    """The `pilotpack ab analyze` report as one HTML page."""
    figs = group_figure(report) + lift_figure(report)
    lift, test, srm = report["lift"], report["test"], report["srm"]
    md = [
        f"**Verdict:** {report['verdict']}",
        "## Groups",
        _table(
            ["group", "units", "conversions", "rate"],
            [
                [g["group"], str(g["n"]), str(g["conversions"]), _num(g["rate"], "{:.4f}")]
                for g in report["groups"]
            ],
        ),
        "## Lift and test",
        f"- absolute lift {_num(lift['absolute'], '{:+.4f}')} (95 % CI "
        f"{_num(lift['absolute_ci'][0], '{:+.4f}')} to {_num(lift['absolute_ci'][1], '{:+.4f}')})",
        f"- relative lift {_num(lift['relative'], '{:+.1%}')} (95 % CI "
        f"{_num(lift['relative_ci'][0], '{:+.1%}')} to {_num(lift['relative_ci'][1], '{:+.1%}')})",
        f"- {test['method']}: z = {_num(test['z'])}, p = {_num(test['p_value'], '{:.4g}')}",
        f"- sample ratio check: chi-square p = {_num(srm['p_value'], '{:.4g}')} "
        f"({'MISMATCH' if srm['mismatch'] else 'ok'}; expected split {srm['expected']})",
    ]
    if report.get("sequential"):
        md.append(f"- mSPRT always-valid p = {_num(report['sequential']['p_value'], '{:.4g}')}")
    if report.get("power") is not None:
        md.append(f"- achieved power at the planned effect: {_num(report['power'], '{:.1%}')}")
    if report.get("weeks"):
        md += ["## By week", ""]
        md.append(
            _table(
                ["week", "units", "control rate", "treatment rate", "lift"],
                [
                    [
                        str(w["week"]),
                        str(w["n"]),
                        _num(w["control_rate"], "{:.4f}"),
                        _num(w["treatment_rate"], "{:.4f}"),
                        _num(w["lift"], "{:+.4f}"),
                    ]
                    for w in report["weeks"]
                ],
            )
        )
    title = f"{use_case}: A/B test, {report['treatment']} vs {report['control']}"
    return page(title, _body(title, figs, md))
