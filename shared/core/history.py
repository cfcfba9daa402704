"""Features and labels read from each entity's own history (readings per asset, visits per
customer): causal rolling windows and "an event within the next H time units".

A row's features use only the same entity's rows up to and including it, so the service,
given an entity's recent rows, computes exactly what training computed. No domain word here:
use cases name their columns in config (`settings:`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from functools import cache

import numpy as np
from pydantic import Field, field_validator

from shared.core.config import Strict
from shared.core.usecase import Columns, Features

STATS = ("mean", "std", "min", "max", "slope")


@cache  # called per feature on every request; a handful of distinct names
def snake(name: str) -> str:
    """`Air temperature [K]` -> `air_temperature_k`: a name LightGBM and ONNX both accept."""
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


def valid_windows(v: list[int], why: str) -> list[int]:
    """Window widths, sorted and unique, each at least 2 rows (`why`: what 1 row cannot give)."""
    if min(v) < 2:
        raise ValueError(f"every window needs at least 2 rows ({why})")
    return sorted(set(v))


def known_stats(v: list[str]) -> list[str]:
    """Window statistics, checked against STATS and put in its one fixed order."""
    if unknown := [s for s in v if s not in STATS]:
        raise ValueError(f"unknown window statistic(s) {unknown}: use any of {list(STATS)}")
    return [s for s in STATS if s in v]


class HistorySettings(Strict):
    """Which columns mean what, the rolling windows and the horizon H of the label."""

    entity_column: str = Field(description="the asset, customer, ... a history belongs to")
    time_column: str = Field(description="orders an entity's rows; numbers (days, cycles)")
    event_column: str = Field(description="time of the event (failure, churn); empty if none")
    age_column: str | None = Field(None, description="time since the entity's start, a feature")
    sensors: list[str] = Field(min_length=1, description="numeric columns to window")
    windows: list[int] = Field([7, 14, 30], min_length=1, description="in rows, looking back")
    horizon: int = Field(14, ge=1, description="H: label = the event within the next H units")

    @field_validator("windows")
    @classmethod
    def _windows_at_least_two(cls, v: list[int]) -> list[int]:
        return valid_windows(v, "std and slope")

    def feature_names(self) -> tuple[str, ...]:
        """Model inputs, in a fixed order: age, then per sensor its last value and window stats."""
        age = (snake(self.age_column),) if self.age_column else ()
        return age + window_feature_names(tuple(self.sensors), tuple(self.windows), STATS)

    def columns(self) -> list[str]:
        named = [self.entity_column, self.time_column, self.event_column, *self.sensors]
        return named + ([self.age_column] if self.age_column else [])


def check_columns(settings: HistorySettings, columns: Sequence[str], where: str) -> None:
    """Fail early when config names a column the schema does not have."""
    missing = [c for c in settings.columns() if c not in columns]
    if missing:
        raise ValueError(f"{where} settings name columns not in the schema: {missing}")


def window_stats(x: np.ndarray, w: int, stats: Sequence[str] = STATS) -> dict[str, np.ndarray]:
    """`stats` (any of mean, std, min, max and least-squares slope) per row over the last `w` rows.

    `x`: one entity's rows, oldest first, one column (n,) or several (n, k) at once; each stat
    comes back in the shape of `x`. The first rows of an entity use what there is (1 row: std
    and slope are 0). Only the stats asked for are computed: a request of 40 engines x 50
    cycles spent most of its time in the unused ones.
    """
    return {k: v.T.reshape(x.shape) for k, v in column_window_stats(x, w, stats).items()}


def column_window_stats(
    x: np.ndarray, w: int, stats: Sequence[str] = STATS
) -> dict[str, np.ndarray]:
    """`window_stats` laid out (k, n): per column of `x`, its rows (what `window_features`
    stores without a transpose per statistic)."""
    return windowed_stats(sliding_windows(x, w), stats)


def per_seen(total: np.ndarray, count: np.ndarray) -> np.ndarray:
    """total / count, NaN where the count is 0 (x / NaN: no warning, one array fewer)."""
    return total / np.where(count > 0, count, np.nan)


def windowed_stats(win: np.ndarray, stats: Sequence[str] = STATS) -> dict[str, np.ndarray]:
    """`stats` over the last axis of (k, n, w) windows (oldest first, NaN where nothing was
    seen), laid out (k, n)."""
    w = win.shape[-1]
    seen = win == win  # not NaN
    count = np.add.reduce(seen, axis=-1)
    # Missing values (the padding before an entity's first row) count as 0 in every sum: the
    # same numbers summed in the same order as np.nansum, without its copy per call.
    # A window where nothing was seen is NaN, as np.nanmean gives, and with no warning.
    # (np.add.reduce is what `.sum` calls, without its Python wrapper: the same sums)
    mean = per_seen(np.add.reduce(np.where(seen, win, 0.0), axis=-1), count)
    out = {"mean": mean}
    if "std" in stats or "slope" in stats:
        dx = np.where(seen, win - mean[..., None], 0.0)
        if "std" in stats:
            out["std"] = np.sqrt(per_seen(np.add.reduce(dx * dx, axis=-1), count))
    if "slope" in stats:
        t = np.where(seen, np.arange(w, dtype=np.float64), 0.0)
        dt = np.where(seen, t - per_seen(np.add.reduce(t, axis=-1), count)[..., None], 0.0)
        sxx = np.add.reduce(dt * dt, axis=-1)
        out["slope"] = np.divide(
            np.add.reduce(dt * dx, axis=-1), sxx, out=np.zeros(mean.shape), where=sxx > 0
        )
    # np.nanmin and np.nanmax are these reductions plus a scan for all-NaN windows to warn
    # about: the same values (NaN where nothing was seen) in one call each
    if "min" in stats:
        out["min"] = np.fmin.reduce(win, axis=-1)
    if "max" in stats:
        out["max"] = np.fmax.reduce(win, axis=-1)
    return {k: out[k] for k in stats}


def sliding_windows(x: np.ndarray, w: int) -> np.ndarray:
    """(k, n, w) view: per column and row, the last `w` rows, NaN before the first row.

    Each window is contiguous, as with one column: a row's stats come out bit for bit the
    same whether its column is windowed alone or with others, and whatever rows surround it.
    """
    n = x.shape[0]
    cols = x.reshape(n, -1).T
    padded = np.concatenate([np.full((cols.shape[0], w - 1), np.nan), cols], axis=1)
    # sliding_window_view's own checks cost more than the stats of a one-record request
    step = padded.strides[1]
    return np.lib.stride_tricks.as_strided(
        padded, (cols.shape[0], n, w), (padded.strides[0], step, step), writeable=False
    )


def entity_order(entities: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Row order sorted by (entity, time), and the positions of each entity's run in it."""
    order = np.lexsort((times, entities))
    sorted_entities = entities[order]
    bounds = [0, *(np.nonzero(sorted_entities[1:] != sorted_entities[:-1])[0] + 1).tolist()]
    ends = [*bounds[1:], len(order)]
    # what np.split(np.arange(n), cuts) gives (one empty run when there are no rows), without
    # its per-piece Python: a one-record request has a single run
    return order, [np.arange(a, b) for a, b in zip(bounds, ends, strict=True)]


