"""Rolling-origin backtests of the shared core: cut-offs, and no window ever reads its future."""

import numpy as np
import pandas as pd
import pytest

from shared.core.onnx_export import make_feed, session, to_onnx
from shared.tasks.forecast import features as ff
from shared.tasks.forecast.backtest import (
    WindowForecasts,
    add_ensemble,
    backtest_cutoffs,
    choose,
    eval_rows,
    intervals,
    model_rows,
    reference_baseline,
)
from shared.tasks.forecast.baselines import baseline_forecasts
from shared.tasks.forecast.config import ForecastPipelineConfig, GlobalModelParams
from shared.tasks.forecast.model import (
    combine,
    feature_frame,
    make_global_regressor,
    training_origins,
    training_set,
)
from shared.tasks.forecast.panel import build_panel, to_long
from shared.tasks.forecast.windows import panel_windows

NAMES = ("step", "lag_1", "mean_4", "last_year", "holiday")


def toy_features(w):
    """A fork's minimal build_features: scaled lag, mean, seasonal value, holiday, step."""
    H, y = w.horizon, w.y / w.scale[:, None]
    return {
        "step": ff.steps(w.n, H),
        "lag_1": ff.per_step(ff.lag(y, 1), H),
        "mean_4": ff.per_step(ff.window_mean(y, 4), H),
        "last_year": ff.flat(ff.seasonal(y, H, 52)),
        "holiday": ff.flat(w.future_holiday),
    }


def toy_panel(n_series=30, n_weeks=130, seed=0):
    rng = np.random.default_rng(seed)
    weeks = pd.date_range("2020-01-03", periods=n_weeks, freq="7D")
    rows = []
    for s in range(n_series):
        start = int(rng.integers(0, 40)) if s % 3 == 0 else 0
        level = rng.uniform(10, 1000)
        season = 1 + 0.3 * np.sin(2 * np.pi * np.arange(n_weeks) / 52)
        y = level * season * rng.lognormal(0, 0.1, n_weeks)
        rows += [
            (s, weeks[t].strftime("%Y-%m-%d"), y[t], t % 52 == 47) for t in range(start, n_weeks)
        ]
    raw = pd.DataFrame(rows, columns=["item", "week", "sales", "holiday"])
    return build_panel(to_long(raw, ["item"], "week", "sales", "holiday"), ["item"])


CFG = ForecastPipelineConfig(
    backtest={"horizon": 4, "windows": 3, "min_history": 8},
    baselines={"models": ["naive", "seasonal_naive", "auto_ets"], "n_jobs": 1},
    model={"params": {"n_estimators": 30, "num_leaves": 7}, "max_train_rows": 20_000, "n_jobs": 1},
)


def test_cutoffs_leave_exactly_the_horizon_after_the_last_one():
    assert backtest_cutoffs(100, CFG) == [87, 91, 95]  # 100 periods, 4 steps, windows 4 apart
    with pytest.raises(ValueError, match="too few"):
        backtest_cutoffs(18, CFG)
    # a selection window comes before the scored ones and leaves them where they were
    sel = CFG.model_copy(
        update={"backtest": CFG.backtest.model_copy(update={"selection_windows": 1})}
    )
    assert backtest_cutoffs(100, sel) == [83, 87, 91, 95]


def test_training_origins_respect_cutoff_and_min_history():
    panel = toy_panel()
    cutoff = 100
    rows, origins = training_origins(panel, cutoff, 4, 8, 10**6, 0)
    assert (origins <= cutoff - 1).all()  # the first target (origin + 1) is at most the cut-off
    assert (origins - panel.first[rows] + 1 >= 8).all()


