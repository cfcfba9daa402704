"""Statistical baselines with statsforecast on the long format, unchanged.

A baseline that cannot forecast a series (SeasonalNaive on less than one season of history,
a model fit that fails) falls back to the naive forecast (the last value), so every model is
scored on the same series. Series are passed as period indices (freq 1), so one code path
serves every calendar (daily, weekly, monthly).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from shared.tasks.forecast.config import BaselinesConfig
from shared.tasks.forecast.features import seasonal
from shared.tasks.forecast.panel import DS, ID, Panel

NUMPY = ("naive", "seasonal_naive", "seasonal_level")  # computed here, not in statsforecast


def statsforecast_models(cfg: BaselinesConfig, season: int) -> list[Any]:
    from statsforecast.models import (
        ADIDA,
        IMAPA,
        TSB,
        AutoARIMA,
        AutoETS,
        AutoTheta,
        CrostonOptimized,
        Naive,
        SeasonalNaive,
    )

    make = {
        "naive": lambda: Naive(alias="naive"),
        "seasonal_naive": lambda: SeasonalNaive(season, alias="seasonal_naive"),
        "auto_ets": lambda: AutoETS(season_length=cfg.ets_season_length, alias="auto_ets"),
        "auto_theta": lambda: AutoTheta(season_length=cfg.theta_season_length, alias="auto_theta"),
        "auto_arima": lambda: AutoARIMA(
            season_length=cfg.arima_season_length, approximation=True, alias="auto_arima"
        ),
        "croston_optimized": lambda: CrostonOptimized(alias="croston_optimized"),
        "tsb": lambda: TSB(cfg.tsb_alpha_d, cfg.tsb_alpha_p, alias="tsb"),
        "adida": lambda: ADIDA(alias="adida"),
        "imapa": lambda: IMAPA(alias="imapa"),
    }
    return [make[name]() for name in cfg.models]


def svd_smooth(y: np.ndarray, groups: np.ndarray, rank: int) -> np.ndarray:
    """[n, L] each group's rows replaced by their rank-`rank` SVD approximation (NaN read as 0
    and kept NaN); groups of at most `rank` rows are left as they are."""
    out = np.array(y, dtype=np.float64, copy=True)
    for g in np.unique(groups):
        rows = np.flatnonzero(groups == g)
        if len(rows) <= rank:
            continue
        m = out[rows]
        u, s, vt = np.linalg.svd(np.nan_to_num(m), full_matrices=False)
        out[rows] = np.where(np.isnan(m), np.nan, (u[:, :rank] * s[:rank]) @ vt[:rank])
    return out


def seasonal_level(y: np.ndarray, horizon: int, season: int, window: int) -> np.ndarray:
    """[n, H] the seasonal naive forecast moved by the level's change over a season: the mean
    of the last `window` periods minus the mean of the same periods a season earlier (NaN
    where a season and a window of history are not there; the caller falls back to naive)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows: NaN, handled above
        recent = np.nanmean(y[:, -window:], axis=1)
        before = y[:, -window - season : -season] if y.shape[1] > season else y[:, :0]
        year_ago = np.nanmean(before, axis=1) if before.shape[1] else np.full(len(y), np.nan)
    return seasonal(y, horizon, season) + (recent - year_ago)[:, None]


def last_observed(y: np.ndarray) -> np.ndarray:
    """[n] last non-NaN value of each row (0 for an empty row)."""
    seen = ~np.isnan(y)
    idx = y.shape[1] - 1 - seen[:, ::-1].argmax(axis=1)
    out = y[np.arange(len(y)), idx]
    return np.where(seen.any(axis=1), out, 0.0)


