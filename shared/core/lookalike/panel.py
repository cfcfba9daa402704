"""Seeded look-alike series of a profiled forecasting file: ids, a regular calendar, a target
with level, trend, seasonality and noise, other columns drawn from their profiles.

Row-wise look-alikes (synth.py) cannot stand in for series: a forecaster needs each series
to have a level and a rhythm. Levels come from the target's quantiles in the file, the
calendar from its first date and frequency, the season length from config.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shared.core.lookalike.spec import FileSpec
from shared.core.lookalike.synth import make_synthetic_from_spec

# pandas offsets of the frequencies shared/tasks/forecast/config.py accepts.
OFFSETS = {"D": "D", "MS": "MS", "M": "ME"}
SEASONS = {"D": 7, "W": 52, "MS": 12, "M": 12}


def infer_freq(dates: pd.Series) -> str:
    """D, W, MS or M from the typical gap between a series' consecutive dates."""
    d = pd.Series(pd.to_datetime(dates.dropna().unique())).sort_values()
    if len(d) < 2:
        raise ValueError("the time column needs at least two distinct dates to infer a frequency")
    gap = d.diff().dt.days.median()
    if gap <= 1:
        return "D"
    if 6 <= gap <= 8:
        return "W"
    if 27 <= gap <= 32:
        return "MS" if (d.dt.day == 1).all() else "M"
    raise ValueError(
        f"dates are {gap:.0f} days apart: daily, weekly or monthly data only (D, W, MS, M)"
    )


def calendar(start: pd.Timestamp, freq: str, n: int) -> pd.DatetimeIndex:
    """`n` dates from `start`; weekly keeps the start's weekday."""
    offset = f"W-{start.day_name()[:3].upper()}" if freq == "W" else OFFSETS[freq]
    return pd.date_range(start, periods=n, freq=offset)


def _series_ids(spec: FileSpec, id_columns: list[str], n: int, seed: int) -> pd.DataFrame:
    """`n` distinct id combinations in the file's formats."""
    # The generator repeats ids as often as the file does: draw enough rows for new ones.
    repeats = spec.rows / max(min(spec.column(c).distinct for c in id_columns), 1)
    draws = int(3 * n * max(repeats, 1)) + 100
    pool = make_synthetic_from_spec(spec, draws, seed + 1)[id_columns].drop_duplicates()
    # Ids from a closed list (12 restaurants) allow no more series than the file has.
    return pool.head(n).reset_index(drop=True)


def make_panel_from_spec(
    spec: FileSpec,
    id_columns: list[str],
    freq: str,
    season: int,
    n_series: int,
    n_periods: int,
    seed: int,
) -> pd.DataFrame:
    """`n_series` x `n_periods` rows in the file's raw format; same seed, same frame."""
    rng = np.random.default_rng(seed)
    rows = make_synthetic_from_spec(spec, n_series * n_periods, seed)  # the other columns
    ids = _series_ids(spec, id_columns, n_series, seed)
    n_series = len(ids)
    rows = rows.iloc[: n_series * n_periods].reset_index(drop=True)
    for c in id_columns:
        rows[c] = np.repeat(ids[c].to_numpy(), n_periods)
    time = spec.column(spec.time_column)
    dates = calendar(pd.Timestamp(time.min), freq, n_periods)
    stamps = np.tile(dates, n_series)
    rows[spec.time_column] = (
        pd.DatetimeIndex(stamps).strftime(time.datetime_format) if time.datetime_format else stamps
    )
    target = spec.column(spec.target)
    q = np.asarray(target.quantiles, dtype=float)
    levels = np.interp(rng.uniform(0.2, 0.95, n_series), np.linspace(0, 1, len(q)), q)
    levels = np.maximum(np.abs(levels), 1.0)
    t = np.arange(n_periods)
    shape = np.sin(2 * np.pi * (t[None, :] / season + rng.random((n_series, 1))))
    trend = 1 + rng.normal(0, 0.002, (n_series, 1)) * t[None, :]
    noise = rng.normal(0, 0.08, (n_series, n_periods))
    y = levels[:, None] * trend * (1 + 0.25 * shape + noise)
    low = target.ge if target.ge is not None else -np.inf
    high = target.le if target.le is not None else np.inf
    y = np.round(np.clip(y, low, high), target.decimals).reshape(-1)
    # Counts stay counts: a target the file holds as integers (visitors) is drawn as integers.
    rows[spec.target] = y.astype(np.int64) if target.storage == "int" else y
    return rows[[c.name for c in spec.columns]]
