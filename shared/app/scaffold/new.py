"""`pilotpack new`: a use-case folder written from a team's own file.

The code is a template folder (shared/app/scaffold/templates/<family>/), copied as it is:
real Python, linted and tested with the pack. What is particular to the file is data written
beside it: wiring.json (task, columns), profile.json (what the synthetic generator draws
from), schema.py (the inferred pandera schema, one field per line), config.yaml and the
README; kpi.py comes from the --from use case. The result trains, passes the contract suite
and serves with no further edit; the README then lists what a team refines first.
"""

from __future__ import annotations

import json
import keyword
import re
import shutil
import string
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, get_args

import pandas as pd
import yaml

from shared.app.scaffold.infer import (
    REGRESSION_GATES,
    REGRESSION_MODEL,
    Decisions,
    infer_spec,
    schema_source,
)
from shared.app.scaffold.rul import RUL_TARGET, reader_of, reader_section, rul_data
from shared.core.config import SplitConfig, read_yaml
from shared.core.history import snake
from shared.core.io import ReaderConfig, read_table
from shared.core.lookalike.panel import SEASONS, infer_freq
from shared.core.lookalike.spec import FileSpec, spec_to_json
from shared.tasks import get_task

TEMPLATES = Path(__file__).with_name("templates")

# The tasks whose folder can be written from one file.
TABULAR_TASKS = ("binary", "regression")
FORECAST_TASKS = ("forecast",)
HISTORY_TASKS = ("binary_sequence",)


@dataclass(frozen=True)
class Fork:
    """What a fork is made of: a template family's code, its data files, and the kpi.py to
    copy (None: the template's own)."""

    family: str  # a folder of templates/: tabular, forecast or history
    data: dict[str, str]  # file name -> text
    kpi: Path | None


@dataclass(frozen=True)
class NewSpec:
    """What `pilotpack new` was asked for."""

    name: str
    template: str
    data: Path
    target: str
    id_column: str | None = None
    time_column: str | None = None
    sep: str | None = None
    task: str | None = None  # None: from the target (two values: binary, else regression)
    split: str | None = None  # None: time with a time column, else stratified
    id_columns: tuple[str, ...] = ()  # forecasting: the columns that name a series
    holiday_column: str | None = None  # forecasting: a flag known in advance
    no_header: bool = False  # the first line is data (`--names` gives the columns)
    names: str | None = None  # a,b,c: column names of a header-less file
    rul: bool = False  # remaining life from run-to-failure histories (scaffold/rul.py)
    cap: float = 125.0  # --rul: labels are min(remaining life, cap)
    decisions: Decisions = Decisions()  # leaky, dropped and sensitive columns, positive label
    horizon: int | None = None  # forecasting: periods ahead (None: the template's)
    season: int | None = None  # forecasting: periods per cycle (None: from the frequency)
    calendar: Path | None = None  # forecasting: a file of flags known in advance
    calendar_date: str | None = None  # its date column (None: the time column's name)
    currency: str = "eur"  # the suffix of money KPIs (eur or usd)


def columns_option(text: str | None) -> tuple[str, ...]:
    """`a,b , c` -> ("a", "b", "c"); names keep their inner spaces ("Total  day minutes")."""
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


def check_split(new: NewSpec) -> None:
    """A split kind the pack knows, with the column it needs."""
    kinds = get_args(SplitConfig.model_fields["kind"].annotation)
    if new.split is None:
        return
    if new.split not in kinds:
        raise ValueError(f"--split {new.split!r}: one of {', '.join(kinds)}")
    if new.split in ("time", "group_time") and not new.time_column:
        raise ValueError(f"--split {new.split} needs --time (the column that orders rows)")
    if new.split.startswith("group") and not new.id_column:
        raise ValueError(f"--split {new.split} needs --id (the entity kept in one part)")


