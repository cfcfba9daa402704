"""Conformal intervals: the quantile by hand, and coverage close to nominal on exchangeable data."""

import numpy as np
import pytest

from shared.tasks.forecast.intervals import backtest_coverage, conformal_quantiles, interval_bounds


def test_conformal_quantile_by_hand():
    # 9 residuals 1..9: ceil((9 + 1) * 0.8) = 8th smallest = 8; 95 % -> ceil(9.5) = 10 -> capped at 9
    r = np.arange(1, 10, dtype=float).reshape(-1, 1)
    assert conformal_quantiles(r, [80, 95]) == {"80": [8.0], "95": [9.0]}


def test_bounds_scale_with_the_series_and_clip_at_zero():
    f = np.array([[10.0, 10.0]])
    b = interval_bounds(f, np.array([4.0]), {"80": [0.5, 3.0]}, clip_at_zero=True)
    lo, hi = b["80"]
    assert lo.tolist() == [[8.0, 0.0]] and hi.tolist() == [[12.0, 22.0]]


def test_coverage_is_close_to_nominal_on_synthetic_windows():
    rng = np.random.default_rng(0)
    windows = []
    for _ in range(4):
        scale = rng.uniform(1, 100, 2000)
        f = rng.uniform(100, 1000, (2000, 3))
        y = f + scale[:, None] * rng.standard_t(5, (2000, 3)) * np.array([1.0, 1.5, 2.0])
        windows.append((y, f, scale))
    cov = backtest_coverage(windows, [80, 95], clip_at_zero=False)
    assert cov["80"] == pytest.approx(0.80, abs=0.02)
    assert cov["95"] == pytest.approx(0.95, abs=0.01)
    assert np.isnan(backtest_coverage(windows[:1], [80], False)["80"])  # nothing to calibrate on
