"""Model inputs from raw data: no fitting, no I/O, input not modified; the same code in training
and serving.

Snapshot mode (`build_features`) is row-wise. Fleet mode (`build_fleet_features`) is causal
instead: a reading's features use only the same asset's readings up to and including it, so
the service, given an asset's recent readings, computes exactly what training computed.
"""

from collections.abc import Sequence

import numpy as np
from pydantic import Field, field_validator

from shared.core.config import Strict
from shared.core.history import (
    STATS,
    HistorySettings,
    RemainingLifeSettings,
    entity_order,
    event_labels,
    history_features,
    known_stats,
    remaining_life_features,
    snake,
    valid_windows,
)
from shared.core.usecase import Columns, Features

asset_order = entity_order  # the fleet's name for it

# Raw column -> model input name: LightGBM rejects brackets in feature names, so model inputs
# (and ONNX input names) are plain snake_case with the unit kept as a suffix.
AIR_K, PROCESS_K = "Air temperature [K]", "Process temperature [K]"
SPEED_RPM, TORQUE_NM, WEAR_MIN = "Rotational speed [rpm]", "Torque [Nm]", "Tool wear [min]"
RAW_NUMBERS = (AIR_K, PROCESS_K, SPEED_RPM, TORQUE_NM, WEAR_MIN)
CATEGORIES = ("Type",)


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
        return valid_windows(v, "std and slope")

    def feature_names(self) -> tuple[str, ...]:
        """Model inputs, in a fixed order: age, then per sensor its last value and window stats."""
        return as_history(self).feature_names()


def as_history(settings: FleetSettings) -> HistorySettings:
    """The fleet's column names in the core's terms (shared/core/history.py does the work)."""
    s = settings
    return HistorySettings(
        entity_column=s.asset_column,
        time_column=s.time_column,
        event_column=s.failure_column,
        age_column=s.age_column,
        sensors=s.sensors,
        windows=s.windows,
        horizon=s.horizon,
    )


def build_fleet_features(
    raw: Columns, settings: FleetSettings, at: np.ndarray | None = None
) -> Features:
    """Rolling-window features per asset, aligned with the input rows (any input order), or
    those of the rows at positions `at` only."""
    return history_features(raw, as_history(settings), at)


def fleet_labels(raw: Columns, settings: FleetSettings) -> np.ndarray:
    """1 = the asset fails within the next H time units, 0 = it does not, NaN = unknown
    (censored assets within H of their last reading)."""
    return event_labels(raw, as_history(settings))


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


# ---- Remaining-useful-life mode -------------------------------------------------------------

# FD003's sensors that vary: s1, s5, s16, s18 and s19 are constant in the real file (std 0) and
# tell a model nothing. s6 takes a handful of values and stays: it costs little.
RUL_SENSORS = (
    *("s2", "s3", "s4", "s6", "s7", "s8", "s9", "s10", "s11"),
    *("s12", "s13", "s14", "s15", "s17", "s20", "s21"),
)


class RulSettings(Strict):
    """The `settings` section of config_rul.yaml: which columns mean what, windows, the RUL cap."""

    id_column: str = Field("unit", description="engine (asset) id; features never cross engines")
    time_column: str = Field("cycle", description="orders readings; also a feature (engine age)")
    target_column: str = Field("rul", description="cycles left before failure, empty if unknown")
    # ADAPT: your informative sensors (drop those that are constant in your data).
    sensors: list[str] = Field(list(RUL_SENSORS), min_length=1)
    windows: list[int] = Field(
        [10, 20, 30, 50],
        min_length=1,
        description="rolling windows, in readings (cycles); a request carries the last max(windows)",
    )
    stats: list[str] = Field(
        ["mean", "slope"],
        min_length=1,
        description=f"per window and sensor, any of {list(STATS)}: the level and the trend",
    )
    rul_cap: float = Field(
        125.0,
        gt=0,
        description="labels are min(rul, cap): early in life an engine shows no wear, so 300 and "
        "200 cycles left look alike ('piecewise linear' target of the C-MAPSS literature)",
    )

    @field_validator("windows")
    @classmethod
    def _windows_at_least_two(cls, v: list[int]) -> list[int]:
        return valid_windows(v, "1 is the last value")

    @field_validator("stats")
    @classmethod
    def _known_stats(cls, v: list[str]) -> list[str]:
        return known_stats(v)  # one fixed order, whatever the config's

    def feature_names(self) -> tuple[str, ...]:
        """Model inputs, in a fixed order: age, then per sensor its last value and window stats."""
        return as_remaining_life(self).feature_names()


def as_remaining_life(settings: RulSettings) -> RemainingLifeSettings:
    """The engines' column names in the core's terms (shared/core/history.py does the work)."""
    s = settings
    return RemainingLifeSettings(
        entity_column=s.id_column,
        time_column=s.time_column,
        target_column=s.target_column,
        sensors=s.sensors,
        windows=s.windows,
        stats=s.stats,
        cap=s.rul_cap,
    )


def build_rul_features(
    raw: Columns, settings: RulSettings, at: np.ndarray | None = None
) -> Features:
    """Per engine, ordered by cycle: each sensor's value and its window statistics (level and
    least-squares trend) looking back only, plus the cycle itself; aligned with the input rows
    (any input order), or those of the rows at positions `at` only. `make_feed` puts them on
    the float32 grid that keeps ONNX parity (shared/core/onnx_export.py `snap`)."""
    return remaining_life_features(raw, as_remaining_life(settings), at)


def rul_labels(raw: Columns, settings: RulSettings) -> np.ndarray:
    """min(rul, cap) in cycles, float64; NaN where the RUL is unknown (engine still running)."""
    rul = np.asarray(raw[settings.target_column], dtype=np.float64)
    return np.minimum(rul, settings.rul_cap)


def check_rul_columns(settings: RulSettings, columns: Sequence[str]) -> None:
    """Fail early when config names a column the schema does not have."""
    named = [settings.id_column, settings.time_column, settings.target_column, *settings.sensors]
    missing = [c for c in named if c not in columns]
    if missing:
        raise ValueError(f"config_rul.yaml settings name columns not in RulSchema: {missing}")
