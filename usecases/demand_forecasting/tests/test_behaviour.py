"""Behavioural tests of the trained model through the serving path (Made-With-ML style)."""

import datetime as dt

import numpy as np
import pytest

from shared.tasks.forecast.predictor import ForecastPredictor, forecast_histories
from usecases.demand_forecasting.tests.conftest import UC

LAST = dt.date(2012, 5, 25)  # the next 8 weeks hold no holiday and no seasonal peak


def run(pred, values, horizon=8):
    dates = [LAST - dt.timedelta(weeks=len(values) - 1 - i) for i in range(len(values))]
    out = forecast_histories(
        pred, [(dates, list(values), [False] * len(values))], [horizon], [[False] * horizon]
    )
    return np.array([s["forecast"] for s in out[0]["steps"]]), out[0]


@pytest.fixture(scope="module")
def pred(trained):
    return ForecastPredictor.from_store(UC)


def test_a_level_history_forecasts_about_its_level(pred):
    noise = np.random.default_rng(1).lognormal(0, 0.05, 104)
    f, out = run(pred, 1000.0 * noise)
    assert out["method"] == "model"
    assert f == pytest.approx(np.full(8, 1000.0), rel=0.15)


def test_forecasts_follow_the_size_of_the_series(pred):
    rng = np.random.default_rng(0)
    h = 500 * (1 + 0.3 * np.sin(np.arange(104) * 2 * np.pi / 52)) * rng.lognormal(0, 0.05, 104)
    small, _ = run(pred, h)
    big, _ = run(pred, h * 100)
    assert big / small == pytest.approx(np.full(8, 100.0), rel=0.15)


def test_last_years_pattern_carries_into_the_forecast(pred):
    """A series whose sales jump every year in the same weeks: the jump is forecast again."""
    h = np.full(104, 1000.0)
    h[[2, 54]] = 3000.0  # the weeks one and two years before step 3 (history index 103 + 3 - 52)
    f, _ = run(pred, h)
    assert f[2] > 1.3 * np.median(f)


def test_zero_and_negative_histories_never_give_negative_forecasts(pred):
    f, _ = run(pred, [0.0] * 60 + [-50.0, 0.0, -10.0] + [0.0] * 41)
    assert (f >= 0).all()
    f, out = run(pred, [-20.0, -5.0], horizon=3)
    assert out["method"] == "fallback" and (f == 0).all()
