"""Intermittent demand (issue 21 item 2): Syntetos-Boylan classes, routing of intermittent
series to CrostonOptimized / TSB / ADIDA / IMAPA or the global model on earlier windows, and
per-class figures; on a synthetic panel whose classes are known by construction."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from shared.tasks import get_task
from shared.tasks.forecast.backtest import routed
from shared.tasks.forecast.baselines import stat_forecasts
from shared.tasks.forecast.config import BacktestConfig, BaselinesConfig
from shared.tasks.forecast.intermittent import adi_cv2, class_metrics, demand_classes
from shared.tasks.forecast.predictor import ForecastPredictor
from shared.tasks.forecast.windows import history_windows
from tests.test_forecasting_calendars import START, fork

SMOOTH = ["naive", "seasonal_naive", "auto_ets"]
SPARSE = ["croston_optimized", "tsb", "adida", "imapa"]


def make_panel(n_smooth: int, n_sparse: int, n_days: int, seed: int) -> pd.DataFrame:
    """Smooth shops: ~40 visits a day with a weekly rhythm. Sparse ones: a visit day with
    probability 0.25, of 4-6 visitors (ADI ~4, CV² ~0.02: intermittent)."""
    rng = np.random.default_rng(seed)
    days = [(START + dt.timedelta(days=i)).isoformat() for i in range(n_days)]
    dow = np.arange(n_days) % 7
    rows = []
    for s in range(n_smooth + n_sparse):
        if s < n_smooth:
            v = rng.poisson(40 * (1 + 0.4 * np.sin(2 * np.pi * dow / 7)))
        else:
            v = (rng.random(n_days) < 0.25) * rng.integers(4, 7, n_days)
        rows += [(f"s{s}", d, float(x), False) for d, x in zip(days, v, strict=True)]
    return pd.DataFrame(rows, columns=["shop", "day", "visits", "holiday"])


def test_classes_follow_adi_and_cv2():
    y = np.array(
        [
            [5, 6, 5, 6, 5, 6, 5, 6],  # smooth
            [1, 30, 2, 40, 1, 35, 2, 50],  # erratic: every period, sizes vary
            [0, 0, 5, 0, 0, 6, 0, 5],  # intermittent: ADI 8/3, stable sizes
            [0, 0, 1, 0, 0, 40, 0, 2],  # lumpy
            [0, 0, 0, 0, 0, 0, np.nan, 0],  # no demand at all
        ],
        dtype=float,
    )
    adi, _ = adi_cv2(y)
    assert adi[2] == pytest.approx(8 / 3)
    assert demand_classes(y).tolist() == [
        "smooth",
        "erratic",
        "intermittent",
        "lumpy",
        "intermittent",
    ]
    # zero shares: forecast 0 on 2 of 4 cells, actual 0 on 1 of 4
    out = class_metrics(
        np.array([[0.0, 2.0], [4.0, 4.0]]),
        np.array([[0.0, 0.2], [3.0, 5.0]]),
        np.array([1.0, 1.0]),
        np.array(["intermittent", "intermittent"]),
    )["intermittent"]
    assert out["zero_forecast_share"] == 0.5 and out["zero_actual_share"] == 0.25


def test_intermittent_series_are_routed_on_earlier_windows_and_beat_the_smooth_baselines(tmp_path):
    uc = fork(tmp_path, gaps="zero")
    cfg = uc.load_config(
        [f"baselines.models=[{', '.join(SMOOTH + SPARSE)}]", "backtest.selection_windows=1"]
    )
    raw = make_panel(10, 10, 140, 0)
    fit = get_task("forecast").training.fit(uc, cfg, raw, lambda m: None)
    by_class = fit.details["by_class"]
    chosen = fit.details["chosen_servable"]
    sparse = by_class[chosen]["intermittent"]
    assert sparse["series"] == 10 * 2  # 10 sparse shops x 2 scored windows, all found
    assert by_class[chosen]["smooth"]["series"] == 10 * 2
    assert sparse["zero_actual_share"] == pytest.approx(0.75, abs=0.06)
    best_smooth = min(by_class[b]["intermittent"]["mase"] for b in SMOOTH)
    assert sparse["mase"] < best_smooth, (sparse, best_smooth)
    routes = fit.details["class_routes"]
    assert [set(b) - {"cutoff"} <= {"intermittent", "lumpy"} for b in routes["by_window"]]
    assert set(routes["routes"].values()) <= {*SPARSE}


def test_the_service_routes_request_histories_like_the_backtest():
    """ForecastPredictor.route: intermittent histories get their class's method, the same
    forecast as in backtests (stat_forecasts); smooth ones keep the model's forecast."""
    raw = make_panel(3, 3, 70, 1)
    y = raw.pivot(index="shop", columns="day", values="visits").to_numpy()
    w = history_windows(
        list(y), [np.zeros(70)] * 6, [np.zeros(7)] * 6, np.full(6, "2023-03-12", "datetime64[D]"),
        length=70, season=7, floor=1.0, freq="D",
    )  # fmt: skip
    predictor = object.__new__(ForecastPredictor)  # the routing rules alone, no stored model
    predictor.routes = {"intermittent": "tsb"}
    predictor.baselines = BaselinesConfig(models=["tsb"], n_jobs=1)
    predictor.rules = BacktestConfig(horizon=7, season=7)
    model = np.full((6, 7), 123.0)
    out = predictor.route(w, model)
    classes = demand_classes(w.y)
    sparse = classes == "intermittent"
    assert sparse.tolist() == [False, False, False, True, True, True]  # s3..s5 are sparse
    expected = stat_forecasts(w.y[sparse], 7, predictor.baselines, 7, ["tsb"])["tsb"]
    np.testing.assert_allclose(out[sparse], expected)
    np.testing.assert_array_equal(out[~sparse], model[~sparse])
    backtest = np.zeros((6, 7))
    backtest[sparse] = expected
    routes = predictor.routes
    np.testing.assert_allclose(routed({"ensemble": model, "tsb": backtest}, classes, routes), out)