def check_name(name: str, root: Path) -> None:
    """A new folder name must be a Python identifier and not taken."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or keyword.iskeyword(name):
        raise ValueError(f"use case name {name!r}: use lower-case letters, digits and _")
    if (root / name).exists():
        raise ValueError(f"usecases/{name} exists already: choose another name or remove it")


def feature_columns(
    spec: FileSpec, use_sensitive: tuple[str, ...] = ()
) -> tuple[list[str], list[str]]:
    """Numeric and categorical model inputs: every column but target, id, time, free text,
    leaky and dropped ones, and sensitive ones (sex, age, ...: excluded unless `use_sensitive`
    names them, measured by the fairness report)."""
    skip = {spec.target, spec.id_column, spec.time_column, *spec.leaky, *spec.dropped}
    skip |= {c.name for c in spec.columns if c.sensitive_hint and c.name not in use_sensitive}
    numeric = [c.name for c in spec.columns if c.name not in skip and c.kind.startswith("numeric")]
    categorical = [
        c.name for c in spec.columns if c.name not in skip and c.kind in ("categorical", "boolean")
    ]
    return numeric, categorical


def input_names(columns: list[str]) -> dict[str, str]:
    """Raw column -> model input name that LightGBM and ONNX accept (no spaces or brackets)."""
    out: dict[str, str] = {}
    for c in columns:
        name = snake(c) or "column"
        while name in out.values():
            name += "_"
        out[c] = name
    return out


def tabular_config(
    new: NewSpec, spec: FileSpec, template_cfg: dict[str, Any], label_rate: float | None
) -> str:
    split = new.split or ("time" if new.time_column else "stratified")
    rows = max(2000, min(spec.rows, 8000))
    quality = {
        "min_rows": min(1000, spec.rows),
        "max_duplicate_ids": 0,
        # Without an id, two customers with the same few inputs are identical rows: a handful
        # across parts is chance (1 in 2,000 synthetic rows of a 5-input fork), not a copied
        # record. 0.1 % of the rows; set 0 to stop on any.
        "max_duplicates_across_parts": max(2, rows // 1000),
        "required_slices": [],
    }
    if label_rate is not None:  # the file's rate with room either side
        quality |= {
            "label_rate_min": round(max(label_rate / 3, 0.001), 4),
            "label_rate_max": round(min(1 - (1 - label_rate) / 3, 0.999), 4),
        }
    if label_rate is not None:  # a classifier: the template's candidates, gates and KPIs
        candidates = template_cfg["model"]["candidates"]
        model = {
            "baseline": template_cfg["model"]["baseline"],
            "cv_folds": 3,
            "candidates": candidates,
        }
        gates = template_cfg["gates"] | {"min_roc_auc": 0.6}
        kpi = template_cfg["kpi"]
    else:
        model, gates = REGRESSION_MODEL, REGRESSION_GATES
        kpi = {"over_cost": 1.0, "under_cost": 1.0, "max_mae": None}
    reader = reader_section(reader_of(new.sep, new.no_header, new.names))
    body = {
        "data": {"path": None, "synthetic_rows": rows, "seed": 42, "reader": reader},
        "quality": quality,
        "split": {"kind": split, "test_size": 0.2, "valid_size": 0.25, "seed": 42},
        "model": model,
        "gates": gates,
        "serving": {"max_records": 1000},
        "governance": {
            "risk_level": None,
            "risk_rationale": None,
            "owner": None,
            "intended_use": None,
            "out_of_scope": [],
            "personal_data": None,
            "use_sensitive": list(new.decisions.use_sensitive),
            "limitations": [],
        },
        "fairness": {"gate": "warn"},
        "kpi": kpi,
    }
    head = (
        f"# {new.name}: written by `pilotpack new` from {new.data.name} (template "
        f"{new.template}). Values only; a typo fails the run.\n"
        f"# ADAPT: data.path (null = synthetic rows drawn from the file's profile; train on the\n"
        f"# file itself with `pilotpack train {new.name} --data {new.data}`), the split\n"
        "# (stratified | time | row_order | group | group_time), the gates and every kpi value.\n"
        "# ADAPT: governance: risk_level (EU AI Act: minimal | limited | high | unacceptable),\n"
        "# its rationale and the owner; `pilotpack registry` refuses the use case until both are set.\n"
    )
    return head + yaml.safe_dump(body, sort_keys=False, width=100)


def forecast_config(
    new: NewSpec,
    template_cfg: dict[str, Any],
    freq: str,
    season: int,
    series: int,
    periods: int,
    gaps: bool,
) -> str:
    cfg = template_cfg
    horizon = new.horizon or cfg["backtest"]["horizon"]
    windows = cfg["backtest"].get("windows", 3)
    # Synthetic series long enough for every backtest window, and two seasons of history
    # before the first cut-off (a 14-day horizon x 3 windows needs more than 52 days).
    n_periods = max(
        min(periods, 4 * season + windows * horizon),
        2 * season + (windows + 1) * horizon,
        40,
    )
    cfg["backtest"]["horizon"] = horizon
    # A period missing inside a series (a closed day) is not scored as zero demand by default:
    # set `zero` when a missing row really means no sale.
    cfg["data"]["gaps"] = "missing" if gaps else cfg["data"].get("gaps", "zero")
    cfg["data"] |= {
        "path": None,
        "freq": freq,
        "calendar": str(new.calendar.resolve()) if new.calendar else None,
        "seed": 42,
        "n_series": max(min(series, 60), 10),
        "n_periods": n_periods,
    }
    if reading := reader_section(reader_of(new.sep, new.no_header, new.names)):
        cfg["data"]["reader"] = reading
    cfg["quality"]["min_series"] = min(cfg["quality"].get("min_series", 10), series, 10)
    cfg["quality"]["min_rows"] = min(cfg["quality"].get("min_rows", 1000), 500)
    cfg["backtest"]["season"] = season
    for key in ("theta_season_length", "arima_season_length"):
        if key in cfg["baselines"]:
            cfg["baselines"][key] = season
    cfg["model"]["history_length"] = max(2 * season, 56)
    # The template smooths baselines across a group of its own (Walmart's Dept): a fork keeps
    # that only when the group names one of its series columns.
    smoothing = cfg["baselines"].get("smoothing")
    if smoothing and smoothing.get("group") not in new.id_columns:
        cfg["baselines"]["smoothing"] = None
    cfg["data"] |= calendar_keys(new)
    # Governance describes the team's use, not the template's: left for the team to write.
    cfg["governance"] = {
        k: ([] if isinstance(v, list) else None) for k, v in cfg.get("governance", {}).items()
    }
    head = (
        f"# {new.name}: written by `pilotpack new` from {new.data.name} (template "
        f"{new.template}). Values only; a typo fails the run.\n"
        "# ADAPT: data.path (null = synthetic series drawn from the file's profile), the horizon,\n"
        "# the gaps rule (zero | missing), a calendar file of flags known in advance, every kpi.\n"
    )
    return head + yaml.safe_dump(cfg, sort_keys=False, width=100)


def calendar_keys(new: NewSpec) -> dict[str, str]:
    """The config key naming the calendar's date column, when it is not the time column's name."""
    if new.calendar is None:
        if new.calendar_date:
            raise ValueError("--calendar-date names a column of --calendar FILE: give the file")
        return {}
    if not new.calendar.is_file():
        raise ValueError(f"--calendar {new.calendar}: no such file")
    date = new.calendar_date or new.time_column
    columns = list(read_table(new.calendar, ReaderConfig()).columns)
    if date not in columns:
        raise ValueError(
            f"--calendar {new.calendar.name}: no date column {date!r}; it has {columns} "
            "(name it with --calendar-date)"
        )
    if date == new.time_column:
        return {}
    return {"calendar_date_column": date}  # ForecastDataConfig: the calendar's date column


def forecast_settings(new: NewSpec, freq: str, season: int) -> dict[str, str]:
    """A forecasting fork's decisions, for the README."""
    return {
        "frequency (from the dates)": f"`{freq}`",
        "season (`--season`)": f"{season} periods",
        "horizon (`--horizon`)": f"{new.horizon} periods" if new.horizon else "the template's",
        "calendar (`--calendar`)": f"`{new.calendar}`" if new.calendar else "none",
    }


