"""Statistical baselines with statsforecast on the long format, unchanged.

A baseline that cannot forecast a series (SeasonalNaive on less than one season of history,
a model fit that fails) falls back to the naive forecast (the last value), so every model is
scored on the same series.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from shared.forecast.config import BaselinesConfig
from shared.forecast.panel import DS, ID, Panel


def statsforecast_models(cfg: BaselinesConfig, season: int) -> list[Any]:
    from statsforecast.models import AutoARIMA, AutoETS, AutoTheta, Naive, SeasonalNaive

    make = {
        "naive": lambda: Naive(alias="naive"),
        "seasonal_naive": lambda: SeasonalNaive(season, alias="seasonal_naive"),
        "auto_ets": lambda: AutoETS(season_length=cfg.ets_season_length, alias="auto_ets"),
        "auto_theta": lambda: AutoTheta(season_length=cfg.theta_season_length, alias="auto_theta"),
        "auto_arima": lambda: AutoARIMA(
            season_length=cfg.arima_season_length, approximation=True, alias="auto_arima"
        ),
    }
    return [make[name]() for name in cfg.models]


def last_observed(y: np.ndarray) -> np.ndarray:
    """[n] last non-NaN value of each row (0 for an empty row)."""
    seen = ~np.isnan(y)
    idx = y.shape[1] - 1 - seen[:, ::-1].argmax(axis=1)
    out = y[np.arange(len(y)), idx]
    return np.where(seen.any(axis=1), out, 0.0)


def baseline_forecasts(
    panel: Panel, rows: np.ndarray, cutoff: int, horizon: int, cfg: BaselinesConfig, season: int
) -> dict[str, np.ndarray]:
    """{model name: [len(rows), H]} forecasts from the history up to and including `cutoff`."""
    from statsforecast import StatsForecast
    from statsforecast.models import Naive

    long = panel.long(upto=cutoff, rows=rows)
    sf = StatsForecast(
        statsforecast_models(cfg, season),
        freq=f"{panel.freq_days}D",
        n_jobs=cfg.n_jobs,
        fallback_model=Naive(),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "history shorter than season_length": handled below
        fc = sf.forecast(h=horizon, df=long)
    pos = {sid: i for i, sid in enumerate(panel.ids[rows])}
    r = fc[ID].map(pos).to_numpy()
    step = (
        (fc[DS].to_numpy(dtype="datetime64[D]") - panel.dates[cutoff]).astype(np.int64)
    ) // panel.freq_days - 1
    naive = last_observed(panel.y[rows, : cutoff + 1])
    out = {}
    for name in cfg.models:
        f = np.full((len(rows), horizon), np.nan)
        f[r, step] = fc[name].to_numpy(dtype=np.float64)
        out[name] = np.where(np.isfinite(f), f, naive[:, None])
    return out
