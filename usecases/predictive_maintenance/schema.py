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


# Remaining-useful-life mode: per-engine cycles, NASA C-MAPSS FD003 layout. config_rul.yaml
# names these columns (settings) and the reader of the header-less file (data.reader.names);
# ADAPT them together when you swap in your own data.
RUL_TARGET = "rul"
RUL_ID_COLUMN = "unit"
RUL_TIME_COLUMN = "cycle"
# The target is the outcome itself (cycles until the failure that ended the run); nothing else
# in a reading is known only afterwards.
RUL_LEAKY_COLUMNS: tuple[str, ...] = ()
RUL_SETTINGS = ("setting_1", "setting_2", "setting_3")
RUL_SENSORS = tuple(f"s{i}" for i in range(1, 22))
# The file has no header: its 26 columns in order (the RUL is a separate file, joined by unit).
RUL_COLUMN_NAMES: tuple[str, ...] = (RUL_ID_COLUMN, RUL_TIME_COLUMN, *RUL_SETTINGS, *RUL_SENSORS)

# Plausible range per sensor: the real FD003 file's min and max widened by 10 % of the value on
# each side, rounded outward. Wide on purpose: an engine near failure drifts past what the
# (truncated) test file shows, but a unit mix-up (psia vs kPa, Rankine vs kelvin) still fails.
# The file ships no sensor names or units; NASA's documentation gives them.
# ADAPT: your sensors, their units and ranges.
RUL_SENSOR_RANGES: dict[str, tuple[float, float, str]] = {
    "s1": (466.0, 571.0, "total temperature at fan inlet, degrees Rankine (constant in FD003)"),
    "s2": (576.0, 709.0, "total temperature at LPC outlet, degrees Rankine"),
    "s3": (1400.0, 1770.0, "total temperature at HPC outlet, degrees Rankine"),
    "s4": (1240.0, 1580.0, "total temperature at LPT outlet, degrees Rankine"),
    "s5": (13.1, 16.1, "pressure at fan inlet, psia (constant in FD003)"),
    "s6": (19.3, 23.8, "total pressure in bypass duct, psia (nearly constant)"),
    "s7": (494.0, 625.0, "total pressure at HPC outlet, psia"),
    "s8": (2140.0, 2630.0, "physical fan speed, rpm"),
    "s9": (8120.0, 10_100.0, "physical core speed, rpm"),
    "s10": (1.16, 1.45, "engine pressure ratio (P50/P2), dimensionless"),
    "s11": (41.9, 53.1, "static pressure at HPC outlet, psia"),
    "s12": (465.0, 590.0, "ratio of fuel flow to Ps30, pps/psi"),
    "s13": (2140.0, 2630.0, "corrected fan speed, rpm"),
    "s14": (7290.0, 9020.0, "corrected core speed, rpm"),
    "s15": (7.37, 9.39, "bypass ratio, dimensionless"),
    "s16": (0.027, 0.033, "burner fuel-air ratio, dimensionless (constant in FD003)"),
    "s17": (348.0, 438.0, "bleed enthalpy, dimensionless (whole numbers in the file)"),
    "s18": (2140.0, 2630.0, "demanded fan speed, rpm (constant in FD003)"),
    "s19": (90.0, 110.0, "demanded corrected fan speed, % (constant in FD003)"),
    "s20": (34.4, 43.8, "HPT coolant bleed, lbm/s"),
    "s21": (20.7, 26.3, "LPT coolant bleed, lbm/s"),
}


def _sensor(name: str) -> object:
    low, high, description = RUL_SENSOR_RANGES[name]
    # coerce: the file writes whole-valued readings (s17, s18) without decimals, so a reader
    # types them int; they are still floats (an int -> float widening, never a repair).
    return pa.Field(ge=low, le=high, coerce=True, description=description)


def _setting(description: str) -> object:
    # No range: the scale of the settings differs between C-MAPSS subsets and between fleets.
    return pa.Field(coerce=True, description=f"operating setting, {description}")


class RulSchema(pa.DataFrameModel):
    """One row per engine per operating cycle: three operating settings, 21 sensor readings and,
    for engines whose failure is known, the cycles it had left (the target)."""

    unit: Series[int] = pa.Field(ge=1, description="engine (asset) id", metadata={"example": 1})
    cycle: Series[int] = pa.Field(
        ge=1,
        description="operating cycles (flights) since this engine's run began, 1 = first",
        metadata={"example": 1},
    )
    setting_1: Series[float] = _setting("altitude axis, near 0 in FD003's one condition")
    setting_2: Series[float] = _setting("Mach number axis, near 0 in FD003's one condition")
    setting_3: Series[float] = _setting("throttle resolver angle axis, 100 in FD003")
    s1: Series[float] = _sensor("s1")
    s2: Series[float] = _sensor("s2")
    s3: Series[float] = _sensor("s3")
    s4: Series[float] = _sensor("s4")
    s5: Series[float] = _sensor("s5")
    s6: Series[float] = _sensor("s6")
    s7: Series[float] = _sensor("s7")
    s8: Series[float] = _sensor("s8")
    s9: Series[float] = _sensor("s9")
    s10: Series[float] = _sensor("s10")
    s11: Series[float] = _sensor("s11")
    s12: Series[float] = _sensor("s12")
    s13: Series[float] = _sensor("s13")
    s14: Series[float] = _sensor("s14")
    s15: Series[float] = _sensor("s15")
    s16: Series[float] = _sensor("s16")
    s17: Series[float] = _sensor("s17")
    s18: Series[float] = _sensor("s18")
    s19: Series[float] = _sensor("s19")
    s20: Series[float] = _sensor("s20")
    s21: Series[float] = _sensor("s21")
    rul: Series[float] = pa.Field(
        ge=0,
        nullable=True,
        description="remaining useful life: operating cycles left before the failure that ends "
        "this engine's run (0 = fails in this cycle); empty = unknown (still running, not "
        "labelled). The target",
    )

    class Config:
        strict = True
        coerce = False
        unique = ["unit", "cycle"]

    @pa.dataframe_check(error="rul does not fall by 1 per cycle within an engine")
    @classmethod
    def one_failure_cycle_per_engine(cls, df: pd.DataFrame) -> pd.Series:
        # rul + cycle is the cycle of failure: one engine fails once.
        per_unit = (
            (df["rul"] + df["cycle"])
            .groupby(df["unit"])
            .transform(lambda s: s.nunique(dropna=True))
        )
        return per_unit <= 1
