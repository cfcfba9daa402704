"""Statistical members for the ensemble (the level-adjusted seasonal naive forecast, the
seasonally adjusted smoothed level, the low-rank SVD smoothing of a group's histories) and the
global model's log target and additive inputs, on data whose truth is known."""

import numpy as np
import pandas as pd
import pytest

from shared.tasks.forecast.baselines import baseline_forecasts, stat_forecasts, svd_smooth
from shared.tasks.forecast.config import BaselinesConfig, GlobalModelParams
from shared.tasks.forecast.model import from_output, make_global_regressor, to_target
from shared.tasks.forecast.panel import build_panel, to_long
from shared.tasks.forecast.windows import history_windows, panel_windows

SEASON, H = 52, 8


def yearly(n_weeks: int) -> np.ndarray:
    return 100 + 30 * np.sin(2 * np.pi * np.arange(n_weeks) / SEASON)


def test_seasonal_level_carries_last_year_forward_with_the_change_in_level():
    """Same yearly shape, level 40 higher for the last 20 weeks: seasonal naive is 40 short,
    seasonal level exact; a flat series stays flat."""
    shape = yearly(2 * SEASON + H)
    step_up = np.arange(len(shape)) >= 2 * SEASON - 20
    y = np.stack([shape + 40 * step_up, np.full(len(shape), 7.0)])
    cfg = BaselinesConfig(models=["seasonal_naive", "seasonal_level"], level_window=4)
    out = stat_forecasts(y[:, : 2 * SEASON], H, cfg, SEASON)
    truth = y[:, 2 * SEASON :]
    np.testing.assert_allclose(out["seasonal_level"], truth)
    np.testing.assert_allclose(out["seasonal_naive"][0], truth[0] - 40)


def test_seasonal_level_falls_back_to_naive_without_a_season_of_history():
    y = np.array([[1.0, 2.0, 3.0, 5.0]])
    out = stat_forecasts(y, 3, BaselinesConfig(models=["seasonal_level"]), SEASON)
    np.testing.assert_allclose(out["seasonal_level"], [[5.0, 5.0, 5.0]])


def test_seasonal_ses_reads_the_shape_from_every_year_and_is_exact_without_noise():
    """Three years of one yearly shape plus noise (sd 10): seasonal_ses averages the shape over
    the three, so it misses the noise-free future by much less than the seasonal naive
    forecast, which carries last year's noisy weeks; on the noise-free series (each at its own
    level) it is exact."""
    rng = np.random.default_rng(4)
    T, n = 3 * SEASON, 200
    clean = np.tile(yearly(T + H), (n, 1)) + np.arange(n)[:, None]
    noisy = clean[:, :T] + rng.normal(0, 10, (n, T))
    out = stat_forecasts(
        noisy, H, BaselinesConfig(models=["seasonal_naive", "seasonal_ses"]), SEASON
    )
    truth = clean[:, T:]
    ses, naive = (np.abs(out[m] - truth).mean() for m in ("seasonal_ses", "seasonal_naive"))
    assert ses < 0.7 * naive  # averaging 3 years: about 1 / sqrt(3) of the noise
    exact = stat_forecasts(clean[:, :T], H, BaselinesConfig(models=["seasonal_ses"]), SEASON)
    np.testing.assert_allclose(exact["seasonal_ses"], truth, atol=1e-9)


def test_seasonal_ses_without_a_full_season_forecasts_the_smoothed_level():
    """Under a season and a period of history there is no seasonal index: the forecast is the
    smoothed level, which follows a step when the step is all the series holds."""
    y = np.array([[5.0] * 10, [1.0] * 4 + [9.0] * 6])
    out = stat_forecasts(y, 3, BaselinesConfig(models=["seasonal_ses"]), SEASON)
    np.testing.assert_allclose(out["seasonal_ses"], [[5.0] * 3, [9.0] * 3])


