"""build_features: the model inputs from a history window, the same in training and serving."""

import numpy as np
import pytest

from shared.tasks.forecast.windows import history_windows
from usecases.demand_forecasting.features import build_features
from usecases.demand_forecasting.model import FEATURES


def windows(histories, horizon=8, length=104, last="2012-10-26"):
    n = len(histories)
    return history_windows(
        histories,
        [np.zeros(len(h)) for h in histories],
        [np.zeros(horizon)] * n,
        np.array([last] * n, dtype="datetime64[D]"),
        length,
        season=52,
        floor=1.0,
    )


def test_features_are_the_model_inputs_one_row_per_step_and_input_untouched():
    rng = np.random.default_rng(0)
    w = windows([rng.uniform(100, 200, 104), rng.uniform(1, 2, 30)])
    before = w.y.copy()
    feats = build_features(w)
    np.testing.assert_array_equal(w.y, before)
    assert tuple(feats) == FEATURES
    assert all(len(v) == 2 * 8 for v in feats.values())
    assert feats["step"][:8].tolist() == list(range(1, 9))


def test_each_window_is_independent_of_the_rest_of_the_batch():
    rng = np.random.default_rng(1)
    hist = [rng.uniform(100, 200, 104), rng.uniform(1, 2, 60), rng.uniform(0, 5, 20)]
    both = build_features(windows(hist))
    alone = build_features(windows(hist[1:2]))
    for k in FEATURES:
        np.testing.assert_array_equal(both[k][8:16], alone[k])


def test_scaling_makes_inputs_size_free():
    rng = np.random.default_rng(2)
    h = rng.uniform(100, 200, 104)
    small, big = build_features(windows([h])), build_features(windows([h * 1000]))
    for k in FEATURES:
        if k != "log_scale":
            np.testing.assert_allclose(small[k], big[k], rtol=1e-9, equal_nan=True)
    assert big["log_scale"][0] == pytest.approx(small["log_scale"][0] + 3)


def test_seasonal_inputs_read_last_year_not_the_future():
    h = np.arange(1.0, 105.0)  # value = week number, 104 weeks
    f = build_features(windows([h]))
    scale = np.mean(h[-52:])
    # step 1 targets week 105: last year's same week is week 53, two years ago week 1
    assert f["same_week_last_year"][0] * scale == pytest.approx(53.0)
    assert f["same_week_two_years_ago"][0] * scale == pytest.approx(1.0)
    assert f["lag_1"][0] * scale == pytest.approx(104.0)


def test_month_start_day_of_the_target_week_and_of_the_week_last_year_the_model_reads():
    # Friday-ended weeks after 2012-07-20: 07-27, 08-03, ..., 09-14 (steps 1-8); a year
    # earlier (52 weeks) 2011-07-29, 08-05, ...; steps past a year read two years back.
    f = build_features(windows([np.ones(104)], horizon=8, last="2012-07-20"))
    assert f["month_start_day"].tolist() == [8, 3, 8, 8, 8, 8, 7, 8]
    assert f["month_start_day_last_year"].tolist() == [8, 5, 8, 8, 8, 2, 8, 8]
    long = build_features(windows([np.ones(104)], horizon=54, last="2012-07-20"))
    # step 54 (2013-08-02) reads 104 weeks back, 2011-08-05 (52 back would be 2012-08-03: 3)
    assert long["month_start_day"][53] == 2.0
    assert long["month_start_day_last_year"][53] == 5.0
    assert long["month_start_day_last_year"][:8].tolist() == [8, 5, 8, 8, 8, 2, 8, 8]


def test_not_observed_weeks_are_missing_inputs_not_zeros():
    h = np.arange(1.0, 105.0)
    h[-1] = np.nan  # the last week was not observed (data.gaps: missing)
    f = build_features(windows([h]))
    assert np.isnan(f["lag_1"][0]) and np.isfinite(f["mean_4"][0])


def test_short_history_gives_missing_seasonal_inputs_not_zeros():
    f = build_features(windows([np.array([5.0, 6.0, 7.0])]))
    assert np.isnan(f["same_week_last_year"]).all()
    assert f["weeks_observed"][0] == 3
