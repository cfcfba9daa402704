"""Forecast metrics of the shared core, worked out by hand on tiny series."""

import numpy as np
import pytest

from shared.tasks.forecast.metrics import (
    bias,
    bootstrap_interval,
    forecast_metrics,
    mase,
    mase_scale,
    metrics_by_step,
    smape,
    wape,
)


def test_wape_bias_smape_by_hand():
    y = np.array([[10.0, 0.0], [20.0, 30.0]])
    f = np.array([[12.0, 0.0], [15.0, 30.0]])
    # |e| = 2, 0, 5, 0 -> 7; sum |y| = 60 -> WAPE 7/60
    assert wape(y, f) == pytest.approx(7 / 60)
    # f - y = 2, 0, -5, 0 -> -3 / 60
    assert bias(y, f) == pytest.approx(-3 / 60)
    # 2|e| / (|y| + |f|): 4/22, 0 (both zero), 10/35, 0 -> mean over 4 points
    assert smape(y, f) == pytest.approx((4 / 22 + 10 / 35) / 4)


def test_mase_by_hand_with_seasonal_and_naive_scales():
    # Series a, season 2: |y_t - y_{t-2}| = |3-1|, |0-0|, |5-3|, |0-0| = 2, 0, 2, 0 -> scale 1
    # Series b has 2 periods, fewer than season + 1: naive (lag 1) scale |4 - 1| = 3
    history = np.array([[1, 0, 3, 0, 5, 0.0], [np.nan] * 4 + [1, 4.0]])
    scale = mase_scale(history, season=2)
    assert scale == pytest.approx([1.0, 3.0])
    y = np.array([[10.0, 10.0], [10.0, 10.0]])
    f = np.array([[9.0, 12.0], [16.0, 10.0]])
    # a: mean |e| = (1 + 2) / 2 = 1.5 / 1 = 1.5; b: (6 + 0) / 2 = 3 / 3 = 1 -> MASE 1.25
    assert mase(y, f, scale) == pytest.approx(1.25)


def test_zero_scale_series_are_left_out_of_mase_only():
    y = np.array([[1.0], [2.0]])
    f = np.array([[2.0], [4.0]])
    scale = np.array([0.0, 2.0])  # a constant history has no scale
    assert mase(y, f, scale) == pytest.approx(1.0)
    assert wape(y, f) == pytest.approx(3 / 3)


def test_metrics_by_step_pool_series_per_step():
    y = np.array([[10.0, 20.0], [30.0, 40.0]])
    f = np.array([[10.0, 25.0], [27.0, 40.0]])
    steps = metrics_by_step(y, f, np.array([1.0, 1.0]))
    assert [s["step"] for s in steps] == [1, 2]
    assert steps[0]["wape"] == pytest.approx(3 / 40)
    assert steps[1]["wape"] == pytest.approx(5 / 60)
    assert set(forecast_metrics(y, f, np.ones(2))) == {"mase", "wape", "smape", "bias"}


def test_nan_actuals_are_not_scored():
    """A period not observed (closed, data.gaps: missing) counts in no metric."""
    y = np.array([[10.0, np.nan], [20.0, 30.0]])
    f = np.array([[12.0, 99.0], [15.0, 30.0]])
    assert wape(y, f) == pytest.approx(7 / 60)
    assert bias(y, f) == pytest.approx(-3 / 60)
    assert smape(y, f) == pytest.approx((4 / 22 + 10 / 35) / 3)
    # row a: |e| = 2 over 1 observed step; row b: (5 + 0) / 2 -> mean of 2 and 2.5
    assert mase(y, f, np.array([1.0, 1.0])) == pytest.approx(2.25)
    assert np.isnan(mase(np.full((1, 2), np.nan), f[:1], np.ones(1)))


def test_bootstrap_interval_brackets_the_pooled_figures_and_is_seeded():
    rng = np.random.default_rng(1)
    y = rng.uniform(50, 150, (200, 4))
    f = y + rng.normal(0, 10, y.shape)
    scale = np.full(200, 10.0)
    iv = bootstrap_interval(y, f, scale)
    pooled = forecast_metrics(y, f, scale)
    for k in ("wape", "mase"):
        assert iv[k][0] < pooled[k] < iv[k][1]
        assert iv[k][1] - iv[k][0] < 0.2 * pooled[k]  # 200 rows: a narrow interval
    assert bootstrap_interval(y, f, scale) == iv
