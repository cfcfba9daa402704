"""Raw long rows -> a dense panel of regular series, with every repair counted, never silent.

Decisions (documented in each use case's README):
- A series lives from its first to its last observed period. Periods missing inside that span
  are, by config `data.gaps`, filled with 0 (`zero`: no sale was recorded) or kept NaN
  (`missing`: not observed, e.g. closed; never scored, never imputed as demand), and counted
  in `PanelReport`.
- Before its first observation a series is NaN ("not yet open"); models see NaN there, not 0.
- Zero and negative values (returns) are kept as they are: actuals are what happened.
- Holiday flags missing for a filled period come from the calendar: the flag that the other
  series carry on that date.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from shared.tasks.forecast.calendar import Calendar, off_grid, period_index, seasonal_lag, shift

ID = "unique_id"
DS = "ds"
Y = "y"


def series_id(frame: pd.DataFrame | dict[str, Any], id_columns: Sequence[str]) -> np.ndarray:
    """One string id per row from the id columns, e.g. Store=1, Dept=7 -> "1_7"."""
    parts = [np.asarray(frame[c]).astype(str) for c in id_columns]
    out = parts[0].astype(object)
    for p in parts[1:]:
        out = out + "_" + p
    return np.asarray(out, dtype=str)


def to_long(
    raw: pd.DataFrame,
    id_columns: Sequence[str],
    time_column: str,
    target: str,
    holiday_column: str | None = None,
) -> pd.DataFrame:
    """The statsforecast long format `unique_id, ds, y` (+ `holiday`), sorted; input unchanged."""
    out = pd.DataFrame(
        {
            ID: series_id(raw, id_columns),
            DS: pd.to_datetime(raw[time_column]).to_numpy(dtype="datetime64[ns]"),
            Y: raw[target].to_numpy(dtype=np.float64),
        }
    )
    out["holiday"] = raw[holiday_column].to_numpy(dtype=bool) if holiday_column else False
    for c in id_columns:
        out[c] = raw[c].to_numpy()
    return out.sort_values([ID, DS], kind="stable").reset_index(drop=True)


@dataclass
class PanelReport:
    """What building the panel did to the data, for the validation report and the README."""

    series: int
    rows: int
    periods: int
    filled_gaps: int  # missing periods inside a series filled with 0 (gaps: zero)
    missing_periods: int  # missing periods inside a series kept as NaN (gaps: missing)
    series_with_gaps: int
    zero_values: int
    negative_values: int
    series_starting_late: int
    series_ending_early: int
    shortest_series: int

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class Panel:
    """Every series on one regular grid of `dates` (oldest first)."""

    ids: np.ndarray  # [n] str
    keys: dict[str, np.ndarray]  # id column -> [n] original values
    dates: np.ndarray  # [T] datetime64[D]
    y: np.ndarray  # [n, T] float64; NaN before the first / after the last observation
    holiday: np.ndarray  # [n, T] float64 0/1
    first: np.ndarray  # [n] index of the first observed period
    last: np.ndarray  # [n] index of the last observed period
    freq: str = "W"
    report: PanelReport | None = field(default=None, repr=False)
    flags: Calendar | None = None  # flags known in advance (config data.calendar)
    holiday_column: str | None = None  # its name, to find it in `flags`

    @property
    def n_series(self) -> int:
        return len(self.ids)

    @property
    def n_periods(self) -> int:
        return len(self.dates)

    def calendar(self) -> np.ndarray:
        """[T] holiday flag per date: set when any series carries it that date."""
        return np.nanmax(self.holiday, axis=0) if self.n_series else np.zeros(self.n_periods)

    def future_dates(self, horizon: int) -> np.ndarray:
        """[H] the periods after the panel's last date."""
        return shift(self.dates[-1], np.arange(1, horizon + 1), self.freq)

    def future_holidays(self, horizon: int, season: int = 52) -> np.ndarray:
        """[H] holiday flags after the panel's end: from the calendar file when it lists the
        holiday column, else the flag of the same period in the latest past season."""
        if self.flags is not None and self.holiday_column in self.flags.flags:
            return self.flags.lookup(self.future_dates(horizon))[self.holiday_column]
        cal = self.calendar()
        idx = self.n_periods - 1 + np.arange(1, horizon + 1) - seasonal_lag(horizon, season)
        ok = (idx >= 0) & (idx < self.n_periods)
        out = np.zeros(horizon)
        out[ok] = cal[idx[ok]]
        return out

    def long(self, upto: int | None = None, rows: np.ndarray | None = None) -> pd.DataFrame:
        """Long format (`unique_id, ds, y`) of the observed span, cut after index `upto`."""
        rows = np.arange(self.n_series) if rows is None else rows
        upto = self.n_periods - 1 if upto is None else upto
        y = self.y[rows, : upto + 1]
        mask = ~np.isnan(y)
        r, t = np.nonzero(mask)
        return pd.DataFrame(
            {ID: self.ids[rows][r], DS: self.dates[t].astype("datetime64[ns]"), Y: y[r, t]}
        )


