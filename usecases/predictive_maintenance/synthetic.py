"""Seeded synthetic data in the raw schemas, quirks included.

Snapshot (`make_synthetic`) follows the generating process the AI4I 2020 authors describe:
air temperature drifts around 300 K, process temperature ~10 K above it, speed falls with
torque at roughly constant power, tool wear grows with each operation until the tool is
replaced, and five failure modes with the published rules. Quirks kept: a few failures with no
mode flag, random-failure flags on operations that did not fail, fresh tools (wear 0).

Fleet (`make_synthetic_fleet`) is per-asset daily telemetry: assets start on different days,
degrade towards failure at their own pace, and some are censored (still running at export, or
taken out of service early) so their failure is never seen.

Remaining useful life (`make_synthetic_rul`) follows NASA C-MAPSS FD003: engines run from a
slightly worn start to failure; wear grows slowly, then fast, and moves the sensors in
directions that depend on which of two faults (HPC or fan) the engine has. Quirks kept: constant
sensors, integer-valued bleed enthalpy, engines whose record stops before failure (RUL still
known, as in the C-MAPSS test set) and a few still running (RUL unknown).
"""

import numpy as np
import pandas as pd

from .schema import (
    FLEET_ID_COLUMN,
    FLEET_TARGET,
    FLEET_TIME_COLUMN,
    RUL_COLUMN_NAMES,
    RUL_ID_COLUMN,
    RUL_TARGET,
    RUL_TIME_COLUMN,
    TARGET,
)

WEAR_PER_OPERATION = {"L": 2, "M": 3, "H": 5}
OVERSTRAIN_LIMIT = {"L": 11_000.0, "M": 12_000.0, "H": 13_000.0}  # tool wear x torque, min.Nm


def _random_walk(rng: np.random.Generator, n: int, sd: float, memory: float = 0.99) -> np.ndarray:
    """A slow stationary drift (AR(1) with coefficient `memory`), rescaled to standard deviation `sd`."""
    from scipy.signal import lfilter

    walk = lfilter([1.0], [1.0, -memory], rng.normal(0, 1, n))
    return sd * (walk - walk.mean()) / (walk.std() or 1.0)


