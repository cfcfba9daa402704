"""`pilotpack new --rul`: a remaining-life fork from a run-to-failure file (entity, time,
readings, no label column): the remaining life is derived (each entity failed at its last
row), capped, learned from history windows, and the split keeps every entity in one part.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pandas as pd
import yaml

from shared.app.scaffold.infer import REGRESSION_GATES, REGRESSION_MODEL, infer_spec, schema_source
from shared.core.config import ReaderConfig
from shared.core.history import entity_order
from shared.core.io import with_reading
from shared.core.lookalike.spec import FileSpec, spec_to_json

RUL_TARGET = "rul"  # the derived column's name when the file has none


def reader_of(sep: str | None, no_header: bool, names: str | None) -> ReaderConfig:
    """How `new` reads the team's file: `--sep`, `--no-header`, `--names a,b,c`."""
    return with_reading(ReaderConfig(), sep, no_header, names)


def reader_section(reader: ReaderConfig) -> dict[str, Any]:
    """config.yaml's `data.reader`: only what differs from the defaults."""
    return reader.model_dump(exclude_defaults=True)


def with_remaining_life(raw: pd.DataFrame, entity: str, time: str, target: str) -> pd.DataFrame:
    """The file plus the remaining life of each row (last time of its entity - its time), as
    float: the profile then knows the target's range."""
    for column in (entity, time):
        if column not in raw:
            raise ValueError(f"--rul: no column {column!r}; columns are {list(raw.columns)}")
    times = pd.to_numeric(raw[time], errors="coerce")
    if times.isna().any():
        raise ValueError(f"--rul: time column {time!r} must be numbers (cycles), not dates")
    failed_at = np.empty(len(raw))
    order, runs = entity_order(raw[entity].to_numpy(str), times.to_numpy(np.float64))
    for run in runs:
        failed_at[order[run]] = times.to_numpy()[order[run[-1]]]
    if raw.duplicated([entity, time]).any():
        raise ValueError(f"--rul: ({entity}, {time}) repeats: one row per entity and time")
    return raw.assign(**{target: failed_at - times.to_numpy(np.float64)})


def rul_schema_source(spec: Any, target: str, time: str) -> str:
    """The inferred schema with the target optional: a run-to-failure file has no such column
    (it is derived), a labelled export may carry it, empty = still running."""
    source = schema_source(spec)
    line = (
        f"    {target}: Series[float] | None = pa.Field(ge=0, nullable=True, "
        f'description="remaining life, in {time} units: absent = derived (each entity failed '
        'at its last row); empty = still running (target)")'
    )
    pattern = (
        rf"(    # ADAPT: bounds are the observed [^\n]*\n)?    {re.escape(target)}: Series\[[^\n]*"
    )
    return re.sub(pattern, line.replace("\\", "\\\\"), source, count=1)


def rul_data(
    new: Any, raw: pd.DataFrame, reader: ReaderConfig, cap: float
) -> tuple[dict[str, str], str, FileSpec]:
    """config.yaml, wiring.json, profile.json and schema.py of a remaining-life fork, the
    README's line on the model inputs, and the file's profile (with the derived target)."""
    if not (new.id_column and new.time_column):
        raise ValueError("--rul needs --id (the unit) and --time (cycles, a number)")
    target = new.target or RUL_TARGET
    if target not in raw:
        raw = with_remaining_life(raw, new.id_column, new.time_column, target)
    spec = infer_spec(raw, target, new.id_column, new.time_column)
    skip = {new.id_column, new.time_column, target}
    numeric = [c for c in spec.columns if c.name not in skip and c.kind.startswith("numeric")]
    # A constant column has no trend or level to read: left out, named in the config.
    sensors = [c.name for c in numeric if (c.distinct or 0) > 1]
    constant = [c.name for c in numeric if (c.distinct or 0) <= 1]
    if not sensors:
        raise ValueError(f"{new.data.name}: no numeric column that varies, nothing to window")
    wiring = {
        "entity_column": new.id_column,
        "time_column": new.time_column,
        "target_column": target,
        "sensors": sensors,
        "cap": cap,
    }
    entities = raw[new.id_column].nunique()
    body = {
        "settings": wiring | {"windows": [10, 20, 30, 50], "stats": ["mean", "slope"]},
        "data": {
            "path": None,
            "synthetic_rows": 20000,
            "seed": 42,
            "reader": reader_section(reader),
        },
        "quality": {"min_rows": min(1000, len(raw)), "max_duplicate_ids": 0, "required_slices": []},
        "split": {"kind": new.split or "group", "test_size": 0.2, "valid_size": 0.25, "seed": 42},
        "model": REGRESSION_MODEL,
        "gates": REGRESSION_GATES,
        "serving": {"max_records": 2000},
        "kpi": {"over_cost": 2.0, "under_cost": 1.0, "max_mae": None},
    }
    head = (
        f"# {new.name}: written by `pilotpack new --rul` from {new.data.name} ({entities} units).\n"
        f"# The label is min(remaining life, cap): `{target}` is derived when the file has no such\n"
        "# column (each unit failed at its last row: run-to-failure data).\n"
        + (f"# Constant columns, not windowed: {', '.join(constant)}.\n" if constant else "")
        + "# ADAPT: settings (sensors, windows, cap), data.path, gates; kpi: a late estimate\n"
        "# (over) costs more than an early one (under), set both in your money.\n"
    )
    inputs = (
        f"Model inputs: the {new.time_column} and level/trend windows over {len(sensors)} "
        f"sensors of each unit's history; label min({target}, {cap:g})"
    )
    data = {
        "wiring.json": json.dumps(wiring, indent=2, ensure_ascii=False) + "\n",
        "profile.json": spec_to_json(spec),
        "schema.py": rul_schema_source(spec, target, new.time_column),
        "config.yaml": head + yaml.safe_dump(body, sort_keys=False, width=100),
    }
    return data, inputs, spec
