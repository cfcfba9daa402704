"""Forecast origins as fixed-length history windows: what a model may know when it forecasts.

A `Windows` batch holds, per origin, the last `length` periods of history (NaN before the
series existed, or where a period was not observed under `data.gaps: missing`), the holiday
flags of that history and of the `horizon` periods ahead (known in advance), the calendar
file's flags at each target period, and a per-origin scale. Training (thousands of origins cut from a panel) and
serving (one request's history) build the same batch, so the use case's `build_features`
runs unchanged in both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from shared.tasks.forecast.calendar import Calendar, shift
from shared.tasks.forecast.panel import Panel


@dataclass
class Windows:
    y: np.ndarray  # [n, L] float64, oldest first; NaN = before the series started
    holiday: np.ndarray  # [n, L] float64 0/1
    future_holiday: np.ndarray  # [n, H] float64 0/1
    origin: np.ndarray  # [n] datetime64[D]: date of the last history period
    scale: np.ndarray  # [n] float64 > 0: the series' level, divides every sales input and target
    static: dict[str, np.ndarray] = field(default_factory=dict)  # [n] per-origin static values
    freq: str = "W"
    # [n, H] per calendar-file flag at each target period (known in advance); model inputs
    future_flags: dict[str, np.ndarray] = field(default_factory=dict)
    # [n, M >= L] the whole history, right-aligned: what the statistical members read, as in
    # backtests (the model reads the last L periods); None = y
    history: np.ndarray | None = None

    @property
    def members_y(self) -> np.ndarray:
        return self.y if self.history is None else self.history

    @property
    def n(self) -> int:
        return len(self.y)

    @property
    def length(self) -> int:
        return self.y.shape[1]

    @property
    def horizon(self) -> int:
        return self.future_holiday.shape[1]

    def future_dates(self) -> np.ndarray:
        """[n, H] datetime64[D] of each forecast step."""
        return shift(self.origin[:, None], np.arange(1, self.horizon + 1)[None, :], self.freq)

    def with_flags(self, calendar: Calendar | None) -> Windows:
        """Look the calendar file's flags up at every target period."""
        if calendar is not None:
            self.future_flags = calendar.lookup(self.future_dates())
        return self

    def observed(self) -> np.ndarray:
        """[n] number of history periods the series existed for (non-NaN)."""
        return (~np.isnan(self.y)).sum(axis=1)


def series_scale(y: np.ndarray, season: int, floor: float) -> np.ndarray:
    """Mean absolute value over the last `season` periods (NaN ignored), never below `floor`.

    Sales inputs and the target are divided by it, so one global model serves series of every
    size and errors are weighed relative to each series' level (what MASE rewards).
    """
    recent = np.abs(y[:, -season:])
    seen = recent == recent  # not NaN (np.nansum's wrappers cost more than the sum here)
    count = np.add.reduce(seen, axis=1)
    total = np.add.reduce(np.where(seen, recent, 0.0), axis=1)
    mean = np.divide(total, count, out=np.zeros(len(y)), where=count > 0)
    return np.maximum(mean, floor)


def panel_windows(
    panel: Panel,
    rows: np.ndarray,
    origins: np.ndarray,
    length: int,
    horizon: int,
    season: int,
    floor: float,
    static_keys: Sequence[str] = (),
    whole_history: bool = False,
) -> Windows:
    """Windows ending at `origins` (period indices) of the series `rows`; nothing after an origin
    is read except the holiday flags of the next `horizon` periods, which are known in advance.
    `whole_history`: also every period before, for the statistical members (forecasting, not
    training: a training set holds hundreds of thousands of windows)."""
    rows, origins = np.asarray(rows), np.asarray(origins)
    y = _ending_at(panel.y, rows, origins, length, np.nan)
    hol = _ending_at(panel.holiday, rows, origins, length, 0.0)
    fidx = origins[:, None] + 1 + np.arange(horizon)[None, :]
    T = panel.n_periods
    future_cal = np.concatenate([panel.calendar(), panel.future_holidays(horizon, season)])
    fhol = np.where(
        fidx < T,
        panel.holiday[rows[:, None], np.clip(fidx, 0, T - 1)],
        future_cal[np.clip(fidx, 0, T + horizon - 1)],
    )
    whole = int(origins.max(initial=0)) + 1  # every period up to the latest origin
    return Windows(
        y=y,
        holiday=np.nan_to_num(hol),
        future_holiday=np.nan_to_num(fhol),
        origin=panel.dates[origins],
        scale=series_scale(y, season, floor),
        static={k: np.asarray(panel.keys[k])[rows] for k in static_keys},
        freq=panel.freq,
        history=_ending_at(panel.y, rows, origins, whole, np.nan)
        if whole_history and whole > length
        else None,
    ).with_flags(panel.flags)


def _ending_at(
    values: np.ndarray, rows: np.ndarray, origins: np.ndarray, length: int, before: float
) -> np.ndarray:
    """[n, length] of a panel matrix's `rows` up to `origins`; `before` ahead of its first
    period."""
    idx = origins[:, None] - (length - 1) + np.arange(length)[None, :]
    return np.where(idx >= 0, values[rows[:, None], np.clip(idx, 0, None)], before)


def panel_targets(panel: Panel, rows: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """[n, H] actuals after each origin; NaN past the panel's end or the series' last period."""
    fidx = np.asarray(origins)[:, None] + 1 + np.arange(horizon)[None, :]
    T = panel.n_periods
    out = panel.y[np.asarray(rows)[:, None], np.clip(fidx, 0, T - 1)]
    return np.where(fidx < T, out, np.nan)


def history_windows(
    values: Sequence[np.ndarray],
    holidays: Sequence[np.ndarray],
    future_holidays: Sequence[np.ndarray],
    last_dates: np.ndarray,
    length: int,
    season: int,
    floor: float,
    static: dict[str, np.ndarray] | None = None,
    freq: str = "W",
    calendar: Calendar | None = None,
) -> Windows:
    """Serving: each request history right-aligned in a NaN-padded row (no pandas)."""
    n = len(values)
    horizon = max((len(f) for f in future_holidays), default=0)
    longest = max((len(v) for v in values), default=0)
    whole = np.full((n, longest), np.nan) if longest > length else None
    y = np.full((n, length), np.nan)
    hol = np.zeros((n, length))
    fhol = np.zeros((n, horizon))
    for i, (v, h, f) in enumerate(zip(values, holidays, future_holidays, strict=True)):
        v = np.asarray(v, dtype=np.float64)
        if whole is not None:
            whole[i, longest - len(v) :] = v
        v = v[-length:]
        y[i, length - len(v) :] = v
        h = np.asarray(h, dtype=np.float64)[-length:]
        hol[i, length - len(h) :] = h
        fhol[i, : len(f)] = f
    return Windows(
        y=y,
        holiday=hol,
        future_holiday=fhol,
        origin=np.asarray(last_dates, dtype="datetime64[D]"),
        scale=series_scale(y, season, floor),
        static={k: np.asarray(v) for k, v in (static or {}).items()},
        freq=freq,
        history=whole,
    ).with_flags(calendar)