def history_features(raw: Columns, s: HistorySettings, at: np.ndarray | None = None) -> Features:
    """Rolling-window features per entity, aligned with the input rows (any input order), or
    with `at` (row positions) when given: those rows' features only (`window_features`)."""
    out: Features = {}
    if s.age_column:
        out[snake(s.age_column)] = rows_of(np.asarray(raw[s.age_column], dtype=np.float64), at)
    return out | window_features(raw, s.entity_column, s.time_column, s.sensors, s.windows, at=at)


def rows_of(values: np.ndarray, at: np.ndarray | None) -> np.ndarray:
    """`values` at positions `at`, or all of them when `at` is None."""
    return values if at is None else values[at]


def event_labels(raw: Columns, s: HistorySettings) -> np.ndarray:
    """1 = the entity's event comes within the next H time units, 0 = it does not, NaN = unknown.

    Unknown: an entity with no recorded event (censored) was last seen at its last row, so for
    its rows within H of that, nobody knows yet whether the event came in time.
    """
    entities = np.asarray(raw[s.entity_column], dtype=str)
    times = np.asarray(raw[s.time_column], dtype=np.float64)
    event = np.asarray(raw[s.event_column], dtype=np.float64)
    last_seen = np.empty(len(times))
    order, runs = entity_order(entities, times)
    for run in runs:
        last_seen[order[run]] = times[order[run]].max()
    happened = ~np.isnan(event)
    within_h = happened & (event - times <= s.horizon)
    known = happened | (times + s.horizon <= last_seen)
    return np.where(known, within_h.astype(np.float64), np.nan)


