"""Forecast accuracy: MASE, WAPE, sMAPE and bias, overall and per horizon step.

Conventions (tests work them out by hand):
- WAPE  = sum |y - f| / sum |y|                       (volume-weighted; big series dominate)
- bias  = sum (f - y) / sum |y|                       (> 0: over-forecast)
- sMAPE = mean 2 |y - f| / (|y| + |f|), 0 when both are 0; between 0 and 2
- MASE  = mean over series of  mean_h |y - f| / scale_s  (every series counts the same), where
          scale_s is the in-sample MAE of the seasonal naive forecast (lag `season`) on the
          history before the origin, or of the naive forecast (lag 1) for a series with less
          than season + 1 periods of history. Series with a zero scale (a constant history)
          are left out of MASE only, and counted.
- A NaN actual (a period not observed, `data.gaps: missing`, or after a series closed) is
  not scored by any metric.
"""

from __future__ import annotations

import numpy as np


def mase_scale(history: np.ndarray, season: int) -> np.ndarray:
    """[n] in-sample MAE of the (seasonal) naive forecast; NaN history entries are skipped."""
    out = np.full(len(history), np.nan)
    for lag in (season, 1):
        if history.shape[1] <= lag:
            continue
        diff = np.abs(history[:, lag:] - history[:, :-lag])
        count = (~np.isnan(diff)).sum(axis=1)
        mean = np.divide(
            np.nansum(diff, axis=1), count, out=np.full(len(history), np.nan), where=count > 0
        )
        todo = np.isnan(out) & (count > 0)
        out[todo] = mean[todo]
    return out


def _seen(y: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ok = np.isfinite(y)
    return y[ok], np.asarray(f)[ok]


def wape(y: np.ndarray, f: np.ndarray) -> float:
    y, f = _seen(y, f)
    den = np.sum(np.abs(y))
    return float(np.sum(np.abs(y - f)) / den) if den > 0 else float("nan")


def bias(y: np.ndarray, f: np.ndarray) -> float:
    y, f = _seen(y, f)
    den = np.sum(np.abs(y))
    return float(np.sum(f - y) / den) if den > 0 else float("nan")


def smape(y: np.ndarray, f: np.ndarray) -> float:
    y, f = _seen(y, f)
    den = np.abs(y) + np.abs(f)
    terms = np.divide(
        2 * np.abs(y - f), den, out=np.zeros_like(den, dtype=np.float64), where=den > 0
    )
    return float(np.mean(terms)) if terms.size else float("nan")


def mase(y: np.ndarray, f: np.ndarray, scale: np.ndarray) -> float:
    """y, f: [n, H]; scale: [n]. Mean over rows with a positive scale (and at least one
    observed actual) of mean_h |e| / scale, NaN actuals skipped."""
    err = np.abs(y - f)
    seen = np.isfinite(err)
    ok = np.isfinite(scale) & (scale > 0) & seen.any(axis=1)
    if not ok.any():
        return float("nan")
    per_row = np.where(seen[ok], err[ok], 0.0).sum(axis=1) / seen[ok].sum(axis=1) / scale[ok]
    return float(np.mean(per_row))


def scored_cells(y: np.ndarray) -> int:
    """How many (series, step) actuals the metrics score."""
    return int(np.isfinite(y).sum())


def forecast_metrics(y: np.ndarray, f: np.ndarray, scale: np.ndarray) -> dict[str, float]:
    """y, f: [n, H] (one row per series and origin); scale: [n] MASE scale."""
    return {"mase": mase(y, f, scale), "wape": wape(y, f), "smape": smape(y, f), "bias": bias(y, f)}


def metrics_by_step(y: np.ndarray, f: np.ndarray, scale: np.ndarray) -> list[dict[str, float]]:
    """One metrics dict per horizon step (1-based `step` key)."""
    return [
        {"step": h + 1} | forecast_metrics(y[:, h : h + 1], f[:, h : h + 1], scale)
        for h in range(y.shape[1])
    ]


def row_errors(y: np.ndarray, f: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """[n] per row (one series in one window) mean_h |y - f| / scale: the terms MASE averages;
    NaN where the row has no observed actual or no positive scale."""
    err = np.abs(y - f)
    seen = np.isfinite(err)
    n_seen = seen.sum(axis=1)
    ok = np.isfinite(scale) & (scale > 0) & (n_seen > 0)
    total = np.where(seen, err, 0.0).sum(axis=1)
    return np.divide(
        total, n_seen * np.where(ok, scale, 1.0), out=np.full(len(y), np.nan), where=ok
    )


def paired_p_value(candidate: np.ndarray, baseline: np.ndarray, test: str) -> float:
    """One-sided p-value that `candidate`'s paired errors are lower than `baseline`'s.

    `test`: "wilcoxon" (signed-rank) or "sign" (binomial on the share of rows won). Rows
    where either error is NaN, and ties, carry no evidence; no untied row gives p = 1."""
    # scipy is imported here so that the service, which imports this module, never loads it
    from scipy.stats import binomtest, wilcoxon

    ok = np.isfinite(candidate) & np.isfinite(baseline)
    d = candidate[ok] - baseline[ok]
    d = d[d != 0]
    if not len(d):
        return 1.0
    if test == "sign":
        return float(binomtest(int((d < 0).sum()), len(d), 0.5, alternative="greater").pvalue)
    return float(wilcoxon(d, alternative="less").pvalue)


def bootstrap_interval(
    y: np.ndarray, f: np.ndarray, scale: np.ndarray, level: float = 95, n: int = 500, seed: int = 0
) -> dict[str, list[float]]:
    """{"wape": [lo, hi], "mase": [lo, hi]}: percentile bootstrap over rows (series x windows,
    resampled whole so a series' steps stay together), seeded."""
    err = np.where(np.isfinite(y), np.abs(y - f), 0.0).sum(axis=1)
    vol = np.where(np.isfinite(y), np.abs(y), 0.0).sum(axis=1)
    terms = row_errors(y, f, scale)
    idx = np.random.default_rng(seed).integers(0, len(y), (n, len(y)))
    with np.errstate(invalid="ignore", divide="ignore"):
        w = err[idx].sum(axis=1) / vol[idx].sum(axis=1)
        t = terms[idx]
        m = np.nansum(t, axis=1) / np.isfinite(t).sum(axis=1)
    q = [(100 - level) / 2, 100 - (100 - level) / 2]
    return {
        "wape": [float(v) for v in np.nanpercentile(w, q)],
        "mase": [float(v) for v in np.nanpercentile(m, q)],
    }