def build_panel(
    long: pd.DataFrame,
    id_columns: Sequence[str] = (),
    freq: str = "W",
    gaps: str = "zero",
    flags: Calendar | None = None,
    holiday_column: str | None = None,
) -> Panel:
    """Long rows (from `to_long`) -> Panel; assumes validated input (dates on the grid of
    `freq`, no duplicates). `gaps`: "zero" fills a missing period inside a series with 0,
    "missing" keeps it NaN."""
    dates_all = long[DS].to_numpy(dtype="datetime64[D]")
    start, end = dates_all.min(), dates_all.max()
    if off_grid(dates_all, start, freq).any():
        raise ValueError(f"dates are not on the {freq} grid starting {start}: validate first")
    T = int(period_index(end, start, freq)) + 1
    dates = shift(start, np.arange(T), freq)
    ids, inverse = np.unique(long[ID].to_numpy(dtype=str), return_inverse=True)
    t = period_index(dates_all, start, freq)
    n = len(ids)
    observed = np.zeros((n, T), dtype=bool)
    observed[inverse, t] = True
    y = np.full((n, T), np.nan)
    y[inverse, t] = long[Y].to_numpy(dtype=np.float64)
    hol = np.full((n, T), np.nan)
    hol[inverse, t] = long["holiday"].to_numpy(dtype=np.float64)
    first = observed.argmax(axis=1)
    last = T - 1 - observed[:, ::-1].argmax(axis=1)
    span = (np.arange(T)[None, :] >= first[:, None]) & (np.arange(T)[None, :] <= last[:, None])
    holes = span & ~observed
    if gaps == "zero":
        y[holes] = 0.0  # a missing period inside a series' life: nothing was sold
    # gaps == "missing": stays NaN (not observed): not scored, not a training target
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a date no series observed (all closed)
        calendar = (
            np.nan_to_num(np.nanmax(np.where(observed, hol, np.nan), axis=0), nan=0.0)
            if n
            else np.zeros(T)
        )
    hol = np.where(observed, hol, calendar[None, :])
    keys = {}
    if id_columns:
        first_row = np.unique(inverse, return_index=True)[1]
        keys = {c: long[c].to_numpy()[first_row] for c in id_columns}
    values = long[Y].to_numpy(dtype=np.float64)
    report = PanelReport(
        series=n,
        rows=len(long),
        periods=T,
        filled_gaps=int(holes.sum()) if gaps == "zero" else 0,
        missing_periods=int(holes.sum()) if gaps == "missing" else 0,
        series_with_gaps=int(holes.any(axis=1).sum()),
        zero_values=int((values == 0).sum()),
        negative_values=int((values < 0).sum()),
        series_starting_late=int((first > 0).sum()),
        series_ending_early=int((last < T - 1).sum()),
        shortest_series=int((last - first + 1).min()) if n else 0,
    )
    return Panel(ids, keys, dates, y, hol, first, last, freq, report, flags, holiday_column)