def _tool_wear(rng: np.random.Generator, kind: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minutes on the current tool per operation, and where a tool reached its replacement time."""
    wear, replaced = np.zeros(len(kind), dtype=np.int64), np.zeros(len(kind), dtype=bool)
    current, limit = 0, rng.integers(200, 241)
    for i, k in enumerate(kind):
        if current >= limit:
            replaced[i - 1] = True  # the tool was swapped (or broke) after the previous operation
            current, limit = 0, rng.integers(200, 241)
        wear[i] = current
        current += WEAR_PER_OPERATION[k]
    return wear, replaced


def make_synthetic(n: int = 10_000, seed: int = 42) -> pd.DataFrame:
    """About 3-4 % failures, driven by heat dissipation, power, overstrain and tool wear."""
    rng = np.random.default_rng(seed)
    kind = rng.choice(np.array(["L", "M", "H"], dtype=object), size=n, p=[0.6, 0.3, 0.1])
    air = (300 + _random_walk(rng, n, 2.0)).round(1)
    process = (air + 10 + _random_walk(rng, n, 1.0)).round(1)
    torque = rng.normal(40, 9.3, n).clip(3.8, 76.6).round(1)
    speed = (1538 - 15.8 * (torque - 40) + rng.normal(0, 80, n)).clip(1168, 2886).round()
    wear, replaced = _tool_wear(rng, kind)
    power = torque * speed * 2 * np.pi / 60

    twf = replaced & (rng.random(n) < 0.45)  # a tool that broke rather than being swapped
    hdf = (process - air < 8.6) & (speed < 1380)
    pwf = (power < 3500) | (power > 9000)
    osf = wear * torque > np.vectorize(OVERSTRAIN_LIMIT.get)(kind)
    rnf = rng.random(n) < 0.002
    failure = twf | hdf | pwf | osf | (rnf & (rng.random(n) < 0.1))
    # Quirk of the real file: a few failures carry no failure-mode flag at all.
    failure |= rng.random(n) < 0.001

    serial = rng.permutation(np.arange(10_000, 10_000 + max(n, 90_000)))[:n]
    flags = {"TWF": twf, "HDF": hdf, "PWF": pwf, "OSF": osf, "RNF": rnf}
    return pd.DataFrame(
        {
            "UDI": np.arange(1, n + 1, dtype=np.int64),
            "Product ID": [f"{k}{s}" for k, s in zip(kind, serial, strict=True)],
            "Type": kind,
            "Air temperature [K]": air,
            "Process temperature [K]": process,
            "Rotational speed [rpm]": speed.astype(np.int64),
            "Torque [Nm]": torque,
            "Tool wear [min]": wear,
            TARGET: failure.astype(np.int64),
            **{name: flag.astype(np.int64) for name, flag in flags.items()},
        }
    )


def _asset(rng: np.random.Generator, name: str, start: int, export_day: int) -> pd.DataFrame:
    """One asset's daily readings from its start until failure, retirement or export."""
    life = int(rng.weibull(2.5) * 220 + 60)  # days until it would fail
    stop = life
    if rng.random() < 0.12:  # taken out of service early (planned overhaul): censored
        stop = int(rng.integers(20, life))
    last = min(stop, export_day - start)  # still running at export: censored
    cycle = np.arange(1, last + 1)
    wear = (cycle / life) ** rng.uniform(2.0, 4.0)  # 0 when new, 1 at failure
    noise = lambda sd: rng.normal(0, sd, len(cycle))  # noqa: E731
    temp = rng.normal(60, 3) + 18 * wear + noise(1.5)
    spikes = rng.random(len(cycle)) < 0.01  # sensor glitches: single-reading spikes
    temp[spikes] += rng.normal(0, 12, spikes.sum())
    vibration = rng.normal(2.5, 0.4) * (1 + 1.8 * wear**2) + noise(0.35)
    pressure = rng.normal(12, 0.8) - 3.0 * wear + noise(0.5)
    current = rng.normal(30, 2) + 4 * wear + noise(1.5)  # weak signal under load noise
    failed = last == life
    return pd.DataFrame(
        {
            FLEET_ID_COLUMN: name,
            FLEET_TIME_COLUMN: (start + cycle - 1).astype(np.int64),
            "cycle": cycle.astype(np.int64),
            "temperature_c": temp.clip(-50, 250).round(2),
            "vibration_mm_s": vibration.clip(0, 100).round(3),
            "pressure_bar": pressure.clip(0, 100).round(3),
            "current_a": current.clip(0, 1000).round(2),
            FLEET_TARGET: float(start + life - 1) if failed else np.nan,
        }
    )


def make_synthetic_fleet(n: int = 40_000, seed: int = 42) -> pd.DataFrame:
    """Exactly `n` daily readings from as many assets as it takes; the last asset is cut short."""
    rng = np.random.default_rng(seed)
    export_day = 730
    parts, rows, i = [], 0, 0
    while rows < n:
        i += 1
        part = _asset(rng, f"A{i:04d}", int(rng.integers(0, export_day - 30)), export_day)
        parts.append(part)
        rows += len(part)
    fleet = pd.concat(parts, ignore_index=True).iloc[:n].copy()
    cut = parts[-1][FLEET_ID_COLUMN].iloc[0]
    # The cut-off asset's readings end early: its failure, if any, is not in the data.
    fleet.loc[fleet[FLEET_ID_COLUMN] == cut, FLEET_TARGET] = np.nan
    return fleet.reset_index(drop=True)


# Per sensor: mean and std in the real FD003 test file, decimals written, and the shift at
# failure in real-file stds for the HPC fault and for the fan fault. The two faults move some
# sensors in opposite directions (s7, s12, s20, s21 ...), as in FD003.
RUL_SENSOR_MODEL: dict[str, tuple[float, float, int, float, float]] = {
    "s2": (642.268, 0.419, 2, 3.0, 3.0),
    "s3": (1585.608, 5.539, 2, 3.0, 3.0),
    "s4": (1400.568, 7.150, 2, 4.0, 4.0),
    "s6": (21.594, 0.017, 2, 0.0, 0.0),
    "s7": (554.555, 2.236, 2, -4.0, 4.0),
    "s8": (2388.021, 0.150, 2, 3.0, -1.0),
    "s9": (9056.274, 12.002, 2, 3.0, 6.0),
    "s10": (1.3005, 0.0021, 2, 0.0, 3.0),
    "s11": (47.291, 0.217, 2, 4.0, -2.0),
    "s12": (522.467, 2.113, 2, -4.0, 4.0),
    "s13": (2388.021, 0.150, 2, 3.0, -1.0),
    "s14": (8138.327, 9.974, 2, 2.0, 6.0),
    "s15": (8.3950, 0.0413, 4, 3.0, -3.0),
    "s17": (391.900, 1.391, 0, 3.0, 3.0),
    "s20": (38.997, 0.175, 2, -3.0, 3.0),
    "s21": (23.3989, 0.1054, 4, -3.0, 3.0),
}
# Constant in a single operating condition (the real file's values).
RUL_CONSTANTS = {"s1": 518.67, "s5": 14.62, "s16": 0.03, "s18": 2388.0, "s19": 100.0}


def _engine(rng: np.random.Generator, unit: int) -> pd.DataFrame:
    """One engine's cycles from the start of its run to failure or to the end of its record."""
    life = int(rng.integers(120, 351))  # cycle in which it fails
    last, known = life, True
    quirk = rng.random()
    if quirk < 0.10:  # the record stops early (data export, sensor outage): RUL still known
        last = int(rng.integers(int(0.3 * life), int(0.9 * life)))
    elif quirk < 0.15:  # still running when exported: nobody knows its RUL yet
        last, known = int(rng.integers(int(0.3 * life), life)), False
    cycle = np.arange(1, last + 1)
    # Wear: ~0 for most of the life, then exponential growth; 1 at failure.
    steep = rng.uniform(3.0, 6.0)
    wear = np.expm1(steep * cycle / life) / np.expm1(steep)
    fan_fault = rng.random() < 0.5
    severity = rng.uniform(0.7, 1.3)
    cols: dict[str, object] = {
        RUL_ID_COLUMN: unit,
        RUL_TIME_COLUMN: cycle.astype(np.int64),
        "setting_1": rng.normal(0, 0.0022, last).round(4),
        "setting_2": rng.normal(0, 0.0003, last).round(4),
        "setting_3": 100.0,
    }
    for name, (mean, sd, decimals, hpc, fan) in RUL_SENSOR_MODEL.items():
        start = rng.normal(0, 0.5 * sd)  # manufacturing variation and initial wear
        shift = (fan if fan_fault else hpc) * sd * severity * wear
        value = mean + start + shift + rng.normal(0, 0.5 * sd, last)
        cols[name] = value.round(decimals)
    cols.update(RUL_CONSTANTS)
    cols[RUL_TARGET] = (life - cycle).astype(np.float64) if known else np.nan
    return pd.DataFrame(cols)[[*RUL_COLUMN_NAMES, RUL_TARGET]]


def make_synthetic_rul(n: int = 20_000, seed: int = 42) -> pd.DataFrame:
    """Exactly `n` cycles from as many engines as it takes; the last engine's record is cut short
    (its RUL stays known). Ordered by engine, then cycle."""
    rng = np.random.default_rng(seed)
    parts, rows = [], 0
    while rows < n:
        part = _engine(rng, len(parts) + 1)
        parts.append(part)
        rows += len(part)
    return pd.concat(parts, ignore_index=True).iloc[:n].reset_index(drop=True)
