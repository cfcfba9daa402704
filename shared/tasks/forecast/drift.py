"""`pilotpack monitor` for forecasting: drift of series-level features of the recent history, and
realised WAPE / MASE against the backtest once actuals arrive.

Series features, one value per series over its last `season` periods (growth and seasonal
strength also need the season before it; a series without them has no value there):

    level              mean of the last season
    growth             level / mean of the season before - 1 (year-over-year trend)
    variability        standard deviation of the last season / |level| (seasonal swing + noise)
    seasonal_strength  correlation of the last season with the one before (a repeating shape: 1)
    zero_share         share of zero periods in the last season (intermittent demand)

None depends on where in the year the history ends, so the training history (the reference,
stored in `reference_profile.json` under "series_reference" at training time) and a later
history compare.
Level ranges over orders of magnitude across series, so its PSI moves when the mix of series
changes (many new small ones) more than when every series shifts by the same factor; such a
shift shows in growth. Drift: PSI per feature across series (bins at the reference's quantiles)
and a two-sample KS test against the stored reference values; flags as for model inputs (alert
at `monitoring.psi_alert`). PSI's sampling noise grows with bins / series (about
(bins - 1) x (1/n_reference + 1/n_current) on two samples of one distribution), so with fewer
than 250 reference series the bins are fewer than the 10 deciles (n / 25, at least 4).

Realised accuracy, judged like the classifiers' headline (`judge`: alert when more than
`monitoring.metric_drop` worse, "incomplete" while outcomes are missing):
- a file (`--data`): its last `horizon` periods are the window. The champion forecasts every
  series still running at the window's origin from the history before it; WAPE and MASE over
  every (series, period) cell compare with the backtest's pooled figures (all steps, all
  windows). A cell without an actual yet (the series' rows not in the file) is an outcome
  still to come.
- the prediction log (`--since` / `--last`): an outcome carries no period, so it is compared
  with the first step of the forecast it joins (by request id, else the series' latest forecast
  before it): step-1 WAPE / MASE against the backtest's step-1 figures. Forecasts whose first
  period has not ended yet are not due and left out of the coverage.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shared.core.drift import FeatureDrift, NumericBins, flag_of, ks_pvalue, load_reference
from shared.core.io import read_table
from shared.core.performance import judge, outcome_rows
from shared.core.tracking import stored_version
from shared.tasks.forecast.backtest import make_panel, validate_forecast_raw
from shared.tasks.forecast.metrics import bias, mase, mase_scale, scored_cells, wape
from shared.tasks.forecast.predictor import ForecastPredictor, regular_history
from shared.tasks.forecast.windows import panel_targets, panel_windows

SERIES = "series_reference"  # the reference profile's block for forecasting
FEATURES = ("level", "growth", "variability", "seasonal_strength", "zero_share")
MIN_SERIES = 20  # fewer series with a feature: its PSI is mostly noise, not reported
KIND = "series"  # the drift rows' kind


# --------------------------------------------------------------------------- features


def right_aligned(y: np.ndarray, last: np.ndarray, length: int) -> np.ndarray:
    """[n, length] of each row of `y` [n, T] ending at its `last` index; NaN before it began."""
    idx = np.asarray(last)[:, None] - (length - 1) + np.arange(length)[None, :]
    rows = np.arange(len(y))[:, None]
    return np.where(idx >= 0, y[rows, np.clip(idx, 0, None)], np.nan)


def _row_corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row pair over the periods both observed; NaN when flat."""
    ok = np.isfinite(a) & np.isfinite(b)
    n = ok.sum(axis=1)
    a0, b0 = np.where(ok, a, 0.0), np.where(ok, b, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ma, mb = a0.sum(axis=1) / n, b0.sum(axis=1) / n
        da, db = np.where(ok, a0 - ma[:, None], 0.0), np.where(ok, b0 - mb[:, None], 0.0)
        cov = (da * db).sum(axis=1)
        out = cov / np.sqrt((da**2).sum(axis=1) * (db**2).sum(axis=1))
    return np.where(np.isfinite(out), out, np.nan)


def series_features(y: np.ndarray, season: int) -> dict[str, np.ndarray]:
    """Right-aligned histories [n, L] (NaN = not observed) -> [n] per feature (see module doc).
    A season needs at least half its periods observed; the input is not modified."""
    n = len(y)
    pad = max(0, 2 * season - y.shape[1])
    y = np.hstack([np.full((n, pad), np.nan), y]) if pad else y
    last, prev = y[:, -season:], y[:, -2 * season : -season]
    need = max(2, math.ceil(season / 2))
    seen_last = np.isfinite(last).sum(axis=1) >= need
    seen_prev = np.isfinite(prev).sum(axis=1) >= need
    with np.errstate(invalid="ignore", divide="ignore"):
        level = np.where(seen_last, np.nanmean(np.where(seen_last[:, None], last, 0.0), 1), np.nan)
        before = np.where(seen_prev, np.nanmean(np.where(seen_prev[:, None], prev, 0.0), 1), np.nan)
        spread = np.nanstd(np.where(seen_last[:, None], last, 0.0), axis=1)
        growth = level / before - 1
        variability = spread / np.abs(level)
        zero = np.nansum(last == 0, axis=1) / np.isfinite(last).sum(axis=1)
    strength = _row_corr(last, prev) if season >= 3 else np.full(n, np.nan)
    both = seen_last & seen_prev
    return {
        "level": level,
        "growth": np.where(both & np.isfinite(growth), growth, np.nan),
        "variability": np.where(seen_last & np.isfinite(variability), variability, np.nan),
        "seasonal_strength": np.where(both, strength, np.nan),
        "zero_share": np.where(seen_last, zero, np.nan),
    }


def _json_values(v: np.ndarray) -> list[float | None]:
    """Floats for JSON (6 significant digits), None for NaN: the profile stays strict JSON."""
    return [float(f"{x:.6g}") if math.isfinite(x) else None for x in np.asarray(v, float)]


def series_reference(
    y: np.ndarray, last: np.ndarray, season: int, by_step: Sequence[Mapping[str, Any]],
    rows: int, seed: int = 0, by_window: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:  # fmt: skip
    """The profile's "series_reference" block: every training series' features at the end of
    training (a seeded sample of `rows` when more) and the served model's backtest figures per
    step and per window."""
    feats = series_features(right_aligned(y, last, 2 * season), season)
    keep = np.arange(len(y))
    if len(keep) > rows:
        keep = np.sort(np.random.default_rng(seed).choice(keep, rows, replace=False))
    steps = [{k: v for k, v in s.items() if k in ("step", "wape", "mase")} for s in by_step]
    windows = [{k: v for k, v in w.items() if k in ("cutoff", "wape", "mase")} for w in by_window]
    return {
        "season": season,
        "series": int(len(y)),
        "features": {k: _json_values(v[keep]) for k, v in feats.items()},
        "backtest_by_step": steps,
        "backtest_by_window": windows,
    }


def window_range(reference: Mapping[str, Any]) -> str | None:
    """How much one backtest window's figures varied: one window is judged against the pooled
    figure, and a window over the holiday weeks is harder than the average."""
    windows = reference.get("backtest_by_window") or []
    if len(windows) < 2:
        return None
    w = [float(x["wape"]) for x in windows]
    m = [float(x["mase"]) for x in windows]
    return (
        f"the backtest's {len(windows)} windows ranged WAPE {min(w):.4g}-{max(w):.4g}, MASE "
        f"{min(m):.4g}-{max(m):.4g} (the registered figures pool them)"
    )


# --------------------------------------------------------------------------- drift


def series_bins(reference: np.ndarray) -> NumericBins:
    """Bins at the reference's quantiles: 10 from 250 series, fewer below (n / 25, at least 4).
    Each bin's share is counted in the reference: tied quantiles (most series never at zero)
    cannot say how the tie splits."""
    k = int(np.clip(len(reference) // 25, 4, 10))
    bins = NumericBins.from_quantiles(np.quantile(reference, np.linspace(0, 1, k + 1)))
    return NumericBins(bins.edges, bins.shares(reference))


def _finite(values: Any) -> np.ndarray:
    v = np.asarray([np.nan if x is None else x for x in values], dtype=np.float64)
    return v[np.isfinite(v)]


def feature_drift(name: str, reference: Any, current: Any, cfg: Any) -> FeatureDrift | None:
    """PSI and KS of one series feature (series without a value left out on both sides); None
    when either side has fewer than MIN_SERIES values."""
    ref, cur = _finite(reference), _finite(current)
    if len(ref) < MIN_SERIES or len(cur) < MIN_SERIES:
        return None
    psi = series_bins(ref).psi(cur)
    p = ks_pvalue(ref, cur)
    return FeatureDrift(name, KIND, psi, "ks", p, flag_of(psi, p, cfg), len(cur))


def series_drift(
    reference: Mapping[str, Any], current: Mapping[str, np.ndarray], cfg: Any
) -> tuple[list[FeatureDrift], list[str]]:
    """Drift rows (largest PSI first) and a note per feature left out."""
    rows, notes = [], []
    stored = reference.get("features") or {}
    for name in FEATURES:
        if name not in stored or name not in current:
            continue
        row = feature_drift(name, stored[name], current[name], cfg)
        if row is None:
            n_ref, n_cur = len(_finite(stored[name])), len(_finite(current[name]))
            need = "two seasons" if name in ("growth", "seasonal_strength") else "one season"
            notes.append(
                f"{name}: {n_cur} recent series and {n_ref} reference series have it (needs "
                f"{MIN_SERIES} each; it takes {need} of history per series)"
            )
        else:
            rows.append(row)
    return sorted(rows, key=lambda r: -r.psi), notes


# --------------------------------------------------------------------------- accuracy


def accuracy(y: np.ndarray, f: np.ndarray, scale: np.ndarray) -> dict[str, float]:
    """WAPE, MASE and bias of forecasts `f` [n, H] against actuals `y` (NaN: not yet known)."""

    return {
        "wape": wape(y.ravel(), f.ravel()),
        "mase": mase(y, f, scale),
        "bias": bias(y.ravel(), f.ravel()),
        "cells": float(scored_cells(y)),
    }


def judged(
    figures: Mapping[str, float], registered: Mapping[str, Any], variant: str, version: str,
    n_outcomes: int, n_expected: int, cfg: Any,
) -> list[dict[str, Any]]:  # fmt: skip
    """One performance row per metric (WAPE, MASE; lower is better) judged against `registered`."""
    out = []
    for name in ("wape", "mase"):
        value, ref = figures.get(name), registered.get(name)
        ok = value is not None and math.isfinite(value)
        drop = (value - ref) / ref if ok and ref else None
        res: dict[str, Any] = {
            "figures": dict(figures),
            "headline": name,
            "registered": ref,
            "realised": value if ok else None,
            "drop": drop,
        }
        status, message = judge(res, n_outcomes, n_expected, cfg)
        if ref is None and status != "incomplete":
            status, message = "incomplete", f"{name}: the stored model has no backtest figure"
        out.append({"variant": variant, "model_version": version, "n": n_outcomes} | res)
        out[-1] |= {"status": status, "message": message}
    return out


# --------------------------------------------------------------------------- windows


def file_window(
    uc: Any, cfg: Any, path: Path, stored: Any
) -> tuple[int, dict[str, np.ndarray], dict[str, Any], list[str]]:
    """(rows, series features, accuracy figures + counts, notes) of a file of recent history."""

    raw = read_table(path, cfg.data.reader)
    if raw.empty:
        raise ValueError(f"{path}: no rows")
    validate_forecast_raw(raw, uc, cfg)
    panel = make_panel(uc, raw, cfg)
    pred = ForecastPredictor(uc, stored)
    season, H = pred.rules.season, pred.max_horizon
    feats = series_features(right_aligned(panel.y, panel.last, 2 * season), season)
    notes: list[str] = []
    origin = panel.n_periods - 1 - H
    if origin < 0:
        notes.append(f"{panel.n_periods} periods: no history before a {H}-period window")
        return len(raw), feats, {}, notes
    rows = np.flatnonzero((panel.first <= origin) & (panel.last >= origin))
    ended = int(((panel.first <= origin) & (panel.last < origin)).sum())
    if ended:
        notes.append(f"{ended} series ended before the window's origin: not forecast")
    origins = np.full(len(rows), origin)
    w = panel_windows(
        panel, rows, origins, pred.history_length, H, season, pred.scale_floor, whole_history=True
    )
    f = pred.predict_windows(w)["forecast"]
    y = panel_targets(panel, rows, origins, H)
    figures = accuracy(y, f, mase_scale(panel.y[rows, : origin + 1], season))
    start, end = str(panel.dates[origin + 1]), str(panel.dates[-1])
    notes.append(
        f"realised accuracy: {len(rows)} series forecast from {panel.dates[origin]} for "
        f"{start} to {end} ({H} periods) by the champion, against the file's actuals"
    )
    return len(raw), feats, figures | {"expected": float(y.size)}, notes


def _history(item: Mapping[str, Any], uc: Any, freq: str, gaps: str) -> np.ndarray:
    """A logged request series' history on its regular grid (as the service filled it)."""

    hist = item.get("history") or []
    dates = [pd.Timestamp(p[uc.time_column]).date() for p in hist]
    values = [float(p[uc.target]) for p in hist]
    flags = (
        [bool(p.get(uc.forecast.holiday_column, False)) for p in hist]
        if uc.forecast.holiday_column
        else []
    )
    return regular_history(dates, values, flags or [False] * len(hist), freq, gaps)[0]


def _pad(histories: Sequence[np.ndarray], length: int) -> np.ndarray:
    """Right-align histories in a NaN-padded [n, length] matrix."""
    out = np.full((len(histories), length), np.nan)
    for i, h in enumerate(histories):
        h = h[-length:]
        out[i, length - len(h) :] = h
    return out


def log_frame(log: Any, name: str, since_s: float | None, last: int | None) -> pd.DataFrame:
    """Served forecasts of the window (shadow scorings and errors left out)."""
    since = time.time() - since_s if since_s is not None else None
    frame = log.frame(name, since)
    frame = frame[(frame["variant"] != "shadow") & frame["error"].isna()]
    return frame.tail(last) if last is not None else frame


def log_features(
    uc: Any, frame: pd.DataFrame, season: int, freq: str, gaps: str
) -> dict[str, np.ndarray]:
    """Series features of the latest logged history of each series (routing key)."""
    latest = frame.drop_duplicates("routing_key", keep="last") if len(frame) else frame
    hists = [_history(json.loads(t), uc, freq, gaps) for t in latest["inputs"] if t]
    return series_features(_pad(hists, 2 * season), season) if hists else {}


def log_performance(
    uc: Any, log: Any, frame: pd.DataFrame, reference: Mapping[str, Any], metadata: Any,
    season: int, freq: str, gaps: str, cfg: Any,
) -> tuple[list[dict[str, Any]], list[str]]:  # fmt: skip
    """Step-1 WAPE / MASE per (variant, version) from the outcomes joined to the window's
    forecasts, against the backtest's step-1 figures; the forecasts not due yet are noted."""

    if frame.empty:
        return [], []
    since = float(frame["ts"].min())
    by_id = frame.set_index("id")
    today = np.datetime64(pd.Timestamp.now("UTC").date(), "D")
    first = [_first_date(o) for o in frame["outputs"]]
    due = pd.Series([d is not None and d <= today for d in first], index=frame.index)
    notes = []
    if (~due).sum():
        notes.append(
            f"{int((~due).sum())} of {len(frame)} forecasts are not due yet (their first period "
            "has not ended): left out of the outcome coverage"
        )
    notes.append(
        "from the log: an outcome carries no period, so it is compared with the first step of "
        "the forecast it joins; steps 2.. are measured with --data (recent history with actuals)"
    )
    steps = reference.get("backtest_by_step") or []
    step1 = dict(steps[0]) if steps else {}
    if not step1:
        notes.append(
            "the stored model has no per-step backtest figures (trained before they were "
            "stored): realised step-1 figures are shown, not judged; train again to judge them"
        )
    groups: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    for variant, version, score, value, _, pid in outcome_rows(log, uc.name, since, ids=True):
        if pid not in by_id.index:
            continue
        hist = _history(json.loads(by_id.at[pid, "inputs"]), uc, freq, gaps)
        scale = float(mase_scale(hist[None, :], season)[0])
        groups.setdefault((variant, version), []).append((value, score, scale))
    expected = frame[due].groupby(["variant", "model_version"]).size()
    out = []
    for (variant, version), cells in sorted(groups.items()):
        y, f, s = (np.asarray(c, dtype=np.float64) for c in zip(*cells, strict=True))
        figures = accuracy(y[:, None], f[:, None], s)
        registered = step1
        if str(version) != str(metadata.get("mlflow_version")):
            registered = _step1_of(uc.name, version, step1)
        n_due = int(expected.get((variant, version), len(y)))
        out += judged(figures, registered, variant, version, len(y), max(n_due, len(y)), cfg)
    return out, notes


def _step1_of(name: str, version: str, champion: dict[str, Any]) -> dict[str, Any]:
    """The backtest's step-1 figures of another stored version (the champion's when gone)."""
    try:
        steps = load_reference(stored_version(name, version)).profile[SERIES]["backtest_by_step"]
        return dict(steps[0])
    except Exception:  # not in this store, or stored before the series reference
        return champion


def _first_date(outputs: Any) -> np.datetime64 | None:
    """The first forecast period of a logged response."""
    try:
        steps = json.loads(outputs).get("steps") or []
        return np.datetime64(str(steps[0]["date"])[:10], "D") if steps else None
    except (TypeError, ValueError, KeyError):
        return None


# --------------------------------------------------------------------------- the report


def run(
    uc: Any, cfg: Any, ref: Any, stored: Any, data: Path | None, since_s: float | None,
    last: int | None, log: Any,
) -> dict[str, Any]:  # fmt: skip
    """The forecasting monitoring report, in the shape `pilotpack monitor` prints and writes."""
    m = cfg.monitoring
    reference = ref.profile.get(SERIES) or {}
    md = ref.metadata
    season = int(md.get("season", cfg.backtest.season))
    notes: list[str] = []
    if not reference:
        notes.append(
            "the stored model has no series reference (trained before it was stored): no "
            "drift; train again to monitor it"
        )
    if data is not None:
        rows, feats, figures, more = file_window(uc, cfg, data, stored)
        more += [r for r in [window_range(reference)] if r and figures]
        source = f"file {data}"
        expected = int(figures.pop("expected", 0))
        perf = (
            judged(figures, md.get("metrics") or {}, "file", str(ref.version),
                   int(figures["cells"]), expected, m)
            if figures else []
        )  # fmt: skip
    else:
        frame = log_frame(log, uc.name, since_s, last)
        freq, gaps = str(md.get("freq", "W")), str(md.get("gaps", "zero"))
        feats = log_features(uc, frame, season, freq, gaps)
        rows = len(frame)
        where = f"the last {last} forecasts" if last is not None else "the window"
        source = f"prediction log {log.location} ({where})"
        perf, more = log_performance(uc, log, frame, reference, md, season, freq, gaps, m)
    notes += more
    drift, left_out = series_drift(reference, feats, m) if reference else ([], [])
    notes += left_out
    alerts = [
        f"drift: PSI {r.psi:.3f} on series {r.feature} (alert at {m.psi_alert:g})"
        for r in drift
        if r.flag == "alert"
    ]
    alerts += [
        f"performance ({p['variant']} v{p['model_version']}): {p['message']}"
        for p in perf
        if p["status"] == "alert"
    ]
    return {
        "use_case": uc.name,
        "model_version": ref.version,
        "model_tag": ref.tag,
        "source": source,
        "rows": rows,
        "series": len(next(iter(feats.values()))) if feats else 0,
        "thresholds": {"psi_alert": m.psi_alert, "psi_watch": m.psi_watch, "p_value": m.p_value},
        "notes": notes,
        "drift": [r.to_dict() for r in drift],
        "performance": perf,
        "alerts": alerts,
    }
