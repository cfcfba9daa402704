"""Model inputs from raw data: no fitting, no I/O, input not modified; the same code in training
and serving.

Snapshot mode (`build_features`) is row-wise. Fleet mode (`build_fleet_features`) is causal
instead: a reading's features use only the same asset's readings up to and including it, so
the service, given an asset's recent readings, computes exactly what training computed.
"""

import re
from collections.abc import Sequence

import numpy as np
from pydantic import Field, field_validator

from shared.config import Strict
from shared.usecase import Columns, Features

# Raw column -> model input name: LightGBM rejects brackets in feature names, so model inputs
# (and ONNX input names) are plain snake_case with the unit kept as a suffix.
AIR_K, PROCESS_K = "Air temperature [K]", "Process temperature [K]"
SPEED_RPM, TORQUE_NM, WEAR_MIN = "Rotational speed [rpm]", "Torque [Nm]", "Tool wear [min]"
RAW_NUMBERS = (AIR_K, PROCESS_K, SPEED_RPM, TORQUE_NM, WEAR_MIN)
CATEGORIES = ("Type",)


def snake(name: str) -> str:
    """`Air temperature [K]` -> `air_temperature_k`: a name LightGBM and ONNX both accept."""
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


def build_features(raw: Columns) -> Features:
    """Physical features of one operation; numbers as float, categories as str."""
    air = np.asarray(raw[AIR_K], dtype=np.float64)
    process = np.asarray(raw[PROCESS_K], dtype=np.float64)
    speed = np.asarray(raw[SPEED_RPM], dtype=np.float64)
    torque = np.asarray(raw[TORQUE_NM], dtype=np.float64)
    wear = np.asarray(raw[WEAR_MIN], dtype=np.float64)
    out: Features = {snake(c): np.asarray(raw[c], dtype=np.float64) for c in RAW_NUMBERS}
    # Heat leaves the process through the air: a small difference means poor dissipation.
    out["temperature_difference_k"] = process - air
    # Mechanical power P = torque x angular speed (rad/s); too low or too high both stress it.
    out["power_w"] = torque * speed * (2 * np.pi / 60)
    # Overstrain grows with how long the tool has cut and how hard it cuts.
    out["tool_wear_torque_min_nm"] = wear * torque
    for c in CATEGORIES:
        out[snake(c)] = np.asarray(raw[c], dtype=str)
    return out


SNAPSHOT_NUMERIC = (
    *(snake(c) for c in RAW_NUMBERS),
    "temperature_difference_k",
    "power_w",
    "tool_wear_torque_min_nm",
)
SNAPSHOT_CATEGORICAL = tuple(snake(c) for c in CATEGORIES)


# ---- Fleet telemetry mode -------------------------------------------------------------------

STATS = ("mean", "std", "min", "max", "slope")


class FleetSettings(Strict):
    """The `settings` section of config_fleet.yaml: which columns mean what, windows, horizon."""

    asset_column: str = "asset_id"
    time_column: str = Field("day", description="orders readings; the split cuts on it")
    age_column: str = Field("cycle", description="time since the start of the asset's run")
    failure_column: str = Field("failure_day", description="time of failure, empty if none")
    sensors: list[str] = Field(
        ["temperature_c", "vibration_mm_s", "pressure_bar", "current_a"], min_length=1
    )
    windows: list[int] = Field(
        [7, 14, 30], min_length=1, description="rolling windows, in readings"
    )
    horizon: int = Field(14, ge=1, description="H: label = fails within the next H time units")

    @field_validator("windows")
    @classmethod
    def _windows_at_least_two(cls, v: list[int]) -> list[int]:
        if min(v) < 2:
            raise ValueError("every window needs at least 2 readings (std and slope)")
        return sorted(set(v))

    def feature_names(self) -> tuple[str, ...]:
        """Model inputs, in a fixed order: age, then per sensor its last value and window stats."""
        names = [snake(self.age_column)]
        for s in self.sensors:
            names.append(f"{snake(s)}_last")
            names += [f"{snake(s)}_{stat}_{w}" for w in self.windows for stat in STATS]
        return tuple(names)


