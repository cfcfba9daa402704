"""Building blocks for a use case's `build_features(windows)`: pure numpy, no fitting, no I/O.

A feature matrix has one row per (origin, horizon step), origin-major: row i * H + (h - 1).
Per-origin values are repeated over the steps with `per_step`; step-specific values are
[n, H] arrays flattened with `flat`. Nothing reads past an origin except the future holiday
flags, which are known in advance.
"""

from __future__ import annotations

import warnings
from functools import cache

import numpy as np

from shared.core.history import per_seen, windowed_stats
from shared.tasks.forecast.calendar import seasonal_lag

# Every helper here gives the same bits as its plain numpy form (np.nanmean, np.nanstd,
# np.repeat, ...) in fewer and cheaper calls: a one-series request runs each several times, and
# numpy's Python wrappers (nanfunctions, warning filters, `_wrapfunc`) cost more than the sums
# on a few dozen values. tests/test_forecasting_features.py holds them to their plain forms.


def per_step(values: np.ndarray, horizon: int) -> np.ndarray:
    """[n] per-origin value -> [n * H]."""
    return np.asarray(values, dtype=np.float64).repeat(horizon)


def flat(values: np.ndarray) -> np.ndarray:
    """[n, H] step-specific value -> [n * H]."""
    return np.asarray(values, dtype=np.float64).reshape(-1)


def steps(n: int, horizon: int) -> np.ndarray:
    """[n * H] horizon step, 1-based."""
    return np.arange(1, horizon + 1, dtype=np.float64)[None, :].repeat(n, axis=0).reshape(-1)


def window_mean(y: np.ndarray, k: int) -> np.ndarray:
    """[n] mean of the last k periods, NaN ignored; NaN when none was observed."""
    return windowed_stats(y[:, -k:], ("mean",))["mean"]


def window_std(y: np.ndarray, k: int) -> np.ndarray:
    """[n] population standard deviation of the last k periods, NaN ignored (np.nanstd)."""
    return windowed_stats(y[:, -k:], ("std",))["std"]


def lag(y: np.ndarray, k: int) -> np.ndarray:
    """[n] value k - 1 periods before the origin (k = 1: the last observed period)."""
    return y[:, -k] if y.shape[1] >= k else np.full(len(y), np.nan)


@cache
def _seasonal_columns(length: int, horizon: int, season: int) -> tuple[np.ndarray, np.ndarray]:
    """(steps that lie in a window of `length` periods [H] bool, the column each reads)."""
    idx = length - 1 + np.arange(1, horizon + 1) - seasonal_lag(horizon, season)
    ok = idx >= 0
    ok.flags.writeable = False  # shared between calls
    cols = idx[ok]
    cols.flags.writeable = False
    return ok, cols


def seasonal(y: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """[n, H] the seasonal naive forecast: for step h, the value `season * ceil(h / season)`
    periods before the target, i.e. the same position in the latest season that lies wholly
    in the history. With a season shorter than the horizon (weekly season 7, 14-day horizon)
    steps 8..14 read two seasons back: never a value after the origin.
    """
    ok, cols = _seasonal_columns(y.shape[1], horizon, season)
    if len(cols) == horizon:
        return y[:, cols].astype(np.float64, copy=False)
    out = np.full((len(y), horizon), np.nan)
    out[:, ok] = y[:, cols]
    return out


def seasonal_window_mean(y: np.ndarray, horizon: int, season: int, width: int) -> np.ndarray:
    """[n, H] mean of the `width` periods ending one season before each target period."""
    cols = [seasonal(y, horizon, season + j) for j in range(width)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.stack(cols), axis=0)


def ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b, NaN where b is not positive or either is NaN."""
    return np.divide(a, b, out=np.full(np.broadcast(a, b).shape, np.nan), where=b > 0)


def calendar_flags(w: object) -> dict[str, np.ndarray]:
    """[n * H] per calendar-file flag at each target period (see Windows.future_flags)."""
    return {k: flat(v) for k, v in getattr(w, "future_flags", {}).items()}


def day_of_week(dates: np.ndarray) -> np.ndarray:
    """0 = Monday .. 6 = Sunday of datetime64[D] dates, no pandas."""
    d = np.asarray(dates, dtype="datetime64[D]").astype(np.int64)
    return ((d + 3) % 7).astype(np.float64)  # 1970-01-01 was a Thursday


def month_of_year(dates: np.ndarray) -> np.ndarray:
    """1..12 of datetime64[D] dates, no pandas."""
    m = np.asarray(dates, dtype="datetime64[D]").astype("datetime64[M]").astype(np.int64)
    return (m % 12 + 1).astype(np.float64)


def day_of_month(dates: np.ndarray) -> np.ndarray:
    """1..31 of datetime64[D] dates, no pandas."""
    d = np.asarray(dates, dtype="datetime64[D]")
    return ((d - d.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1).astype(
        np.float64
    )


def week_of_year(dates: np.ndarray) -> np.ndarray:
    """ISO-like week number 1..53 of datetime64[D] dates (day of year // 7 + 1), no pandas."""
    d = np.asarray(dates, dtype="datetime64[D]")
    year_start = d.astype("datetime64[Y]").astype("datetime64[D]")
    return ((d - year_start).astype(np.int64) // 7 + 1).astype(np.float64)


def count_where(y: np.ndarray, k: int, predicate: str) -> np.ndarray:
    """[n] share of the last k observed periods that are zero ("zero") or negative ("negative")."""
    recent = y[:, -k:]
    seen = recent == recent
    hit = (recent == 0) if predicate == "zero" else (recent < 0)
    return per_seen(np.add.reduce(hit & seen, axis=1), np.add.reduce(seen, axis=1))
