"""The pilot scorecard: one page per use case for the go/no-go meeting (`pilotpack scorecard`).

Four families of figures, as the playbook groups them, each from a file the pack already
writes (a missing file leaves its figures grey, "not measured"):

- business: the realised KPI against the one expected at training (reports/<uc>/report.json
  vs monitor.json, realised when outcomes are in, else CBPE's estimate, labelled), and the
  A/B lift with its 95 % interval (ab_analysis.json);
- technical: p99 under load against the SLA (benchmarks/results/<uc>.json), uptime from the
  probes when recorded (reports/<uc>/probes.json: `{"up": k, "total": n}`), the largest PSI;
- operational: cost per 1,000 predictions = the benchmark's core-seconds per prediction
  (cores / throughput: the load test keeps every core busy) x 1,000 x the configured price,
  and the number of retrains;
- governance: the largest fairness gap, the risk level and the owner.

Each figure is green, amber or red against the bands in config (`scorecard:`).
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from shared.core.store import project_root, reports_dir
from shared.core.tracking import mlflow_client

GREY = "grey"  # not measured
RISK_COLOUR = {"minimal": "green", "limited": "green", "high": "amber", "unacceptable": "red"}


@dataclass(frozen=True)
class Figure:
    family: str
    name: str
    value: float | str | None
    shown: str
    colour: str
    basis: str  # where the figure comes from, or why it is missing


def colour(value: float | None, band: Any) -> str:
    """green / amber / red of `value` against a `Band`; grey when there is no value."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return GREY
    sign = 1.0 if band.higher_is_better else -1.0
    if sign * value >= sign * band.green:
        return "green"
    if sign * value >= sign * band.amber:
        return "amber"
    return "red"


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def gather(uc_name: str, folder: Path | None = None, bench: Path | None = None) -> dict[str, Any]:
    """The files the scorecard reads, by name (None when absent)."""
    folder = folder or reports_dir(uc_name)
    bench = bench or project_root() / "benchmarks" / "results" / f"{uc_name}.json"
    return {
        "training": _read(folder / "report.json"),
        "monitor": _read(folder / "monitor.json"),
        "ab": _read(folder / "ab_analysis.json"),
        "probes": _read(folder / "probes.json"),
        "benchmark": _read(bench),
    }


def kpi_name(registered: dict[str, float], wanted: str | None) -> str | None:
    if wanted:
        return wanted if wanted in registered else None
    return next((k for k in registered if k.endswith("rate")), None)


def business(inputs: dict[str, Any], cfg: Any) -> list[Figure]:
    sc = cfg.scorecard
    registered = (inputs.get("training") or {}).get("kpis") or {}
    name = kpi_name(registered, sc.kpi)
    monitor = inputs.get("monitor") or {}
    realised, basis = None, "no monitor report with outcomes (reports/<uc>/monitor.json)"
    for p in monitor.get("performance") or []:
        if p.get("variant") in ("champion", "file") and name and f"kpi_{name}" in p["figures"]:
            realised, basis = p["figures"][f"kpi_{name}"], f"realised on {p['n']} outcomes"
    estimated = monitor.get("estimated") or {}
    if realised is None and name and estimated.get(f"kpi_{name}") is not None:
        realised, basis = estimated[f"kpi_{name}"], "ESTIMATED (CBPE), outcomes not in yet"
    expected = registered.get(name) if name else None
    ratio = realised / expected if realised is not None and expected else None
    shown = "-" if ratio is None else f"{realised:.4g} vs {expected:.4g} expected ({ratio:.0%})"
    out = [Figure("business", f"KPI {name or '-'}", ratio, shown, colour(ratio, sc.kpi_ratio),
                  basis)]  # fmt: skip
    ab = inputs.get("ab")
    if not ab:
        out.append(Figure("business", "A/B lift", None, "-", GREY, "no A/B analysis"))
        return out
    lift = ab["lift"]
    lo, hi = lift["absolute_ci"]
    better = (ab.get("plan") or {}).get("higher_is_better", True)
    code = ab.get("verdict_code", "")
    good = "treatment_wins"
    c = "green" if code == good else "red" if code in ("control_wins", "srm") else "amber"
    shown = f"{lift['absolute']:+.4f} (95 % CI {lo:+.4f} to {hi:+.4f}; {'higher' if better else 'lower'} is better)"
    out.append(Figure("business", "A/B lift", lift["absolute"], shown, c, ab.get("verdict", "")))
    return out


def technical(inputs: dict[str, Any], cfg: Any) -> list[Figure]:
    sc, sla = cfg.scorecard, cfg.rollout.sla_ms
    bench = inputs.get("benchmark") or {}
    p99 = bench.get("load_p99_ms", bench.get("http_p99_ms"))
    ratio = p99 / sla if p99 is not None else None
    out = [
        Figure("technical", "p99 latency under load", p99,
               "-" if p99 is None else f"{p99:.1f} ms (SLA {sla:.0f} ms)",
               colour(ratio, sc.p99_vs_sla), "benchmark " + str(bench.get("timestamp", "absent")))
    ]  # fmt: skip
    probes = inputs.get("probes") or {}
    up = probes["up"] / probes["total"] if probes.get("total") else None
    out.append(
        Figure("technical", "uptime", up, "-" if up is None else f"{up:.3%}",
               colour(up, sc.uptime),
               f"{probes.get('total', 0)} probes" if probes else "no probes recorded")
    )  # fmt: skip
    drift = (inputs.get("monitor") or {}).get("drift") or []
    worst = max(drift, key=lambda r: r["psi"], default=None)
    psi = worst["psi"] if worst else None
    band = type(sc.kpi_ratio)(green=cfg.monitoring.psi_watch, amber=cfg.monitoring.psi_alert,
                              higher_is_better=False)  # fmt: skip
    # PSI at psi_alert is an alert: amber stops just below it
    c = colour(psi, band) if psi is None or psi < cfg.monitoring.psi_alert else "red"
    out.append(Figure("technical", "largest drift (PSI)", psi,
                      "-" if psi is None else f"{psi:.3f} on {worst['feature']}", c,
                      "monitor report" if drift else "no monitor report"))  # fmt: skip
    return out