def tabular_files(new: NewSpec, raw: pd.DataFrame, template: Path) -> Fork:
    """A row-per-record fork (binary or regression): the tabular template's code; a
    classifier keeps the --from use case's decision economics (kpi.py), to adapt."""
    spec = infer_spec(raw, new.target, new.id_column, new.time_column, decisions=new.decisions)
    task = new.task or spec.task_hint
    if task not in TABULAR_TASKS:
        raise ValueError(
            f"`pilotpack new` writes tasks {TABULAR_TASKS + FORECAST_TASKS + HISTORY_TASKS}, "
            f"not {task!r}"
        )
    classifier = get_task(task).classifier
    numeric, categorical = feature_columns(spec, new.decisions.use_sensitive)
    if not numeric and not categorical:
        raise ValueError(f"{new.data.name}: no column besides target/id/time to learn from")
    template_cfg = read_yaml((template / "config.yaml").read_text())
    if classifier and "candidates" not in template_cfg.get("model", {}):
        raise ValueError(f"template {new.template!r} has no classifier config: use churn")
    label_rate = (
        float((raw[new.target].astype(str) == str(spec.positive_label)).mean())
        if classifier
        else None
    )
    names = input_names(numeric + categorical)
    wiring = {
        "task": task,
        "numeric": {c: names[c] for c in numeric},
        "categorical": {c: names[c] for c in categorical},
    }
    rate = f", label rate {label_rate:.1%}" if label_rate is not None else ""
    split = new.split or ("time" if new.time_column else "stratified")
    inputs = f"Model inputs: {len(numeric)} numeric and {len(categorical)} categorical columns"
    return Fork(
        family="tabular",
        data={
            "wiring.json": _json(wiring),
            "profile.json": spec_to_json(spec),
            "schema.py": schema_source(spec),
            "config.yaml": tabular_config(new, spec, template_cfg, label_rate),
            "README.md": readme(new, spec, rate, inputs, {"split (`--split`)": f"`{split}`"}),
        },
        kpi=template / "kpi.py" if classifier else None,
    )


