"""Model inputs from a history window: no fitting, no I/O; the SAME code in training and serving.

Every input is divided by the series' scale (its mean absolute value over the last season),
so one global model learns shapes, not sizes; the model predicts target / scale. The season
length (SEASON) is wiring.json's, measured on the team's file: a "season" is one cycle at the
file's frequency (7 days for daily data, 52 weeks for weekly, 12 months for monthly).
"""

import numpy as np

from shared.core.usecase import Features
from shared.tasks.forecast import features as ff
from shared.tasks.forecast.windows import Windows

from .wiring import SEASON

LAGS = (1, 2, 3, 4)
MEANS = (4, 8, 13, 26, 52)


def build_features(w: Windows) -> Features:
    """One row per (origin, step); does not modify `w`."""
    H, n = w.horizon, w.n
    y = w.y / w.scale[:, None]
    out: Features = {"step": ff.steps(n, H)}
    for k in LAGS:
        out[f"lag_{k}"] = ff.per_step(ff.lag(y, k), H)
    for k in MEANS:
        out[f"mean_{k}"] = ff.per_step(ff.window_mean(y, k), H)
    out["std_13"] = ff.per_step(ff.window_std(y, 13), H)
    last_season = ff.seasonal(y, H, SEASON)
    out["same_period_last_season"] = ff.flat(last_season)
    out["period_before_last_season"] = ff.flat(ff.seasonal(y, H, SEASON + 1))
    out["period_after_last_season"] = ff.flat(ff.seasonal(y, H, SEASON - 1))
    out["same_period_two_seasons_ago"] = ff.flat(ff.seasonal(y, H, 2 * SEASON))
    # Growth: the last 8 periods against the same 8 periods a season earlier, and last season's
    # value carried forward with that growth (a seasonal naive that follows the trend).
    season_ago_8 = ff.window_mean(y[:, :-SEASON] if w.length > SEASON else y[:, :0], 8)
    growth = ff.ratio(ff.window_mean(y, 8), season_ago_8)
    out["growth_8"] = ff.per_step(growth, H)
    out["last_season_with_growth"] = ff.flat(last_season * np.clip(growth, 0, 5)[:, None])
    dates = w.future_dates()
    out["week_of_year"] = ff.flat(ff.week_of_year(dates))  # the calendar's week, 1 to 53
    out["holiday"] = ff.flat(w.future_holiday)
    out["holiday_last_season"] = ff.flat(ff.seasonal(w.holiday, H, SEASON))
    out["log_scale"] = ff.per_step(np.log10(w.scale), H)
    out["periods_observed"] = ff.per_step(w.observed(), H)
    out["zero_share_season"] = ff.per_step(ff.count_where(w.y, SEASON, "zero"), H)
    out["negative_share_season"] = ff.per_step(ff.count_where(w.y, SEASON, "negative"), H)
    return out
