"""Conformal prediction intervals from backtest residuals, one quantile per horizon step.

Residuals are divided by each series' scale (the same scale the model uses), so one set of
quantiles serves series of every size: interval = forecast +- scale * q[level][step]. The
quantile is the split-conformal one: the ceil((n + 1) * level)-th smallest absolute scaled
residual. Coverage is measured honestly: each backtest window is covered by quantiles taken
from the other, earlier windows only.
"""

from __future__ import annotations

import math

import numpy as np


def conformal_quantiles(
    abs_scaled_residuals: np.ndarray, levels: list[int]
) -> dict[str, list[float]]:
    """[n, H] |y - f| / scale -> {"80": [q_step1, ...], "95": [...]}; NaN residuals are skipped."""
    out: dict[str, list[float]] = {}
    for level in levels:
        qs = []
        for h in range(abs_scaled_residuals.shape[1]):
            r = np.sort(abs_scaled_residuals[:, h][np.isfinite(abs_scaled_residuals[:, h])])
            if not len(r):
                qs.append(float("nan"))
                continue
            k = min(math.ceil((len(r) + 1) * level / 100), len(r))
            qs.append(float(r[k - 1]))
        out[str(level)] = qs
    return out


def interval_bounds(
    forecast: np.ndarray, scale: np.ndarray, quantiles: dict[str, list[float]], clip_at_zero: bool
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{level: (low [n, H], high [n, H])} around `forecast` [n, H]."""
    out = {}
    H = forecast.shape[1]
    for level, q in quantiles.items():
        half = scale[:, None] * np.asarray(q[:H])[None, :]
        low = forecast - half
        out[level] = (np.maximum(low, 0.0) if clip_at_zero else low, forecast + half)
    return out


def coverage(y: np.ndarray, bounds: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """Share of actuals inside each interval (NaN actuals skipped)."""
    ok = np.isfinite(y)
    return {
        level: float(np.mean(((y >= lo) & (y <= hi))[ok])) if ok.any() else float("nan")
        for level, (lo, hi) in bounds.items()
    }


def backtest_coverage(
    windows: list[tuple[np.ndarray, np.ndarray, np.ndarray]], levels: list[int], clip_at_zero: bool
) -> dict[str, float]:
    """windows: (y, f, scale) per backtest window, oldest first. Window k is covered by the
    quantiles of windows 0..k-1; NaN when there is only one window (nothing to calibrate on)."""
    hits: dict[str, list[np.ndarray]] = {str(lv): [] for lv in levels}
    for k in range(1, len(windows)):
        past = np.concatenate([np.abs(y - f) / s[:, None] for y, f, s in windows[:k]])
        q = conformal_quantiles(past, levels)
        y, f, s = windows[k]
        ok = np.isfinite(y)
        for level, (lo, hi) in interval_bounds(f, s, q, clip_at_zero).items():
            hits[level].append(((y >= lo) & (y <= hi))[ok])
    return {
        level: float(np.mean(np.concatenate(h))) if h else float("nan") for level, h in hits.items()
    }