def test_svd_smoothing_removes_a_one_off_spike_and_keeps_the_shared_shape():
    """12 stores share a department's yearly shape at their own sizes; one store has a one-off
    spike. Rank 1 gives back the shape (error < 5 % of the spike) per group; a group of one
    series (<= rank) stays as it is."""
    rng = np.random.default_rng(0)
    shape = yearly(2 * SEASON)
    sizes = rng.uniform(0.5, 3.0, 12)
    clean = sizes[:, None] * shape[None, :]
    y = clean + rng.normal(0, 0.5, clean.shape)
    y[3, 60] += 500.0  # a one-off spike
    alone = np.full((1, 2 * SEASON), 9.0)
    alone[0, 10] = 90.0
    groups = np.array(["a"] * 12 + ["b"])
    out = svd_smooth(np.vstack([y, alone]), groups, rank=1)
    assert abs(out[3, 60] - clean[3, 60]) < 0.05 * 500
    assert np.abs(out[:12] - clean).max() < 0.1 * 500
    np.testing.assert_array_equal(out[12], alone[0])  # left as it is


def test_smoothed_baselines_read_only_the_history_before_the_cutoff():
    """With smoothing, a change after the cut-off in any series of the group changes no
    baseline forecast (the SVD is taken on the history up to the cut-off only)."""
    rng = np.random.default_rng(1)
    n, T = 10, 2 * SEASON + 2 * H
    dates = pd.date_range("2020-01-03", periods=T, freq="7D")
    rows = []
    for s in range(n):
        v = rng.uniform(1, 3) * yearly(T) + rng.normal(0, 2, T)
        rows += [
            (s, "d1", d.date().isoformat(), float(x), False) for d, x in zip(dates, v, strict=True)
        ]
    raw = pd.DataFrame(rows, columns=["store", "dept", "week", "sales", "holiday"])
    cfg = BaselinesConfig(
        models=["seasonal_level"], smoothing={"group": "dept", "rank": 2}, level_window=4
    )
    ids = ["store", "dept"]
    cutoff = 2 * SEASON + H - 1

    def forecasts(config: BaselinesConfig) -> dict:
        panel = build_panel(to_long(raw, ids, "week", "sales", "holiday"), ids)
        return baseline_forecasts(panel, np.arange(n), cutoff, H, config, SEASON)

    before = forecasts(cfg)
    later = pd.to_datetime(raw["week"]) > dates[cutoff]
    raw.loc[later, "sales"] *= 10
    after = forecasts(cfg)
    np.testing.assert_allclose(before["seasonal_level"], after["seasonal_level"])
    plain = forecasts(BaselinesConfig(models=["seasonal_level"], level_window=4))
    assert not np.allclose(plain["seasonal_level"], after["seasonal_level"])  # it does smooth


def test_serving_smooths_a_request_holding_the_whole_group_as_the_backtest_does():
    """stat_forecasts on the request's histories with their group keys (the service's path)
    gives the backtest's forecasts when the request holds every series of the group."""
    rng = np.random.default_rng(2)
    T, n = 2 * SEASON + 4, 9
    y = rng.uniform(1, 3, (n, 1)) * yearly(T)[None, :] + rng.normal(0, 3, (n, T))
    dates = pd.date_range("2020-01-03", periods=T, freq="7D")
    raw = pd.DataFrame(
        [
            (s, "d1", d.date().isoformat(), float(y[s, t]), False)
            for s in range(n)
            for t, d in enumerate(dates)
        ],
        columns=["store", "dept", "week", "sales", "holiday"],
    )
    ids = ["store", "dept"]
    panel = build_panel(to_long(raw, ids, "week", "sales", "holiday"), ids)
    cfg = BaselinesConfig(models=["seasonal_level"], smoothing={"group": "dept", "rank": 2})
    backtest = baseline_forecasts(panel, np.arange(n), T - 1, H, cfg, SEASON)
    served = stat_forecasts(panel.y, H, cfg, SEASON, groups=np.asarray(panel.keys["dept"]))
    np.testing.assert_allclose(served["seasonal_level"], backtest["seasonal_level"])
    alone = stat_forecasts(panel.y[:1], H, cfg, SEASON, groups=np.array(["d1"]))  # <= rank
    unsmoothed = stat_forecasts(panel.y[:1], H, BaselinesConfig(models=["seasonal_level"]), SEASON)
    np.testing.assert_allclose(alone["seasonal_level"], unsmoothed["seasonal_level"])


