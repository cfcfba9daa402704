"""Dates of a forecasting use case: its frequency grid, and flags known in advance.

Frequencies (config `data.freq`): "D" daily, "W" weekly on any weekday (the grid starts at
the first date), "MS" monthly dated on the first day, "M" monthly dated on the last day.
Periods are counted from a start date, so everything after this module works on integer
period indices and never on day counts. Pure numpy: the serving path uses it too.

A calendar file (config `data.calendar`) lists, per date, flags known in advance (public
holidays, promotions planned, closing days): they become model inputs, and forecasts read
them for future periods instead of guessing "the flag one season earlier".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

import numpy as np

Freq = Literal["D", "W", "MS", "M"]
FIXED_DAYS = {"D": 1, "W": 7}
NAMES = {"D": "day", "W": "week", "MS": "month", "M": "month"}


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def as_days(dates: Any) -> np.ndarray:
    """Dates as datetime64[D]. A list of `datetime.date` (a request's history) goes through
    their day numbers: numpy converts such objects one by one, 39 us for 52 dates against 3."""
    if isinstance(dates, list | tuple) and dates and isinstance(dates[0], date):
        try:
            ordinals = np.fromiter((d.toordinal() for d in dates), np.int64, len(dates))
        except (AttributeError, TypeError, ValueError):  # not all dates (text, NaT)
            return np.asarray(dates, dtype="datetime64[D]")
        return (ordinals - _EPOCH_ORDINAL).astype("datetime64[D]")
    return np.asarray(dates, dtype="datetime64[D]")


def _months(d: np.ndarray) -> np.ndarray:
    return d.astype("datetime64[M]").astype(np.int64)


def off_grid(dates: Any, start: Any, freq: str) -> np.ndarray:
    """[n] bool: the date does not lie on the grid of `freq` starting at `start`."""
    d, s = as_days(dates), np.datetime64(start, "D")
    if freq in FIXED_DAYS:
        return ((d - s).astype(np.int64) % FIXED_DAYS[freq]) != 0
    month_start = d.astype("datetime64[M]").astype("datetime64[D]")
    if freq == "MS":
        return d != month_start
    month_end = (d.astype("datetime64[M]") + 1).astype("datetime64[D]") - 1
    return d != month_end


def period_index(dates: Any, start: Any, freq: str) -> np.ndarray:
    """[n] int: periods from `start` to each date (dates assumed on the grid)."""
    d, s = as_days(dates), np.datetime64(start, "D")
    if freq in FIXED_DAYS:
        return ((d - s).astype(np.int64) // FIXED_DAYS[freq]).astype(np.int64)
    return (_months(d) - _months(np.atleast_1d(s))[0]).astype(np.int64)


def shift(dates: Any, k: Any, freq: str) -> np.ndarray:
    """Dates moved by `k` periods (broadcasts: origin [n, 1] + steps [1, H])."""
    d = as_days(dates)
    k = np.asarray(k, dtype=np.int64)
    if freq in FIXED_DAYS:
        return d + k * np.timedelta64(FIXED_DAYS[freq], "D")
    month = d.astype("datetime64[M]") + k
    if freq == "MS":
        return month.astype("datetime64[D]")
    return (month + 1).astype("datetime64[D]") - 1


def grid(start: Any, n: int, freq: str) -> np.ndarray:
    """[n] datetime64[D]: `n` periods from `start`."""
    return shift(np.datetime64(start, "D"), np.arange(n), freq)


def gap_periods(dates: Any, freq: str) -> np.ndarray:
    """[n - 1] periods between consecutive dates (1 = adjacent)."""
    d = as_days(dates)
    if not len(d):
        return np.zeros(0, dtype=np.int64)
    idx = period_index(d, d[0], freq)
    return np.diff(idx)


def seasonal_lag(horizon: int, season: int) -> np.ndarray:
    """[H] lag (in periods) of the seasonal value for each step h = 1..H: the same position in
    the latest season that lies wholly in the past, `season * ceil(h / season)`. Never less
    than h, so a season shorter than the horizon never reads the future."""
    h = np.arange(1, horizon + 1)
    return season * np.ceil(h / season).astype(np.int64)


@dataclass
class Calendar:
    """Flags known in advance, one 0/1 column per flag, by date."""

    dates: np.ndarray  # [D] datetime64[D], sorted
    flags: dict[str, np.ndarray]  # name -> [D] float64 0/1
    notes: list[str] = field(default_factory=list)  # columns encoded or left out, and why

    @property
    def names(self) -> list[str]:
        return list(self.flags)

    def lookup(self, dates: Any) -> dict[str, np.ndarray]:
        """Each flag at `dates` (any shape); 0 for a date the calendar does not list."""
        d = as_days(dates)
        pos = np.searchsorted(self.dates, d.reshape(-1))
        pos_c = np.clip(pos, 0, max(len(self.dates) - 1, 0))
        found = (
            (pos < len(self.dates)) & (self.dates[pos_c] == d.reshape(-1))
            if len(self.dates)
            else np.zeros(d.size, bool)
        )
        return {
            k: np.where(found, v[pos_c] if len(v) else 0.0, 0.0).reshape(d.shape)
            for k, v in self.flags.items()
        }

    def covers(self, dates: Any) -> bool:
        d = as_days(dates)
        return bool(len(self.dates)) and bool(np.isin(d, self.dates).all())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for the model store (the service looks future dates up in it)."""
        return {
            "dates": [str(d) for d in self.dates],
            "flags": {k: v.astype(int).tolist() for k, v in self.flags.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calendar:
        return cls(
            as_days(data["dates"]),
            {k: np.asarray(v, dtype=np.float64) for k, v in data["flags"].items()},
        )


def calendar_flags(
    frame: Any, date_column: str, max_levels: int = 12
) -> tuple[dict[str, Any], list[str]]:
    """{flag name: 0/1 column} from every column but the date, and one note per column that
    was encoded or left out: 0/1 and true/false columns are flags as they are; a text column
    with at most `max_levels` values (day-of-week names...) becomes one flag per value
    (`col_value`); any other column is left out, never refused."""
    flags, notes = {}, []
    binary = {"true": 1, "false": 0, "1": 1, "0": 0, "1.0": 1, "0.0": 0, "yes": 1, "no": 0}
    for c in frame.columns:
        if c == date_column:
            continue
        text = frame[c].astype(str).str.strip().str.lower()
        as_flag = text.map(binary)
        if frame[c].notna().all() and as_flag.notna().all():
            flags[c] = as_flag.to_numpy(dtype=np.float64)
            continue
        numeric = frame[c].dtype.kind in "ifu"
        levels = sorted(text[frame[c].notna()].unique())
        if not numeric and len(levels) <= max_levels:
            names = {v: re.sub(r"\W+", "_", f"{c}_{v}") for v in levels}
            for v, name in names.items():
                flags[name] = (text == v).to_numpy(dtype=np.float64)
            shown = ", ".join(list(names.values())[:4]) + (", ..." if len(names) > 4 else "")
            notes.append(
                f"calendar column {c!r}: text with {len(levels)} values, encoded as one 0/1 flag "
                f"per value ({shown})"
            )
        else:
            kind = "numbers that are not 0/1" if numeric else f"text with {len(levels)} values"
            notes.append(
                f"calendar column {c!r} left out: {kind} (flags are 0/1; text is encoded up to "
                f"{max_levels} values)"
            )
    return flags, notes


def read_calendar(path: Path, time_column: str, date_column: str | None = None) -> Calendar:
    """CSV with a date column (`date_column`, else the use case's time column) and flag
    columns; unique dates. Text columns are encoded or left out with a note (`Calendar.notes`)."""
    import pandas as pd

    frame = pd.read_csv(path)
    date_column = date_column or time_column
    if date_column not in frame:
        raise ValueError(
            f"calendar file {path} has no date column {date_column!r} (columns: "
            f"{list(frame.columns)}); name it with data.calendar_date_column"
        )
    dates = pd.to_datetime(frame[date_column], errors="coerce")
    if dates.isna().any():
        bad = frame.loc[dates.isna(), date_column].head(3).tolist()
        raise ValueError(f"calendar file {path}: {date_column} values {bad} are not dates")
    if dates.duplicated().any():
        raise ValueError(
            f"calendar file {path}: duplicate dates {dates[dates.duplicated()].head(3).dt.date.tolist()}"
        )
    flags, notes = calendar_flags(frame, date_column)
    order = np.argsort(dates.to_numpy(dtype="datetime64[D]"), kind="stable")
    return Calendar(
        dates.to_numpy(dtype="datetime64[D]")[order],
        {k: v[order] for k, v in flags.items()},
        notes,
    )