def fill_inner(y: np.ndarray) -> np.ndarray:
    """A copy of `y` [n, L] where each row is regular from its first observed period on.

    Statistical models need a regular series: a NaN inside a row (a period not observed,
    `data.gaps: missing`) is interpolated linearly between its neighbours, a NaN at the end
    carries the last value. For these models' inputs only: it is never scored as an actual."""
    out = np.array(y, dtype=np.float64, copy=True)
    holes = np.isnan(out)
    started = np.cumsum(~holes, axis=1) > 0
    for r in np.flatnonzero((holes & started).any(axis=1)):
        seen = np.flatnonzero(~holes[r])
        span = np.arange(seen[0], out.shape[1])
        out[r, span] = np.interp(span, seen, out[r, seen])
    return out


def stat_forecasts(
    y: np.ndarray,
    horizon: int,
    cfg: BaselinesConfig,
    season: int,
    models: list[str] | None = None,
    groups: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """{model name: [n, H]} forecasts after the last column of `y` ([n, L], NaN = not observed).

    The same function serves backtests (panel history up to a cut-off) and the service (a
    request's history), so a baseline in the ensemble forecasts the same in both. Naive and
    SeasonalNaive are computed in numpy (what statsforecast gives, without its overhead on
    the request path); the Auto* models run in statsforecast."""

    names = list(models or cfg.models)
    y = fill_inner(y)
    if cfg.smoothing is not None and groups is not None:
        y = svd_smooth(y, np.asarray(groups), cfg.smoothing.rank)
    n = len(y)
    naive = last_observed(y) if y.shape[1] else np.zeros(n)
    out = {}
    for name in names:
        if name == "seasonal_naive":
            f = seasonal(y, horizon, season)
        elif name == "seasonal_level":
            f = seasonal_level(y, horizon, season, cfg.level_window)
        else:
            f = np.full((n, horizon), np.nan)
        out[name] = np.where(np.isfinite(f), f, naive[:, None])
    auto = [m for m in names if m not in NUMPY]
    if auto:
        out |= _statsforecast(y, horizon, cfg, season, auto, naive)
    return {name: out[name] for name in names}


def _statsforecast(
    y: np.ndarray,
    horizon: int,
    cfg: BaselinesConfig,
    season: int,
    names: list[str],
    naive: np.ndarray,
) -> dict[str, np.ndarray]:
    from statsforecast import StatsForecast
    from statsforecast.models import Naive

    n, L = y.shape
    r, t = np.nonzero(~np.isnan(y))
    out = {name: np.repeat(naive[:, None], horizon, axis=1) for name in names}
    if not len(r):
        return out
    # Period indices as dates (freq 1): one code path for daily, weekly and monthly series.
    long = pd.DataFrame({ID: r, DS: t, "y": y[r, t]})
    sub = BaselinesConfig.model_validate(cfg.model_dump() | {"models": names})
    sf = StatsForecast(
        statsforecast_models(sub, season), freq=1, n_jobs=cfg.n_jobs, fallback_model=Naive()
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "history shorter than season_length": naive below
        fc = sf.forecast(h=horizon, df=long)
    rr = fc[ID].to_numpy(dtype=np.int64)
    step = fc[DS].to_numpy(dtype=np.int64) - L  # 0-based step after the last column
    inside = (step >= 0) & (step < horizon)
    for name in names:
        f = np.full((n, horizon), np.nan)
        f[rr[inside], step[inside]] = fc[name].to_numpy(dtype=np.float64)[inside]
        out[name] = np.where(np.isfinite(f), f, naive[:, None])
    return out


def baseline_forecasts(
    panel: Panel, rows: np.ndarray, cutoff: int, horizon: int, cfg: BaselinesConfig, season: int
) -> dict[str, np.ndarray]:
    """{model name: [len(rows), H]} forecasts from the history up to and including `cutoff`;
    with `smoothing`, every series of the panel up to the cut-off is smoothed with its group."""
    y = panel.y[:, : cutoff + 1]
    if cfg.smoothing is not None:
        groups = np.asarray(panel.keys[cfg.smoothing.group])
        y = svd_smooth(fill_inner(y), groups, cfg.smoothing.rank)
    return stat_forecasts(y[rows], horizon, cfg, season)