def test_served_windows_give_the_members_the_whole_history_as_the_backtest_does():
    """Histories longer than the model's window (104 periods): the model reads the last 104,
    the statistical members every period, so seasonal_ses (which averages every year) forecasts
    as in the backtest, from a request (history_windows) and from a file (panel_windows)."""
    rng = np.random.default_rng(5)
    T, n, length = 3 * SEASON + 10, 4, 2 * SEASON
    y = rng.uniform(1, 3, (n, 1)) * yearly(T)[None, :] + rng.normal(0, 3, (n, T))
    y[0, :30] = np.nan  # a series that opened later
    dates = pd.date_range("2020-01-03", periods=T, freq="7D")
    raw = pd.DataFrame(
        [
            (s, "d1", d.date().isoformat(), float(y[s, t]), False)
            for s in range(n)
            for t, d in enumerate(dates)
            if np.isfinite(y[s, t])
        ],
        columns=["store", "dept", "week", "sales", "holiday"],
    )
    ids = ["store", "dept"]
    panel = build_panel(to_long(raw, ids, "week", "sales", "holiday"), ids)
    cfg = BaselinesConfig(models=["seasonal_level", "seasonal_ses"])
    backtest = baseline_forecasts(panel, np.arange(n), T - 1, H, cfg, SEASON)
    values = [row[np.isfinite(row)] for row in panel.y]
    request = history_windows(
        values,
        [np.zeros(len(v)) for v in values],
        [np.zeros(H)] * n,
        np.full(n, dates[-1].date(), dtype="datetime64[D]"),
        length,
        SEASON,
        1.0,
    )
    assert request.y.shape == (n, length) and request.members_y.shape == (n, T)
    whole = panel_windows(
        panel, np.arange(n), np.full(n, T - 1), length, H, SEASON, 1.0, whole_history=True
    )
    for w in (request, whole):
        served = stat_forecasts(w.members_y, H, cfg, SEASON)
        for m in cfg.models:
            np.testing.assert_allclose(served[m], backtest[m])
    cut = stat_forecasts(request.y, H, cfg, SEASON)["seasonal_ses"]
    assert not np.allclose(cut, backtest["seasonal_ses"])  # the last 104 periods would differ


def test_log_target_round_trips_and_additive_inputs_get_trees_of_their_own():
    """model.target=log: the model learns log1p(value / scale) and combine() inverts it;
    model.params.additive: each named input in trees where no other input splits."""
    scaled = np.array([0.0, 0.5, 1.0, 3.0])
    np.testing.assert_allclose(from_output(to_target(scaled, "log"), "log"), scaled)
    np.testing.assert_allclose(to_target(np.array([-0.4]), "log"), [0.0])  # returns: 0
    rng = np.random.default_rng(3)
    X = pd.DataFrame({"a": rng.normal(size=2000), "b": rng.normal(size=2000)})
    X["flag"] = (rng.uniform(size=2000) < 0.2).astype(float)
    y = X["a"] * X["b"] + 2.0 * X["flag"]
    params = GlobalModelParams(n_estimators=30, min_child_samples=5, additive=["flag"])
    model = make_global_regressor(params, ["a", "b", "flag"]).fit(X, y)
    trees = model[-1].booster_.trees_to_dataframe()
    flag = model[-1].booster_.feature_name()[2]  # the pipeline's third column
    used = trees.dropna(subset=["split_feature"]).groupby("tree_index")["split_feature"]
    with_flag = [set(f) for _, f in used if flag in set(f)]
    assert with_flag and all(f == {flag} for f in with_flag)
    lift = model.predict(X.assign(flag=1.0)) - model.predict(X.assign(flag=0.0))
    np.testing.assert_allclose(lift, lift[0])  # one step, the same on every row
    assert abs(lift[0] - 2.0) < 0.3
    with pytest.raises(ValueError, match="additive"):
        make_global_regressor(GlobalModelParams(additive=["nope"]), ["a", "b"])
