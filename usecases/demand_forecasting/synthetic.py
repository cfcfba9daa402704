"""Seeded Walmart-like weekly sales in the RawSchema, quirks included.

Each store x department series has a level (from tens to tens of thousands of USD a week), a
trend, a yearly shape shared by its department, holiday peaks (Thanksgiving, the week before
Christmas), a slowly wandering level and noise. Some series are intermittent and low-volume
with zero weeks and returns (negative sales); some start late, stop early or miss weeks; a
few are brand new (a handful of weeks: the service's fallback rule).
"""

from datetime import date, timedelta

import numpy as np
import pandas as pd

FIRST_FRIDAY = date(2010, 2, 5)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    d = date(year, month, 1)
    d += timedelta(days=(weekday - d.weekday()) % 7)
    return d + timedelta(weeks=n - 1)


def holiday_weeks(year: int) -> dict[str, date]:
    """The Friday ending each holiday week, as flagged in the Walmart file."""
    christmas = date(year, 12, 25)
    return {
        "super_bowl": _nth_weekday(year, 2, 4, 2),  # second Friday of February
        "labor_day": _nth_weekday(year, 9, 0, 1) + timedelta(days=4),
        "thanksgiving": _nth_weekday(year, 11, 3, 4) + timedelta(days=1),
        "christmas": christmas + timedelta(days=(4 - christmas.weekday()) % 7),
    }


def make_synthetic(n_series: int = 120, n_weeks: int = 156, seed: int = 42) -> pd.DataFrame:
    """`n_series` store x department series over `n_weeks` Fridays (config data.n_periods)."""
    rng = np.random.default_rng(seed)
    dates = [FIRST_FRIDAY + timedelta(weeks=t) for t in range(n_weeks)]
    t = np.arange(n_weeks)
    holidays = {
        d: name
        for y in range(FIRST_FRIDAY.year, dates[-1].year + 1)
        for name, d in holiday_weeks(y).items()
    }
    is_holiday = np.array([d in holidays for d in dates])
    # Sales peaks: the flagged Thanksgiving week, and the week *before* the flagged Christmas
    # week (the last shopping week), as in the real file.
    peak = np.zeros(n_weeks)
    for i, d in enumerate(dates):
        name = holidays.get(d)
        if name == "thanksgiving":
            peak[i] = 0.6
        elif name == "christmas":
            peak[i] = -0.15
            if i > 0:
                peak[i - 1] = 0.9
        elif name in ("super_bowl", "labor_day"):
            peak[i] = 0.08
    n_stores = max(1, int(np.ceil(n_series / 15)))
    n_depts = int(np.ceil(n_series / n_stores))
    phase = rng.uniform(0, 2 * np.pi, n_depts)
    amp = rng.uniform(0.05, 0.45, n_depts)
    holiday_sens = rng.uniform(0.2, 1.5, n_depts)
    doy = np.array([(d - date(d.year, 1, 1)).days for d in dates]) / 365.25

    frames = []
    for i in range(n_series):
        store, dept = i % n_stores + 1, i // n_stores + 1
        di = dept - 1
        season = (
            1
            + amp[di] * np.sin(2 * np.pi * doy + phase[di])
            + 0.5 * amp[di] * np.sin(4 * np.pi * doy + 2 * phase[di])
        )
        holiday = 1 + holiday_sens[di] * peak
        growth = rng.normal(0.02, 0.08) / 52
        wander = np.exp(np.cumsum(rng.normal(0, 0.015, n_weeks)))
        intermittent = rng.random() < 0.15
        if intermittent:  # a few items a week at 10-40 USD: many zero weeks, some returns
            price = rng.uniform(10, 40)
            rate = rng.uniform(0.2, 2.0) * season * holiday * wander
            sales = price * rng.poisson(rate).astype(float)
            returns = rng.random(n_weeks) < 0.04
            sales[returns] -= price * rng.integers(1, 3, returns.sum())
        else:
            level = np.exp(rng.normal(8.8, 1.2))
            noise = np.exp(rng.normal(0, rng.uniform(0.04, 0.15), n_weeks))
            sales = level * season * holiday * (1 + growth) ** t * wander * noise
            returns = rng.random(n_weeks) < 0.003
            sales[returns] = -rng.uniform(10, 200, returns.sum())
        keep = np.ones(n_weeks, dtype=bool)
        u = rng.random()
        if u < 0.03:  # brand new: only the last few weeks (the fallback rule's case)
            keep[: n_weeks - rng.integers(2, 10)] = False
        elif u < 0.15:  # opened late
            keep[: rng.integers(10, max(11, n_weeks - 40))] = False
        elif u < 0.20:  # closed early
            keep[n_weeks - rng.integers(10, 30) :] = False
        if rng.random() < 0.08:  # a few weeks missing inside the series
            keep[rng.choice(n_weeks, size=rng.integers(1, 4), replace=False)] = False
        if not keep.any():
            keep[-1] = True
        idx = np.flatnonzero(keep)
        frames.append(
            pd.DataFrame(
                {
                    "Store": np.full(len(idx), store, dtype=np.int64),
                    "Dept": np.full(len(idx), dept, dtype=np.int64),
                    "Date": [dates[j].isoformat() for j in idx],
                    "Weekly_Sales": np.round(sales[idx], 2),
                    "IsHoliday": is_holiday[idx],
                }
            )
        )
    raw = pd.concat(frames, ignore_index=True)
    return raw.sort_values(["Store", "Dept", "Date"], kind="stable").reset_index(drop=True)