def test_nothing_after_a_cutoff_changes_training_or_forecast_inputs():
    """Poison every value after the cut-off: training rows, forecast inputs and baselines stay equal."""
    panel = toy_panel()
    cutoff = 100
    rows, _ = eval_rows(panel, cutoff, 4)
    bt, mc = CFG.backtest, CFG.model

    def snapshot(p):
        X, y = training_set(p, cutoff, toy_features, NAMES, bt, mc)
        w = panel_windows(p, rows, np.full(len(rows), cutoff), mc.history_length, 4, 52, 1.0)
        base = baseline_forecasts(p, rows, cutoff, 4, CFG.baselines, 52)
        return X, y, feature_frame(toy_features, w, NAMES), base

    before = snapshot(panel)
    panel.y[:, cutoff + 1 :] = np.where(np.isnan(panel.y[:, cutoff + 1 :]), np.nan, 1e9)
    after = snapshot(panel)
    pd.testing.assert_frame_equal(before[0], after[0])
    np.testing.assert_array_equal(before[1], after[1])
    pd.testing.assert_frame_equal(before[2], after[2])
    for name in before[3]:
        np.testing.assert_array_equal(before[3][name], after[3][name])


def test_eval_rows_count_what_they_leave_out():
    panel = toy_panel()
    panel.last[0] = 90  # pretend series 0 closed before the window's end
    rows, excluded = eval_rows(panel, 100, 4)
    assert 0 not in rows and excluded["ended_before_window_end"] == 1
    assert len(rows) + sum(excluded.values()) == panel.n_series


def test_a_season_shorter_than_the_horizon_reads_whole_past_seasons_only():
    """Weekly season 7, 14-day horizon: step h reads 7 * ceil(h / 7) periods back."""
    y = np.arange(1.0, 29.0)[None, :]  # value = day number, 28 days, origin = day 28
    f = ff.seasonal(y, horizon=14, season=7)
    # steps 1..7 target days 29..35 -> days 22..28; steps 8..14 target 36..42 -> also 22..28
    assert f[0].tolist() == list(range(22, 29)) * 2
    assert (f <= 28).all()  # never a value after the origin
    from shared.tasks.forecast.calendar import seasonal_lag

    assert seasonal_lag(14, 7).tolist() == [7] * 7 + [14] * 7
    assert seasonal_lag(8, 52).tolist() == [52] * 8  # season >= horizon: as before
    # the config accepts it, and the statistical SeasonalNaive agrees with the feature
    cfg = ForecastPipelineConfig(
        backtest={"horizon": 14, "season": 7}, model={"history_length": 28}
    )
    from shared.tasks.forecast.baselines import stat_forecasts

    sn = stat_forecasts(y, 14, cfg.baselines, 7, ["seasonal_naive"])["seasonal_naive"]
    np.testing.assert_array_equal(sn, f)


def test_global_model_onnx_parity_with_missing_values_and_fallback():
    panel = toy_panel()
    X, y = training_set(panel, 120, toy_features, NAMES, CFG.backtest, CFG.model)
    assert X.isna().any().any()  # series that started late have no value a year back
    model = make_global_regressor(GlobalModelParams(n_estimators=50, num_leaves=15), NAMES).fit(
        X, y
    )
    onnx = session(to_onnx(model, NAMES, [], classifier=False))
    feed = make_feed({c: X[c].to_numpy() for c in NAMES}, NAMES, [])
    diff = np.abs(onnx.run(None, feed)[0][:, 0] - model.predict(X))
    assert diff.max() <= 1e-4
    # A window with 3 observed periods (< min_history 8) takes the fallback rule.
    w = panel_windows(panel, np.array([0]), np.array([129]), 104, 4, 52, 1.0)
    w.y[:, :-3] = np.nan
    f, short = combine(np.zeros(4), w, CFG.backtest)
    assert short.tolist() == [True]
    assert f[0].tolist() == pytest.approx([np.mean(w.y[0, -3:])] * 4)