def operational(inputs: dict[str, Any], cfg: Any, retrains: int | None) -> list[Figure]:
    sc = cfg.scorecard
    bench = inputs.get("benchmark") or {}
    rps, cores = bench.get("throughput_rps"), bench.get("cores")
    cost = 1000 * cores / rps * sc.core_hour_price / 3600 if rps and cores else None
    return [
        Figure("operational", "cost per 1,000 predictions", cost,
               "-" if cost is None else f"{cost:.5f} at {sc.core_hour_price:g} per core-hour",
               colour(cost, sc.cost_per_1000),
               f"{cores} cores / {rps:.0f} req/s" if cost is not None else "no benchmark"),
        Figure("operational", "retrains", retrains, "-" if retrains is None else str(retrains),
               colour(None if retrains is None else float(retrains), sc.retrains),
               "registered versions after the first"),
    ]  # fmt: skip


def governance(inputs: dict[str, Any], cfg: Any) -> list[Figure]:
    sc, gov = cfg.scorecard, cfg.governance
    fairness = ((inputs.get("training") or {}).get("details") or {}).get("fairness") or {}
    gaps = [
        (max(c.get("demographic_parity_difference", 0.0), c.get("equalized_odds_difference", 0.0)), col)
        for col, c in (fairness.get("by_column") or {}).items()
    ]  # fmt: skip
    gap, col = max(gaps, default=(None, None))
    owner = getattr(gov, "owner", None)
    return [
        Figure("governance", "largest fairness gap", gap,
               "-" if gap is None else f"{gap:.3f} ({col})", colour(gap, sc.fairness_gap),
               "training report" if fairness else "no fairness assessment"),
        Figure("governance", "risk level", gov.risk_level, gov.risk_level,
               RISK_COLOUR.get(gov.risk_level, GREY), "config governance.risk_level"),
        Figure("governance", "owner", owner or None, owner or "-", "green" if owner else "red",
               "config governance.owner"),
    ]  # fmt: skip


def scorecard(inputs: dict[str, Any], cfg: Any, retrains: int | None = None) -> list[Figure]:
    """Every figure of the page, coloured against config."""
    return [
        *business(inputs, cfg),
        *technical(inputs, cfg),
        *operational(inputs, cfg, retrains),
        *governance(inputs, cfg),
    ]


def verdict(figures: list[Figure]) -> str:
    """no-go on any red; review on any amber or grey; else go."""
    colours = {f.colour for f in figures}
    if "red" in colours:
        return "no-go: " + ", ".join(f.name for f in figures if f.colour == "red")
    if colours & {"amber", GREY}:
        return "review: " + ", ".join(f.name for f in figures if f.colour in ("amber", GREY))
    return "go"


def markdown(uc_name: str, figures: list[Figure]) -> str:
    lines = [f"# {uc_name}: pilot scorecard", "", f"**{verdict(figures)}**", ""]
    family = ""
    for f in figures:
        if f.family != family:
            family = f.family
            lines += ["", f"## {family}", "", "| figure | value | | basis |", "|---|---|---|---|"]
        lines.append(f"| {f.name} | {f.shown} | {f.colour} | {f.basis} |")
    return "\n".join(lines) + "\n"


_CSS = {"green": "#1a7f37", "amber": "#b76e00", "red": "#cf222e", GREY: "#6e7781"}


def page(uc_name: str, figures: list[Figure]) -> str:
    esc = html.escape
    rows = "".join(
        f"<tr><td>{esc(f.family)}</td><td>{esc(f.name)}</td><td>{esc(f.shown)}</td>"
        f'<td style="color:#fff;background:{_CSS[f.colour]}">{f.colour}</td>'
        f"<td>{esc(f.basis)}</td></tr>"
        for f in figures
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(uc_name)} scorecard"
        "</title><style>body{font-family:sans-serif;margin:2em}td,th{padding:4px 8px;"
        "border-bottom:1px solid #ddd}</style></head><body>"
        f"<h1>{esc(uc_name)}: pilot scorecard</h1><p><b>{esc(verdict(figures))}</b></p>"
        "<table><tr><th>family</th><th>figure</th><th>value</th><th></th><th>basis</th></tr>"
        f"{rows}</table></body></html>\n"
    )


def write(
    uc_name: str, cfg: Any, inputs: dict[str, Any], retrains: int | None, folder: Path
) -> tuple[Path, Path, list[Figure]]:
    """reports/<uc>/scorecard.md and .html (and scorecard.json); returns both paths."""
    figures = scorecard(inputs, cfg, retrains)
    folder.mkdir(parents=True, exist_ok=True)
    md, page_path = folder / "scorecard.md", folder / "scorecard.html"
    md.write_text(markdown(uc_name, figures))
    page_path.write_text(page(uc_name, figures))
    data = {"verdict": verdict(figures), "figures": [asdict(f) for f in figures]}
    (folder / "scorecard.json").write_text(json.dumps(data, indent=2, default=str))
    return md, page_path, figures


def retrain_count(uc_name: str) -> int | None:
    """Registered versions after the first one (each a retrain); None without a registry."""
    try:
        versions = mlflow_client().search_model_versions(f"name = '{uc_name}'")
    except Exception:  # no registry reachable: the figure stays grey
        return None
    return max(len(versions) - 1, 0)