def last_rows(entities: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Positions of each entity's latest row, in order of entity (as `entity_order` sorts)."""
    order, runs = entity_order(np.asarray(entities, dtype=str), np.asarray(times, np.float64))
    return np.array([order[run[-1]] for run in runs], dtype=np.int64)


def random_cuts(
    entities: np.ndarray, times: np.ndarray, seed: int, min_rows: int = 31
) -> np.ndarray:
    """Keep each entity's rows up to a random cut (uniform over its rows from the `min_rows`-th,
    or all of a shorter history): the layout of a test file of histories cut before the event.

    Returns a boolean mask over the rows. Seeded: the same seed cuts at the same rows.
    """
    order, runs = entity_order(np.asarray(entities, dtype=str), np.asarray(times, np.float64))
    rng = np.random.default_rng(seed)
    keep = np.zeros(len(order), dtype=bool)
    for run in runs:
        n = len(run)
        cut = int(rng.integers(min(min_rows, n), n + 1))  # rows kept, at least one
        keep[order[run[:cut]]] = True
    return keep


def window_features(
    raw: Columns,
    entity_column: str,
    time_column: str,
    sensors: Sequence[str],
    windows: Sequence[int],
    stats: Sequence[str] = STATS,
    at: np.ndarray | None = None,
) -> Features:
    """Per sensor its last value and `stats` over each window, per entity in time order, looking
    back only; keys `<sensor>_last`, `<sensor>_<stat>_<w>`; aligned with the input rows.

    With `at` (row positions), the features of those rows only, in that order: the same values,
    without windowing the rows nobody asked for (a service scores each entity's latest record:
    1 row of a 50-cycle history, not 50)."""
    entities = np.asarray(raw[entity_column], dtype=str)
    times = np.asarray(raw[time_column], dtype=np.float64)
    order, runs = entity_order(entities, times)
    # every sensor of a run at once: one call per run and window, not per sensor too
    # one conversion for every sensor (a request's columns are already views of one block)
    x = np.array([raw[sensor] for sensor in sensors], dtype=np.float64).T
    # One block, per sensor its last value then each window's stats, one row per feature: each
    # feature is a row of it (a view), not an array of its own (145 copies were a third of a
    # one-record request's feature time).
    per_sensor = 1 + len(windows) * len(stats)
    last = rows_of(x, at)
    block = np.empty((x.shape[1], per_sensor, last.shape[0]))
    block[:, 0] = last.T
    width = max(windows)
    # A row's window of w rows is its widest window with the older rows unseen (NaN): every
    # width in one call of the statistics, not one per width (on a one-record request the
    # cost is per numpy call: 4 widths were half of remaining life's feature time).
    older = np.arange(width) < width - np.asarray(windows)[:, None]  # (widths, width)
    for widest, out in row_windows(x, order, runs, at, width):
        masked = np.where(older[None, :, None, :], np.nan, widest[:, None])  # (k, widths, n, w)
        computed = np.stack(list(windowed_stats(masked, stats).values()), axis=2)
        block[:, 1:, out] = computed.reshape(x.shape[1], -1, len(out))
    names = window_feature_names(tuple(sensors), tuple(windows), tuple(stats))
    return dict(zip(names, block.reshape(len(names), -1), strict=True))


def row_windows(
    x: np.ndarray, order: np.ndarray, runs: list[np.ndarray], at: np.ndarray | None, width: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(k, rows, width) windows of `x`'s k columns (oldest first, NaN before the entity's first
    row) and the output positions they belong to: per entity run for every row when `at` is
    None, else the asked rows' windows gathered at once, whatever the number of entities."""
    if at is None:
        for run in runs:
            if len(run):  # no rows at all: np.split gives one empty run
                yield sliding_windows(x[order[run]], width), order[run]
        return
    if not len(at):
        return
    place = np.empty(len(order), dtype=np.int64)
    place[order] = np.arange(len(order))
    wanted = place[np.asarray(at, dtype=np.int64)]  # each asked row's place in (entity, time) order
    starts = np.array([run[0] for run in runs], dtype=np.int64)
    first = starts[np.searchsorted(starts, wanted, side="right") - 1]  # its entity's first row
    idx = wanted[:, None] + np.arange(1 - width, 1)
    windows = x[order[np.maximum(idx, 0)]]  # (rows, width, k)
    windows[idx < first[:, None]] = np.nan
    # contiguous windows, as `sliding_windows` gives: the same sums, bit for bit
    yield np.ascontiguousarray(windows.transpose(2, 0, 1)), np.arange(len(wanted))


@cache  # the same few settings on every request: the names are built once
def window_feature_names(
    sensors: tuple[str, ...], windows: tuple[int, ...], stats: tuple[str, ...]
) -> tuple[str, ...]:
    """`window_features`' keys in its order: per sensor `<sensor>_last`, then per window each
    of `<sensor>_<stat>_<w>`."""
    return tuple(
        f"{snake(sensor)}_{part}"
        for sensor in sensors
        for part in ("last", *(f"{stat}_{w}" for w in windows for stat in stats))
    )


class RemainingLifeSettings(Strict):
    """Remaining life from run-to-failure histories: columns, windows, statistics, the cap."""

    entity_column: str = Field(description="the asset a history belongs to; never crossed")
    time_column: str = Field(description="orders an entity's rows (cycles); also a feature (age)")
    target_column: str = Field(
        "rul",
        description="time left before failure; absent from the file = derived: every entity ran "
        "to failure at its last row",
    )
    sensors: list[str] = Field(min_length=1, description="numeric columns to window")
    windows: list[int] = Field([10, 20, 30, 50], min_length=1, description="in rows, looking back")
    stats: list[str] = Field(["mean", "slope"], min_length=1, description=f"any of {list(STATS)}")
    cap: float = Field(
        125.0, gt=0, description="labels are min(remaining life, cap): early wear is invisible"
    )

    @field_validator("windows")
    @classmethod
    def _windows_at_least_two(cls, v: list[int]) -> list[int]:
        return valid_windows(v, "1 is the last value")

    @field_validator("stats")
    @classmethod
    def _known_stats(cls, v: list[str]) -> list[str]:
        return known_stats(v)

    def feature_names(self) -> tuple[str, ...]:
        """Model inputs, in a fixed order: the time, then per sensor its last value and stats."""
        windowed = window_feature_names(tuple(self.sensors), tuple(self.windows), tuple(self.stats))
        return (snake(self.time_column), *windowed)


def remaining_life_features(
    raw: Columns, s: RemainingLifeSettings, at: np.ndarray | None = None
) -> Features:
    """The time itself and the sensors' window features (`window_features`; `at`: those rows
    only)."""
    times = rows_of(np.asarray(raw[s.time_column], dtype=np.float64), at)
    return {snake(s.time_column): times} | window_features(
        raw, s.entity_column, s.time_column, s.sensors, s.windows, s.stats, at=at
    )


def remaining_life(raw: Columns, s: RemainingLifeSettings) -> np.ndarray:
    """min(time left, cap) per row, float64. From the target column when the data has one (NaN
    stays unknown), else derived: each entity failed at its last row (run-to-failure data)."""
    if s.target_column in raw:
        left = np.asarray(raw[s.target_column], dtype=np.float64)
    else:
        entities = np.asarray(raw[s.entity_column], dtype=str)
        times = np.asarray(raw[s.time_column], dtype=np.float64)
        failed_at = np.empty(len(times))
        order, runs = entity_order(entities, times)
        for run in runs:
            failed_at[order[run]] = times[order[run[-1]]]
        left = failed_at - times
    return np.minimum(left, s.cap)