def _window_stats(x: np.ndarray, w: int) -> dict[str, np.ndarray]:
    """Mean, std, min, max and least-squares slope per reading over the last `w` readings.

    The first readings of an asset use what there is (1 reading: std and slope are 0).
    """
    n = len(x)
    padded = np.concatenate([np.full(w - 1, np.nan), x])
    win = np.lib.stride_tricks.sliding_window_view(padded, w)  # (n, w), oldest first
    seen = ~np.isnan(win)
    count = seen.sum(axis=1)
    t = np.where(seen, np.arange(w, dtype=np.float64), np.nan)
    mean = np.nansum(win, axis=1) / count
    t_mean = np.nansum(t, axis=1) / count
    dx, dt = win - mean[:, None], t - t_mean[:, None]
    sxx = np.nansum(dt * dt, axis=1)
    slope = np.divide(np.nansum(dt * dx, axis=1), sxx, out=np.zeros(n), where=sxx > 0)
    return {
        "mean": mean,
        "std": np.sqrt(np.nansum(dx * dx, axis=1) / count),
        "min": np.nanmin(win, axis=1),
        "max": np.nanmax(win, axis=1),
        "slope": slope,
    }


def asset_order(assets: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Row order sorted by (asset, time), and the positions of each asset's run in that order."""
    order = np.lexsort((times, assets))
    sorted_assets = assets[order]
    cuts = np.flatnonzero(sorted_assets[1:] != sorted_assets[:-1]) + 1
    return order, np.split(np.arange(len(order)), cuts)


def build_fleet_features(raw: Columns, settings: FleetSettings) -> Features:
    """Rolling-window features per asset, aligned with the input rows (any input order)."""
    s = settings
    assets = np.asarray(raw[s.asset_column], dtype=str)
    times = np.asarray(raw[s.time_column], dtype=np.float64)
    order, runs = asset_order(assets, times)
    out: Features = {snake(s.age_column): np.asarray(raw[s.age_column], dtype=np.float64)}
    for sensor in s.sensors:
        x = np.asarray(raw[sensor], dtype=np.float64)
        out[f"{snake(sensor)}_last"] = x.copy()
        for w in s.windows:
            cols = {stat: np.empty(len(x)) for stat in STATS}
            for run in runs:
                rows = order[run]
                for stat, values in _window_stats(x[rows], w).items():
                    cols[stat][rows] = values
            for stat in STATS:
                out[f"{snake(sensor)}_{stat}_{w}"] = cols[stat]
    return out


def fleet_labels(raw: Columns, settings: FleetSettings) -> np.ndarray:
    """1 = the asset fails within the next H time units, 0 = it does not, NaN = unknown.

    Unknown: an asset with no recorded failure (censored) was last seen at its last reading,
    so for its readings within H of that, nobody knows yet whether it failed in time.
    """
    s = settings
    assets = np.asarray(raw[s.asset_column], dtype=str)
    times = np.asarray(raw[s.time_column], dtype=np.float64)
    failure = np.asarray(raw[s.failure_column], dtype=np.float64)
    last_seen = np.empty(len(times))
    order, runs = asset_order(assets, times)
    for run in runs:
        last_seen[order[run]] = times[order[run]].max()
    failed = ~np.isnan(failure)
    fails_in_h = failed & (failure - times <= s.horizon)
    known = failed | (times + s.horizon <= last_seen)
    return np.where(known, fails_in_h.astype(np.float64), np.nan)


def check_columns(settings: FleetSettings, columns: Sequence[str]) -> None:
    """Fail early when config names a column the schema does not have."""
    named = [
        settings.asset_column,
        settings.time_column,
        settings.age_column,
        settings.failure_column,
        *settings.sensors,
    ]
    missing = [c for c in named if c not in columns]
    if missing:
        raise ValueError(f"config_fleet.yaml settings name columns not in FleetSchema: {missing}")