def forecast_files(new: NewSpec, raw: pd.DataFrame, template: Path) -> Fork:
    """A forecasting fork: the forecast template's code, the season from the file's
    frequency, KPIs from the --from use case."""
    if not new.time_column or not new.id_columns:
        raise ValueError("a forecasting fork needs --time and at least one --id (the series key)")
    spec = infer_spec(raw, new.target, None, new.time_column, decisions=new.decisions)
    freq = infer_freq(raw[new.time_column])
    season = new.season or SEASONS[freq]
    template_cfg = read_yaml((template / "config.yaml").read_text())
    if "backtest" not in template_cfg:
        raise ValueError(f"template {new.template!r} is not a forecasting use case")
    keys = list(new.id_columns)
    series = raw.groupby(keys).ngroups
    periods = int(raw.groupby(keys).size().max())
    span = pd.to_datetime(raw[new.time_column]).groupby([raw[k] for k in keys]).agg(["min", "max"])
    days = (span["max"] - span["min"]).dt.days
    months = (span["max"].dt.year - span["min"].dt.year) * 12 + span["max"].dt.month
    months -= span["min"].dt.month
    expected = {"D": days + 1, "W": days // 7 + 1}.get(freq, months + 1)
    gaps = sum(expected) > len(raw)
    wiring = {
        "id_columns": keys,
        "holiday_column": new.holiday_column,
        "freq": freq,
        "season": season,
        "currency": new.currency,
    }
    inputs = (
        f"Frequency {freq}, season {season} periods; model inputs: lags and windows of the target"
    )
    return Fork(
        family="forecast",
        data={
            "wiring.json": _json(wiring),
            "profile.json": spec_to_json(spec),
            "schema.py": schema_source(spec),
            "config.yaml": forecast_config(new, template_cfg, freq, season, series, periods, gaps),
            "README.md": readme(new, spec, "", inputs, forecast_settings(new, freq, season)),
        },
        kpi=None,  # the template's own: money in units of the target, no template wording
    )


def history_files(new: NewSpec, raw: pd.DataFrame, template: Path) -> Fork:
    """A per-entity history fork: shared/core/history.py does the windows and labels; KPIs
    come from the --from use case (predictive_maintenance: the fleet's economics)."""
    if not (new.id_column and new.time_column):
        raise ValueError("a history fork needs --id (the entity) and --time (a number)")
    spec = infer_spec(raw, new.target, new.id_column, new.time_column, decisions=new.decisions)
    skip = {new.id_column, new.time_column, new.target, *spec.leaky, *spec.dropped}
    skip |= {c.name for c in spec.columns if c.sensitive_hint}
    skip -= set(new.decisions.use_sensitive)
    sensors = [c.name for c in spec.columns if c.name not in skip and c.kind.startswith("numeric")]
    if not sensors:
        raise ValueError(f"{new.data.name}: no numeric column to window")
    fleet_cfg = template / "config_fleet.yaml"
    template_cfg = read_yaml(
        (fleet_cfg if fleet_cfg.exists() else template / "config.yaml").read_text()
    )
    wiring = {
        "entity_column": new.id_column,
        "time_column": new.time_column,
        "event_column": new.target,
        "sensors": sensors,
    }
    body = {
        # The columns are wiring.json's alone (features.Settings reads them): one place each.
        "settings": {"windows": [7, 14, 30], "horizon": new.horizon or 14},
        "data": {
            "path": None,
            "synthetic_rows": 20000,
            "seed": 42,
            "reader": reader_section(reader_of(new.sep, new.no_header, new.names)),
        },
        "quality": {
            "min_rows": 1000,
            "label_rate_min": 0.005,
            "label_rate_max": 0.5,
            "max_duplicate_ids": 0,
            "required_slices": [],
        },
        "split": {"kind": new.split or "group", "test_size": 0.25, "valid_size": 0.25, "seed": 42},
        "model": template_cfg["model"],
        "gates": template_cfg["gates"] | {"min_roc_auc": 0.6},
        "serving": {"max_records": 2000},
        "kpi": template_cfg["kpi"],
    }
    head = (
        f"# {new.name}: written by `pilotpack new` from {new.data.name} (template {new.template}).\n"
        "# ADAPT: settings (windows, horizon H; the columns and sensors are wiring.json's),\n"
        "# data.path, gates, every kpi value.\n"
    )
    inputs = f"Model inputs: windows over {len(sensors)} numeric columns of each entity's history"
    return Fork(
        family="history",
        data={
            "wiring.json": _json(wiring),
            "profile.json": spec_to_json(spec),
            "schema.py": schema_source(spec),
            "config.yaml": head + yaml.safe_dump(body, sort_keys=False, width=100),
            "README.md": readme(
                new, spec, "", inputs, {"split (`--split`)": f"`{body['split']['kind']}`"}
            ),
        },
        kpi=template / "kpi.py",
    )


def readme(new: NewSpec, spec: FileSpec, rate: str, inputs: str, settings: dict[str, str]) -> str:
    """The fork's README: the template's text with this file's facts and decisions filled in."""
    text = string.Template((TEMPLATES / "README.md").read_text())
    return text.substitute(
        name=new.name,
        template=new.template,
        data=new.data,
        target=new.target,
        rows=spec.rows,
        rate=rate,
        inputs=inputs,
        id=", ".join(new.id_columns) or new.id_column,
        time=new.time_column,
        command=command_line(new),
        decisions="\n".join(f"- {k}: {v}" for k, v in decided(new, spec, settings).items()),
    )


def decided(new: NewSpec, spec: FileSpec, settings: dict[str, str]) -> dict[str, str]:
    """What the fork's flags (or their defaults) decided, for the README."""
    used = set(new.decisions.use_sensitive)
    left_out = [c.name for c in spec.columns if c.sensitive_hint and c.name not in used]
    out = {
        "leaky, never an input (`--leaky`)": _names(spec.leaky),
        "dropped, never an input (`--drop`)": _names(spec.dropped),
        "sensitive, left out and audited (`--sensitive`)": _names(left_out),
        "sensitive, read by the model (`--use-sensitive`)": _names(sorted(used)),
    }
    if spec.task_hint == "binary" and spec.positive_label is not None:
        out["positive label (`--positive`)"] = f"`{spec.positive_label}`"
    return out | settings


def _names(columns: list[str] | tuple[str, ...]) -> str:
    return ", ".join(f"`{c}`" for c in columns) or "none"


def command_line(new: NewSpec) -> str:
    """The `pilotpack new` command that wrote the fork, flags included (to re-run it)."""
    flags = [f"--from {new.template}", f"--data {new.data}", f"--target {_quote(new.target)}"]
    ids = new.id_columns or ((new.id_column,) if new.id_column else ())
    flags += [f"--id {_quote(c)}" for c in ids]
    pairs = {
        "--time": new.time_column,
        "--sep": new.sep,
        "--task": new.task,
        "--split": new.split,
        "--holiday": new.holiday_column,
        "--leaky": ",".join(new.decisions.leaky),
        "--drop": ",".join(new.decisions.drop),
        "--sensitive": ",".join(new.decisions.sensitive),
        "--use-sensitive": ",".join(new.decisions.use_sensitive),
        "--positive": new.decisions.positive,
        "--horizon": new.horizon,
        "--season": new.season,
        "--calendar": new.calendar,
        "--calendar-date": new.calendar_date,
    }
    flags += [f"{flag} {_quote(str(value))}" for flag, value in pairs.items() if value]
    return f"pilotpack new {new.name} " + " ".join(flags)


def _quote(text: str) -> str:
    """A shell word: quoted when it holds spaces or shell characters."""
    return text if re.fullmatch(r"[\w./:,=+-]+", text) else "'" + text.replace("'", "'\\''") + "'"


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def code_files(family: str) -> list[Path]:
    """The template's Python files, relative to its folder (caches and data left out)."""
    folder = TEMPLATES / family
    return sorted(
        p.relative_to(folder) for p in folder.rglob("*.py") if "__pycache__" not in p.parts
    )


def write_use_case(new: NewSpec, root: Path) -> Path:
    """Write usecases/<name>/ from the file: the family's template copied, its data written
    beside it; returns the folder."""
    check_name(new.name, root)
    check_split(new)
    if new.currency not in ("eur", "usd"):
        raise ValueError(f"--currency {new.currency!r}: eur or usd (the money keys' suffix)")
    template = root / new.template
    if not (template / "usecase.py").exists():
        known = sorted(p.parent.name for p in root.glob("*/usecase.py"))
        raise ValueError(f"unknown template {new.template!r}; templates: {', '.join(known)}")
    reader = reader_of(new.sep, new.no_header, new.names)
    raw = read_table(new.data, reader)
    forecasting = new.task in FORECAST_TASKS or (
        new.task is None and "backtest" in read_yaml((template / "config.yaml").read_text())
    )
    if new.rul:  # before the target-based choices: a run-to-failure file has no target
        data, inputs, spec = rul_data(new, raw, reader, new.cap)
        readme_text = readme(replace(new, target=new.target or RUL_TARGET), spec, "", inputs, {})
        fork = Fork(family="rul", data=data | {"README.md": readme_text}, kpi=None)
    elif forecasting:
        fork = forecast_files(new, raw, template)
    elif new.task in HISTORY_TASKS:
        fork = history_files(new, raw, template)
    else:
        fork = tabular_files(new, raw, template)
    folder = root / new.name
    folder.mkdir(parents=True)
    try:
        for rel in code_files(fork.family):
            if rel.name != "schema.py":  # the template's example: the fork's is inferred
                (folder / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(TEMPLATES / fork.family / rel, folder / rel)
        if fork.kpi is not None:
            shutil.copyfile(fork.kpi, folder / "kpi.py")
        for rel, text in fork.data.items():
            (folder / rel).write_text(text)
        # The inferred schema.py is one field per line: the team's CI lints it like the rest.
        subprocess.run(
            [sys.executable, "-m", "ruff", "format", "--quiet", str(folder)], check=False
        )
    except Exception:
        shutil.rmtree(folder)  # no half-written folder for the registry to trip over
        raise
    return folder
