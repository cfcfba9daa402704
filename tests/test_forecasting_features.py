"""The forecasting feature helpers give the same bits as their plain numpy forms.

They are written for the one-series request (fewer, cheaper numpy calls), and a stored model
was trained on features computed with them: a helper that drifted from its plain form by one
bit could move a value across a split threshold between training and serving.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

from shared.tasks.forecast import features as ff
from shared.tasks.forecast.calendar import seasonal_lag
from shared.tasks.forecast.predictor import ForecastPredictor
from shared.tasks.forecast.windows import series_scale


def panels() -> list[np.ndarray]:
    """A one-series request, a training-size batch with gaps, all-missing rows, no periods."""
    rng = np.random.default_rng(7)
    one = rng.normal(100, 30, (1, 104))
    one[0, :20] = np.nan  # a series younger than its window
    batch = rng.normal(1, 0.4, (4000, 110))
    batch[rng.random(batch.shape) < 0.1] = np.nan
    batch[:50] = np.nan  # nothing observed
    batch[50:100, -13:] = 0.0  # zeros, for count_where
    batch[100:150, -30:] *= -1  # negatives
    return [one, batch, np.full((3, 0), np.nan)]


def same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


def plain(fn, *args):  # noqa: ANN001, ANN202 - numpy's nan-functions warn on all-NaN rows
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(*args)


def share(hit: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Share of the seen values that hit, NaN where none was seen."""
    return plain(np.divide, (hit & seen).sum(1), seen.sum(1))


@pytest.mark.parametrize("k", [1, 4, 13, 52, 500])
def test_window_statistics_equal_numpys_nan_functions(k: int) -> None:
    for y in panels():
        recent = y[:, -k:]
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the fast forms never warn
            mean, std = ff.window_mean(y, k), ff.window_std(y, k)
            zero, neg = ff.count_where(y, k, "zero"), ff.count_where(y, k, "negative")
        assert same(mean, plain(np.nanmean, recent, 1))
        assert same(std, plain(np.nanstd, recent, 1))
        seen = ~np.isnan(recent)
        assert same(zero, share(recent == 0, seen))
        assert same(neg, share(recent < 0, seen))


@pytest.mark.parametrize("season", [1, 7, 51, 52, 53, 104, 300])
@pytest.mark.parametrize("horizon", [1, 8, 14])
def test_seasonal_reads_what_its_rule_says(season: int, horizon: int) -> None:
    for y in panels():
        L = y.shape[1]
        expected = np.full((len(y), horizon), np.nan)
        for h, lag in enumerate(seasonal_lag(horizon, season), start=1):
            if L - 1 + h - lag >= 0:  # the value `lag` periods before target h
                expected[:, h - 1] = y[:, L - 1 + h - lag]
        assert same(ff.seasonal(y, horizon, season), expected)
        low = y.astype(np.float32)  # any input dtype: the answer is float64
        assert same(
            ff.seasonal(low, horizon, season), ff.seasonal(low.astype(np.float64), horizon, season)
        )


def test_ratio_per_step_and_scale_equal_their_plain_forms() -> None:
    a = np.array([1.0, 2.0, np.nan, 4.0, 5.0, 6.0])
    b = np.array([2.0, 0.0, 1.0, -1.0, np.nan, np.inf])
    assert same(ff.ratio(a, b), np.array([0.5, np.nan, np.nan, np.nan, np.nan, 0.0]))
    assert same(ff.per_step(a, 3), np.repeat(a, 3))
    assert same(ff.per_step([1, 2], 2), np.array([1.0, 1.0, 2.0, 2.0]))
    for n in (0, 1, 3):
        assert same(ff.steps(n, 4), np.tile(np.arange(1.0, 5.0), n))
    for y in panels()[:2]:
        recent = np.abs(y[:, -52:])
        count = (~np.isnan(recent)).sum(axis=1)
        mean = np.divide(np.nansum(recent, axis=1), count, out=np.zeros(len(y)), where=count > 0)
        assert same(series_scale(y, 52, 0.5), np.maximum(mean, 0.5))


def test_date_parts_equal_pandas() -> None:
    days = pd.date_range("2011-12-20", "2013-03-04", freq="D")  # 63 weeks: a leap day, year ends
    d = days.to_numpy().astype("datetime64[D]").reshape(-1, 7)  # [n, H] as features get them
    assert same(ff.day_of_month(d), days.day.to_numpy(np.float64).reshape(-1, 7))
    assert same(ff.month_of_year(d), days.month.to_numpy(np.float64).reshape(-1, 7))
    assert same(ff.day_of_week(d), days.dayofweek.to_numpy(np.float64).reshape(-1, 7))


@pytest.mark.parametrize("length", [1, 5, 52, 60])
@pytest.mark.parametrize(("horizon", "season"), [(8, 52), (14, 7), (3, 1)])
def test_future_holiday_flags_repeat_the_latest_season_and_are_0_before_the_history(
    length: int, horizon: int, season: int
) -> None:
    """Without a calendar file, step h's flag is the history's flag `season * ceil(h / season)`
    periods before it, 0 when that lies before the history."""
    rng = np.random.default_rng(length)
    flags = (rng.random(length) < 0.3).astype(np.float64)
    rules = type("Rules", (), {"season": season})()
    predictor = type("P", (), {"calendar": None, "holiday_column": None, "rules": rules})()
    got = ForecastPredictor.future_flags(predictor, flags, np.datetime64("2012-01-06"), horizon)
    expected = [
        flags[length - 1 + h - lag] if length - 1 + h - lag >= 0 else 0.0
        for h, lag in enumerate(seasonal_lag(horizon, season), start=1)
    ]
    assert same(got, np.array(expected))
