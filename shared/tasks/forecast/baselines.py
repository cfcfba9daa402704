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

NUMPY = ("naive", "seasonal_naive", "seasonal_level", "seasonal_ses")  # here, not in statsforecast
SES_ALPHAS = np.linspace(0.05, 1.0, 20)  # the smoothing weights seasonal_ses chooses from


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


def moving_season_mean(y: np.ndarray, season: int) -> np.ndarray:
    """[n, L] the mean over a season around each period: `season + 1` periods with half weights
    at both ends (each phase of the season counts once), centred where the row's observed span
    allows and pushed inside it at its ends; NaN where the row has not `season + 1` periods."""
    n, L = y.shape
    seen = ~np.isnan(y)
    first = np.where(seen.any(axis=1), seen.argmax(axis=1), L)[:, None]
    v = np.nan_to_num(y)
    cum = np.concatenate([np.zeros((n, 1)), np.cumsum(v, axis=1)], axis=1)
    t = np.arange(L)[None, :]
    lo = np.minimum(np.maximum(t - season // 2, first), L - 1 - season)
    ok = (lo >= first) & (t >= first)
    lo = np.clip(lo, 0, max(L - 1 - season, 0))
    hi = np.minimum(lo + season, L - 1)
    r = np.arange(n)[:, None]
    total = cum[r, hi + 1] - cum[r, lo] - 0.5 * (v[r, lo] + v[r, hi])
    return np.where(ok, total / season, np.nan)


def seasonal_index(y: np.ndarray, season: int) -> np.ndarray:
    """[n, season] each row's mean deviation from its moving season mean at each phase, over
    every season of its history, centred on 0 (0 without a full season); column p is the
    phase of the p-th period after the last column, modulo the season."""
    n, L = y.shape
    pad = (-L) % season  # NaN in front, so that seasons end at the last column
    dev = np.concatenate([np.full((n, pad), np.nan), y - moving_season_mean(y, season)], axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # phases never seen: 0 below
        index = np.nanmean(dev.reshape(n, -1, season), axis=1)
        index = index - np.nanmean(index, axis=1, keepdims=True)
    return np.nan_to_num(index)


def ses_level(a: np.ndarray, alphas: np.ndarray = SES_ALPHAS) -> np.ndarray:
    """[n] the last level of simple exponential smoothing of each row (NaN skipped), with the
    weight of `alphas` whose one-step-ahead squared error over the row is lowest."""
    n, L = a.shape
    seen = ~np.isnan(a)
    first = seen.argmax(axis=1)
    level = np.repeat(a[np.arange(n), first][:, None], len(alphas), axis=1)
    sse = np.zeros_like(level)
    on = (seen & (np.arange(L)[None, :] > first[:, None])).T[:, :, None]  # [L, n, 1]
    x = np.nan_to_num(a).T[:, :, None]
    for t in range(L):  # a recursion: one vector step per period, every row and weight at once
        e = (x[t] - level) * on[t]
        sse += e * e
        level += alphas * e
    return level[np.arange(n), sse.argmin(axis=1)]


def seasonal_ses(y: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """[n, H] the seasonally adjusted series' smoothed level plus the seasonal index ahead:
    the index averages every season of the history, so one noisy week of last year weighs
    less than in the seasonal naive forecast (the idea of `stlf`, decomposition then
    smoothing, with a moving-average decomposition, in numpy for serving)."""
    seen = ~np.isnan(y)
    y = y[:, seen.any(axis=0).argmax() if seen.any() else 0 :]  # before any row starts: nothing
    n, L = y.shape
    index = seasonal_index(y, season)
    pad = (-L) % season
    tiled = np.tile(index, -(-(pad + L + horizon) // season))
    level = ses_level(y - tiled[:, pad : pad + L])
    return level[:, None] + tiled[:, pad + L : pad + L + horizon]


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
    the request path), as are SeasonalLevel and SeasonalSES; the Auto* models run in
    statsforecast."""

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
        elif name == "seasonal_ses":
            f = seasonal_ses(y, horizon, season)
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
