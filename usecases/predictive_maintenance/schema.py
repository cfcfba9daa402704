"""What arrives, in training and in the service: the UCI AI4I 2020 machine-operation columns.

Snapshot mode: one row per machine operation. Column names keep the file's spaces and unit
brackets (`Air temperature [K]`); features.py turns them into plain model-input names, as
LightGBM rejects some of these characters.

Fleet mode (readings per asset over time) has its own schema, `FleetSchema`, below.
"""

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

TARGET = "Machine failure"
POSITIVE_LABEL = 1
ID_COLUMN = "UDI"
# The failure-mode flags break the target down by cause: tool wear, heat dissipation, power,
# overstrain and random failure. They are recorded after the machine failed, so they are known
# only after the outcome and would leak it: their plain sum scores ROC AUC 0.986 on the real
# file, with no model at all. They stay in the schema so the file validates, are optional in
# requests, and are never features.
LEAKY_COLUMNS: tuple[str, ...] = ("TWF", "HDF", "PWF", "OSF", "RNF")

FLAG = [0, 1]


def _failure_mode(name: str) -> object:
    return pa.Field(
        alias=name,
        isin=FLAG,
        nullable=True,
        description=f"{name} failure-mode flag (0/1), known only after the outcome: never a feature",
    )


class RawSchema(pa.DataFrameModel):
    """One row per machine operation (a product made on the machine)."""

    udi: Series[int] = pa.Field(
        alias="UDI", ge=1, description="unique row id", metadata={"example": 1}
    )
    product_id: Series[str] = pa.Field(
        alias="Product ID",
        str_matches=r"^[LMH]\d+$",
        description="quality variant letter + serial number",
        metadata={"example": "M14860"},
    )
    type: Series[str] = pa.Field(
        alias="Type",
        isin=["L", "M", "H"],
        description="product quality variant: L(ow), M(edium), H(igh)",
        metadata={"example": "M"},
    )
    air_temperature: Series[float] = pa.Field(
        alias="Air temperature [K]",
        ge=250,
        le=350,
        description="ambient air temperature, kelvin",
        metadata={"example": 298.1},
    )
    process_temperature: Series[float] = pa.Field(
        alias="Process temperature [K]",
        ge=250,
        le=400,
        description="process temperature, kelvin",
        metadata={"example": 308.6},
    )
    rotational_speed: Series[int] = pa.Field(
        alias="Rotational speed [rpm]",
        ge=0,
        le=10_000,
        description="spindle speed, revolutions per minute",
        metadata={"example": 1551},
    )
    torque: Series[float] = pa.Field(
        alias="Torque [Nm]",
        ge=0,
        le=500,
        description="torque, newton metres",
        metadata={"example": 42.8},
    )
    tool_wear: Series[int] = pa.Field(
        alias="Tool wear [min]",
        ge=0,
        le=1_000,
        description="minutes the current tool has been in use (0 = fresh tool)",
        metadata={"example": 0},
    )
    machine_failure: Series[int] = pa.Field(
        alias=TARGET, isin=FLAG, description="1 = the machine failed in this operation (target)"
    )
    twf: Series[int] = _failure_mode("TWF")
    hdf: Series[int] = _failure_mode("HDF")
    pwf: Series[int] = _failure_mode("PWF")
    osf: Series[int] = _failure_mode("OSF")
    rnf: Series[int] = _failure_mode("RNF")

    class Config:
        strict = True
        coerce = False


# Fleet telemetry mode: readings per asset over time. config_fleet.yaml names these columns
# (asset, time, age, failure, sensors); ADAPT both together when you swap in your own data.
FLEET_TARGET = "failure_day"
FLEET_ID_COLUMN = "asset_id"
FLEET_TIME_COLUMN = "day"
# The failure day is the outcome itself; labels are derived from it and it is never a feature.
FLEET_LEAKY_COLUMNS: tuple[str, ...] = ()


class FleetSchema(pa.DataFrameModel):
    """One row per asset per day: sensor readings plus the day the asset failed, if it did."""

    asset_id: Series[str] = pa.Field(
        str_length={"min_value": 1}, description="asset (machine) id", metadata={"example": "A0001"}
    )
    day: Series[int] = pa.Field(
        ge=0,
        description="fleet-wide day index of the reading (orders readings and the split)",
        metadata={"example": 120},
    )
    cycle: Series[int] = pa.Field(
        ge=1,
        description="operating days since this asset's run began (install or overhaul)",
        metadata={"example": 95},
    )
    temperature_c: Series[float] = pa.Field(
        ge=-50,
        le=250,
        description="bearing temperature, degrees Celsius",
        metadata={"example": 61.2},
    )
    vibration_mm_s: Series[float] = pa.Field(
        ge=0, le=100, description="vibration velocity RMS, mm/s", metadata={"example": 2.9}
    )
    pressure_bar: Series[float] = pa.Field(
        ge=0, le=100, description="hydraulic pressure, bar", metadata={"example": 11.8}
    )
    current_a: Series[float] = pa.Field(
        ge=0, le=1_000, description="motor current, amperes", metadata={"example": 31.5}
    )
    failure_day: Series[float] = pa.Field(
        ge=0,
        nullable=True,
        description="day the asset failed; empty = no failure recorded (still running or "
        "taken out of service: censored). The outcome: labels come from it",
    )

    class Config:
        strict = True
        coerce = False
        unique = ["asset_id", "day"]

    @pa.dataframe_check(error="failure_day differs between readings of one asset")
    @classmethod
    def one_failure_day_per_asset(cls, df: pd.DataFrame) -> pd.Series:
        per_asset = df.groupby("asset_id")["failure_day"].transform(
            lambda s: s.nunique(dropna=False)
        )
        return per_asset <= 1

    @pa.dataframe_check(error="reading after the asset's failure day")
    @classmethod
    def no_reading_after_failure(cls, df: pd.DataFrame) -> pd.Series:
        return df["failure_day"].isna() | (df["day"] <= df["failure_day"])