def test_baselines_fall_back_to_naive_for_short_histories():
    panel = toy_panel()
    rows = np.flatnonzero(panel.first > 0)[:3]
    cutoff = int(panel.first[rows].max()) + 5  # under one season of history for these series
    out = baseline_forecasts(panel, rows, cutoff, 4, CFG.baselines, 52)
    last = panel.y[rows, cutoff]
    np.testing.assert_allclose(out["seasonal_naive"], np.repeat(last[:, None], 4, axis=1))


def fake_windows(n_windows=2):
    rng = np.random.default_rng(0)
    out = []
    for k in range(n_windows):
        y = rng.uniform(50, 150, (40, 4))
        out.append(
            WindowForecasts(
                cutoff=f"2020-0{k + 1}-01",
                rows=np.arange(40),
                y=y,
                mase_scale=np.full(40, 10.0),
                scale=np.full(40, 100.0),
                forecasts={
                    "lightgbm": y + rng.normal(8, 5, y.shape),  # biased up
                    "naive": y + rng.normal(0, 30, y.shape),
                    "seasonal_naive": y - rng.normal(8, 5, y.shape),  # biased down
                },
                fallback=np.zeros(40, bool),
                excluded={},
                seconds={},
            )
        )
    return out


def test_ensemble_weights_come_from_earlier_windows_only_and_it_is_chosen_when_it_wins():
    cfg = ForecastPipelineConfig(baselines={"models": ["naive", "seasonal_naive"]})
    every = fake_windows(3)
    selection, windows = every[:1], every[1:]
    ens = add_ensemble(selection, windows, cfg)
    # opposite biases of equal size cancel: half LightGBM, half SeasonalNaive, naive left out
    assert [b["chosen_on"] for b in ens["by_window"]] == [1, 2]
    assert ens["weights"] == {"lightgbm": 0.5, "seasonal_naive": 0.5}
    w = windows[0]
    np.testing.assert_allclose(
        w.forecasts["ensemble"], (w.forecasts["lightgbm"] + w.forecasts["seasonal_naive"]) / 2
    )
    assert reference_baseline(windows, cfg) == "seasonal_naive"  # gates.baseline: best
    # the scored window's own actuals never move its weights: poison them, same forecasts
    poisoned = fake_windows(3)
    poisoned[1].y = poisoned[1].y + 1000.0
    add_ensemble(poisoned[:1], poisoned[1:], cfg)
    np.testing.assert_array_equal(poisoned[1].forecasts["ensemble"], w.forecasts["ensemble"])
    # with no earlier window, the first scored window gets the global model alone
    first = fake_windows(2)
    alone = add_ensemble([], first, cfg)
    assert alone["by_window"][0]["chosen_on"] == 0
    np.testing.assert_array_equal(first[0].forecasts["ensemble"], first[0].forecasts["lightgbm"])

    class Uc:
        @staticmethod
        def compute_kpis(y, f, base, cfg):
            return {"abs_error": float(np.nansum(np.abs(y - f)))}

    from types import SimpleNamespace

    rows = model_rows(windows, Uc, SimpleNamespace(model=cfg.model, kpi=None), "seasonal_naive")
    kinds = {r["name"]: r["kind"] for r in rows}
    assert kinds == {
        "lightgbm": "global",
        "naive": "statistical",
        "seasonal_naive": "statistical",
        "ensemble": "ensemble",
    }
    assert choose(rows)["name"] == "ensemble"
    off = ForecastPipelineConfig(baselines=cfg.baselines, model={"ensemble": False})
    assert add_ensemble([], fake_windows(), off) is None


def test_interval_coverage_with_one_window_is_na_with_the_reason():
    one = intervals(fake_windows(1), "lightgbm", [80], clip_at_zero=False)
    assert one["coverage"]["80"] == "n/a" and "one backtest window" in one["coverage"]["reason"]
    assert len(one["quantiles_scaled"]["80"]) == 4  # quantiles still come from that window
    two = intervals(fake_windows(2), "lightgbm", [80], clip_at_zero=False)
    assert 0 <= two["coverage"]["80"] <= 1
