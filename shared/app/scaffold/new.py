"""`pilotpack new`: a use-case folder written from a team's own file.

The schema is inferred from the file (types, allowed values, ranges with margin, nullable),
the synthetic generator draws from the file's profile (profile.json, no hand-written
generator), config and KPIs come from the template with `# ADAPT:` marks, and the folder's
tests import the new use case. The result trains, passes the contract suite and serves with
no further edit; the README then lists what a team refines first.
"""

from __future__ import annotations

import keyword
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# The tasks whose folder can be written from one file.
TABULAR_TASKS = ("binary", "regression")
FORECAST_TASKS = ("forecast",)
HISTORY_TASKS = ("binary_sequence",)


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


def check_name(name: str, root: Path) -> None:
    """A new folder name must be a Python identifier and not taken."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or keyword.iskeyword(name):
        raise ValueError(f"use case name {name!r}: use lower-case letters, digits and _")
    if (root / name).exists():
        raise ValueError(f"usecases/{name} exists already: choose another name or remove it")


def feature_columns(spec: Any) -> tuple[list[str], list[str]]:
    """Numeric and categorical model inputs: every column but target, id, time, free text and
    likely sensitive ones (sex, age, ...: excluded by default, measured by the fairness report)."""
    skip = {spec.target, spec.id_column, spec.time_column}
    skip |= {c.name for c in spec.columns if c.sensitive_hint}
    numeric = [c.name for c in spec.columns if c.name not in skip and c.kind.startswith("numeric")]
    categorical = [
        c.name for c in spec.columns if c.name not in skip and c.kind in ("categorical", "boolean")
    ]
    return numeric, categorical


def input_names(columns: list[str]) -> dict[str, str]:
    """Raw column -> model input name that LightGBM and ONNX accept (no spaces or brackets)."""
    from shared.core.history import snake

    out: dict[str, str] = {}
    for c in columns:
        name = snake(c) or "column"
        while name in out.values():
            name += "_"
        out[c] = name
    return out


def render_features(numeric: list[str], categorical: list[str]) -> str:
    names = input_names(numeric + categorical)
    num = {c: names[c] for c in numeric}
    cat = {c: names[c] for c in categorical}
    return f'''"""Model inputs from raw rows: row-wise, no fitting, no I/O; the same code in training and
serving. Written by `pilotpack new` from the file's columns."""

import numpy as np

from shared.core.usecase import Columns, Features

# ADAPT: drop columns that are known only after the outcome (list them in schema.py's
# LEAKY_COLUMNS), and add derived features (ratios, counts, dates) below, named in model.py.
# Raw column -> model input name (ONNX input names cannot hold spaces or brackets).
NUMERIC_COLUMNS = {num!r}
CATEGORICAL_COLUMNS = {cat!r}
MISSING = "missing"


def to_number(values: object) -> np.ndarray:
    """Numbers, or text holding numbers -> float; blanks and other text become NaN."""
    arr = np.asarray(values, dtype=object)
    try:
        return arr.astype(np.float64)
    except (TypeError, ValueError):
        return np.array([_number(v) for v in arr], dtype=np.float64)


def _number(v: object) -> float:
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")


def to_category(values: object) -> np.ndarray:
    """Text categories; missing values become their own category (ONNX cannot impute text)."""
    return np.array(
        [MISSING if v is None or (isinstance(v, float) and v != v) else str(v) for v in values],
        dtype=object,
    )


def build_features(raw: Columns) -> Features:
    """One array per model input; the input is not modified."""
    out: Features = {{name: to_number(raw[c]) for c, name in NUMERIC_COLUMNS.items()}}
    out |= {{name: to_category(raw[c]) for c, name in CATEGORICAL_COLUMNS.items()}}
    return out
'''


def render_model(classifier: bool) -> str:
    maker = "make_tabular_classifier" if classifier else "make_tabular_regressor"
    return f'''"""Everything that learns from data: one scikit-learn Pipeline, converted whole to ONNX."""

from typing import Any

from shared.core.config import ModelParams
from shared.core.models import {maker}

from .features import CATEGORICAL_COLUMNS, NUMERIC_COLUMNS

NUMERIC = tuple(NUMERIC_COLUMNS.values())
CATEGORICAL = tuple(CATEGORICAL_COLUMNS.values())


def make_model(params: ModelParams) -> Any:
    # ADAPT: a different model family goes here, as long as skl2onnx can convert it.
    return {maker}(params, NUMERIC, CATEGORICAL)
'''


def render_schema(spec: Any, source: str) -> str:
    pos = spec.positive_label
    constants = f"""
TARGET = {spec.target!r}
POSITIVE_LABEL = {pos!r}  # ADAPT: the target value that counts as the event
ID_COLUMN = {spec.id_column!r}
TIME_COLUMN = {spec.time_column!r}
# ADAPT: columns known only after the outcome (a cancellation reason, a sales rep's
# disposition): they stay in the schema, never reach the features. Say why in a comment.
LEAKY_COLUMNS: tuple[str, ...] = ()
"""
    return source.rstrip() + "\n" + constants


def render_synthetic(name: str) -> str:
    return f'''"""Seeded synthetic rows in the raw format of {name}'s file, drawn from its profile.

profile.json holds each column's type, allowed values, quantiles and missing share, as
`pilotpack new` measured them; the target carries a learnable signal at the file's label
rate. ADAPT: a hand-written generator with the real drivers makes better behavioural tests.
"""

from pathlib import Path

import pandas as pd

from shared.app.scaffold.infer import spec_from_json
from shared.app.scaffold.synth import make_synthetic_from_spec

PROFILE = Path(__file__).with_name("profile.json")


def make_synthetic(n: int = 5000, seed: int = 42) -> pd.DataFrame:
    return make_synthetic_from_spec(spec_from_json(PROFILE.read_text()), n, seed)
'''


REGRESSION_KPI = '''"""Forecast-error economics of a predicted number.

Business assumption: each unit predicted too high costs `over_cost`, each unit too low
`under_cost` (e.g. over-stock vs lost sales); both come from config.yaml. ADAPT: the cost
of an error in your business, and the gate on it.
"""

import numpy as np

from shared.core.config import Strict


class KpiConfig(Strict):
    over_cost: float = 1.0  # ADAPT: cost of one unit predicted too high
    under_cost: float = 1.0  # ADAPT: cost of one unit predicted too low
    max_mae: float | None = None  # ADAPT: a gate on the mean absolute error, in target units


def compute_kpis(y_true: np.ndarray, pred: np.ndarray, cfg: KpiConfig) -> dict[str, float]:
    """Error cost of the predictions against predicting the mean; money keys end in _eur."""
    over = np.clip(pred - y_true, 0, None)
    under = np.clip(y_true - pred, 0, None)
    cost = float(cfg.over_cost * over.sum() + cfg.under_cost * under.sum())
    flat = np.full(len(y_true), float(np.mean(y_true)) if len(y_true) else 0.0)
    flat_cost = float(
        cfg.over_cost * np.clip(flat - y_true, 0, None).sum()
        + cfg.under_cost * np.clip(y_true - flat, 0, None).sum()
    )
    return {
        "error_cost_eur": cost,
        "error_cost_predict_mean_eur": flat_cost,
        "savings_vs_mean_eur": flat_cost - cost,
        "mae": float(np.mean(np.abs(pred - y_true))) if len(y_true) else 0.0,
    }


def kpi_gates(kpis: dict[str, float], cfg: KpiConfig) -> list[str]:
    """Every failed business gate as a sentence."""
    reasons = []
    if kpis["savings_vs_mean_eur"] <= 0:
        reasons.append("the model's error cost is not below predicting the mean")
    if cfg.max_mae is not None and kpis["mae"] > cfg.max_mae:
        reasons.append(f"MAE {kpis['mae']:.3f} is above the gate {cfg.max_mae}")
    return reasons
'''


def render_usecase(new: NewSpec, task: str, classifier: bool) -> str:
    kpi_names = ["KpiConfig", "compute_kpis", "kpi_gates"] + (["profit"] if classifier else [])
    schema_names = ["ID_COLUMN", "LEAKY_COLUMNS", "TARGET", "RawSchema"]
    args = ["    id_column=ID_COLUMN,"]
    if classifier:
        schema_names.insert(2, "POSITIVE_LABEL")
        args += ["    positive_label=POSITIVE_LABEL,", "    profit=profit,"]
    if new.time_column:
        schema_names.insert(-1, "TIME_COLUMN")
        args.append("    time_column=TIME_COLUMN,")
    extra = "\n".join(args)
    return f'''"""{new.name}: ADAPT: the business question this model answers, ending with "?"
Written by `pilotpack new` from {new.data.name}: one row per record, target `{new.target}`."""

from shared.core.usecase import UseCase
from shared.tasks import get_task

from .features import build_features
from .kpi import {", ".join(kpi_names)}
from .model import CATEGORICAL, NUMERIC, make_model
from .schema import {", ".join(schema_names)}
from .synthetic import make_synthetic

USE_CASE = UseCase(
    question=__doc__,
    task=get_task({task!r}),
    raw_schema=RawSchema,
    target=TARGET,
    leaky_columns=LEAKY_COLUMNS,
    build_features=build_features,
    numeric_features=NUMERIC,
    categorical_features=CATEGORICAL,
    make_model=make_model,
    kpi_config=KpiConfig,
    compute_kpis=compute_kpis,
    kpi_gates=kpi_gates,
    make_synthetic=make_synthetic,
{extra}
)
'''


def render_config(
    new: NewSpec, spec: Any, template_cfg: dict[str, Any], label_rate: float | None
) -> str:
    split = new.split or ("time" if new.time_column else "stratified")
    rows = max(2000, min(spec.rows, 8000))
    quality = {"min_rows": min(1000, spec.rows), "max_duplicate_ids": 0, "required_slices": []}
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
        model = {
            "baseline": "ridge",
            "cv_folds": 3,
            "candidates": [
                {
                    "name": "lightgbm",
                    "params": {
                        "kind": "lightgbm",
                        "n_estimators": 300,
                        "learning_rate": 0.05,
                        "num_leaves": 15,
                        "min_child_samples": 20,
                    },
                    "grid": {"num_leaves": [7, 15]},
                },
                {"name": "ridge", "params": {"kind": "ridge", "alpha": 1.0}},
            ],
        }
        gates = {"baseline_alpha": 0.05, "n_bootstrap": 300, "max_parity_diff": 1.0e-3}
        kpi = {"over_cost": 1.0, "under_cost": 1.0, "max_mae": None}
    reader: dict[str, Any] = {"sep": new.sep} if new.sep else {}
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
            "use_sensitive": [],
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


def render_readme(
    new: NewSpec, spec: Any, label_rate: float | None, numeric: list[str], cat: list[str]
) -> str:
    rate = f", label rate {label_rate:.1%}" if label_rate is not None else ""
    return f"""# {new.name}

**Business question.** ADAPT: one or two sentences, ending with a question mark (also in
`usecase.py`'s docstring, which `pilotpack list` shows).

## Data

Written by `pilotpack new {new.name} --from {new.template} --data {new.data} --target {new.target}`
from a file of {spec.rows} rows{rate}. `schema.py` was inferred from it: types, allowed values
of low-cardinality columns, ranges widened by a margin, nullable columns. Model inputs:
{len(numeric)} numeric and {len(cat)} categorical columns (`features.py`); id `{new.id_column}`,
time `{new.time_column}`, target `{new.target}` are never inputs. `synthetic.py` draws rows
from the file's profile (`profile.json`), so tests and the demo never need the file itself.

## Adapting this to your data

1. `usecase.py` / this README: the business question.
2. `schema.py`: check each inferred rule (`# ADAPT` marks the bounds), list columns known only
   after the outcome in `LEAKY_COLUMNS` with the reason, mark sensitive columns.
3. `features.py`: drop leaky columns from the inputs, add derived features.
4. `kpi.py` + `config.yaml` `kpi:`: the money of a decision (copied from `{new.template}`).
5. `config.yaml`: split kind, gates; `data.reader` if your file is not comma-separated.
6. Train on the file: `.venv/bin/pilotpack train {new.name} --data {new.data}`, then read
   `reports/{new.name}/report.md`; experiments that must not be served: `--no-register`.
7. Serve: `.venv/bin/bentoml serve shared.serve.services:{new.name}` (POST /predict).
8. Tests: `.venv/bin/pytest usecases/{new.name}` (the contract suite in `tests/` runs on this
   folder too).
"""


def render_tests(new: NewSpec, task: str, classifier: bool) -> str:
    metric = "roc_auc" if classifier else "rmse"
    return f'''"""Tests of the {new.name} use case (written by `pilotpack new`; add domain tests here)."""

import numpy as np

from shared.core.usecase import get_use_case
from shared.ops.training import train
from usecases.{new.name}.usecase import USE_CASE

UC = get_use_case("{new.name}")
FAST = ["gates.n_bootstrap=100", "model.cv_folds=2", "data.synthetic_rows=2000"]


def test_registered_from_its_folder():
    assert UC.name == "{new.name}" and UC.task.name == USE_CASE.task.name == "{task}"
    assert UC.target == "{new.target}"


def test_synthetic_rows_validate():
    uc, cfg = UC, UC.load_config(FAST)
    raw = uc.make_synthetic(cfg.data.synthetic_rows, cfg.data.seed)
    assert uc.task.validate(uc, cfg, raw).ok


def test_trains_on_synthetic_rows_with_onnx_parity():
    overrides = FAST + [
        f"model.candidates.{{i}}.grid={{{{}}}}" for i in range(len(UC.load_config().model.candidates))
    ]
    result = train(UC, UC.load_config(overrides), overrides=overrides, track=False)
    assert result.parity.ok
    assert np.isfinite(result.metrics["{metric}"])
'''


def render_forecast_schema(new: NewSpec, source: str) -> str:
    return (
        source.rstrip()
        + f"""

TARGET = {new.target!r}
ID_COLUMNS = {tuple(new.id_columns)!r}  # together they name one series
TIME_COLUMN = {new.time_column!r}
HOLIDAY_COLUMN = {new.holiday_column!r}  # ADAPT: a flag known in advance (holidays, promotions)
"""
    )


def render_forecast_usecase(new: NewSpec) -> str:
    return f'''"""{new.name}: ADAPT: the business question this forecast answers, ending with "?"
Written by `pilotpack new` from {new.data.name}: one row per series and period, target
`{new.target}`."""

from shared.core.usecase import ForecastWiring, UseCase
from shared.tasks import get_task

from .features import build_features
from .kpi import KpiConfig, compute_kpis, kpi_gates
from .model import FEATURES, make_model
from .schema import HOLIDAY_COLUMN, ID_COLUMNS, TARGET, TIME_COLUMN, RawSchema
from .synthetic import make_synthetic

USE_CASE = UseCase(
    question=__doc__,
    task=get_task("forecast"),
    raw_schema=RawSchema,
    target=TARGET,
    time_column=TIME_COLUMN,
    build_features=build_features,
    forecast=ForecastWiring(
        id_columns=ID_COLUMNS, holiday_column=HOLIDAY_COLUMN, feature_names=FEATURES
    ),
    make_model=make_model,
    kpi_config=KpiConfig,
    compute_kpis=compute_kpis,
    kpi_gates=kpi_gates,
    make_synthetic=make_synthetic,
)
'''


def render_forecast_synthetic(new: NewSpec, freq: str, season: int) -> str:
    return f'''"""Seeded series in the raw format of {new.name}'s file, drawn from its profile.

profile.json holds the file's columns as `pilotpack new` measured them; each series gets a
level from the target's distribution, a trend, a {season}-period rhythm and noise.
ADAPT: a hand-written generator with your demand's real drivers makes better tests.
"""

from pathlib import Path

import pandas as pd

from shared.app.scaffold.infer import spec_from_json
from shared.app.scaffold.panel import make_panel_from_spec

from .schema import ID_COLUMNS

PROFILE = Path(__file__).with_name("profile.json")


def make_synthetic(n_series: int = 60, n_periods: int = 120, seed: int = 42) -> pd.DataFrame:
    spec = spec_from_json(PROFILE.read_text())
    return make_panel_from_spec(spec, list(ID_COLUMNS), {freq!r}, {season}, n_series, n_periods, seed)
'''


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
    horizon = cfg["backtest"]["horizon"]
    n_periods = max(min(periods, 4 * season + 3 * horizon), 2 * season + 4 * horizon, 40)
    # A period missing inside a series (a closed day) is not scored as zero demand by default:
    # set `zero` when a missing row really means no sale.
    cfg["data"]["gaps"] = "missing" if gaps else cfg["data"].get("gaps", "zero")
    cfg["data"] |= {
        "path": None,
        "freq": freq,
        "calendar": None,
        "seed": 42,
        "n_series": max(min(series, 60), 10),
        "n_periods": n_periods,
    }
    if new.sep:
        cfg["data"]["reader"] = {"sep": new.sep}
    cfg["quality"]["min_series"] = min(cfg["quality"].get("min_series", 10), series, 10)
    cfg["quality"]["min_rows"] = min(cfg["quality"].get("min_rows", 1000), 500)
    cfg["backtest"]["season"] = season
    for key in ("theta_season_length", "arima_season_length"):
        if key in cfg["baselines"]:
            cfg["baselines"][key] = season
    cfg["model"]["history_length"] = max(2 * season, 56)
    head = (
        f"# {new.name}: written by `pilotpack new` from {new.data.name} (template "
        f"{new.template}). Values only; a typo fails the run.\n"
        "# ADAPT: data.path (null = synthetic series drawn from the file's profile), the horizon,\n"
        "# the gaps rule (zero | missing), a calendar file of flags known in advance, every kpi.\n"
    )
    return head + yaml.safe_dump(cfg, sort_keys=False, width=100)


def write_forecast_files(new: NewSpec, raw: Any, template: Path) -> dict[str, str]:
    """The files of a forecasting fork: features, model and KPIs from the template, the
    season set from the file's frequency."""
    import pandas as pd

    from shared.app.scaffold.infer import infer_spec, schema_source, spec_to_json
    from shared.app.scaffold.panel import SEASONS, infer_freq

    if not new.time_column or not new.id_columns:
        raise ValueError("a forecasting fork needs --time and at least one --id (the series key)")
    spec = infer_spec(raw, new.target, None, new.time_column)
    freq = infer_freq(raw[new.time_column])
    season = SEASONS[freq]
    template_cfg = yaml.safe_load((template / "config.yaml").read_text())
    if "backtest" not in template_cfg:
        raise ValueError(f"template {new.template!r} is not a forecasting use case")
    features = (template / "features.py").read_text()
    features = re.sub(
        r"^SEASON = \d+.*$",
        f"SEASON = {season}  # ADAPT: periods per cycle ({freq} data)",
        features,
        flags=re.M,
    )
    keys = list(new.id_columns)
    series = raw.groupby(keys).ngroups
    periods = int(raw.groupby(keys).size().max())
    span = pd.to_datetime(raw[new.time_column]).groupby([raw[k] for k in keys]).agg(["min", "max"])
    days = (span["max"] - span["min"]).dt.days
    months = (span["max"].dt.year - span["min"].dt.year) * 12 + span["max"].dt.month
    months -= span["min"].dt.month
    expected = {"D": days + 1, "W": days // 7 + 1}.get(freq, months + 1)
    gaps = sum(expected) > len(raw)
    return {
        "usecase.py": render_forecast_usecase(new),
        "schema.py": render_forecast_schema(new, schema_source(spec)),
        "features.py": features,
        "model.py": (template / "model.py").read_text(),
        "kpi.py": (template / "kpi.py").read_text(),
        "synthetic.py": render_forecast_synthetic(new, freq, season),
        "profile.json": spec_to_json(spec),
        "config.yaml": forecast_config(new, template_cfg, freq, season, series, periods, gaps),
        "README.md": render_readme(new, spec, None, [], []).replace(
            "Model inputs:", f"Frequency {freq}, season {season} periods; model inputs:"
        ),
        "tests/test_usecase.py": render_forecast_tests(new),
    }


def render_forecast_tests(new: NewSpec) -> str:
    return f'''"""Tests of the {new.name} forecasting use case (written by `pilotpack new`)."""

from shared.core.usecase import get_use_case
from usecases.{new.name}.usecase import USE_CASE

UC = get_use_case("{new.name}")


def test_registered_from_its_folder():
    assert UC.name == "{new.name}" and UC.task.name == USE_CASE.task.name == "forecast"
    assert UC.forecast.id_columns == {tuple(new.id_columns)!r}


def test_synthetic_series_validate():
    cfg = UC.load_config()
    raw, _ = UC.task.synthetic(UC, cfg)
    assert UC.task.validate(UC, cfg, raw).ok
'''


def tabular_files(new: NewSpec, raw: Any, template: Path) -> dict[str, str]:
    """The files of a row-per-record fork (binary or regression)."""
    from shared.app.scaffold.infer import infer_spec, schema_source, spec_to_json
    from shared.tasks import get_task

    spec = infer_spec(raw, new.target, new.id_column, new.time_column)
    task = new.task or spec.task_hint
    if task not in TABULAR_TASKS:
        raise ValueError(
            f"`pilotpack new` writes tasks {TABULAR_TASKS + FORECAST_TASKS + HISTORY_TASKS}, "
            f"not {task!r}"
        )
    classifier = get_task(task).classifier
    numeric, categorical = feature_columns(spec)
    if not numeric and not categorical:
        raise ValueError(f"{new.data.name}: no column besides target/id/time to learn from")
    template_cfg = yaml.safe_load((template / "config.yaml").read_text())
    if classifier and "candidates" not in template_cfg.get("model", {}):
        raise ValueError(f"template {new.template!r} has no classifier config: use churn")
    label_rate = (
        float((raw[new.target].astype(str) == str(spec.positive_label)).mean())
        if classifier
        else None
    )
    return {
        "usecase.py": render_usecase(new, task, classifier),
        "schema.py": render_schema(spec, schema_source(spec)),
        "features.py": render_features(numeric, categorical),
        "model.py": render_model(classifier),
        "synthetic.py": render_synthetic(new.name),
        "profile.json": spec_to_json(spec),
        "config.yaml": render_config(new, spec, template_cfg, label_rate),
        "README.md": render_readme(new, spec, label_rate, numeric, categorical),
        "tests/test_usecase.py": render_tests(new, task, classifier),
        # A classifier keeps the template's decision economics, to adapt.
        "kpi.py": (template / "kpi.py").read_text() if classifier else REGRESSION_KPI,
    }


def render_history_features(new: NewSpec, sensors: list[str]) -> str:
    return f'''"""Model inputs from each entity's own history (shared/core/history.py): per sensor its last
value and mean/std/min/max/slope over the last rows, looking backwards only; the label is
"the event within the next H time units". Written by `pilotpack new`."""

from shared.core.history import HistorySettings


class Settings(HistorySettings):
    """The `settings:` section of config.yaml, with this file's columns as defaults."""

    entity_column: str = {new.id_column!r}
    time_column: str = {new.time_column!r}
    event_column: str = {new.target!r}  # time of the event; empty while it has not happened
    # ADAPT: the numeric columns worth windowing, the windows and the horizon H.
    sensors: list[str] = {sensors!r}
'''


def render_history_usecase(new: NewSpec) -> str:
    return f'''"""{new.name}: ADAPT: the business question, ending with "?" Written by `pilotpack new` from
{new.data.name}: rows per entity over time; label = `{new.target}` within the next H units."""

from dataclasses import replace
from functools import partial

from shared.core.history import check_columns, event_labels, history_features
from shared.core.usecase import UseCase
from shared.tasks import get_task

from .features import Settings
from .kpi import KpiConfig, compute_kpis, kpi_gates, profit
from .model import make_model
from .schema import ID_COLUMN, LEAKY_COLUMNS, TARGET, TIME_COLUMN, RawSchema
from .synthetic import make_synthetic


def configure(uc: UseCase, settings: Settings) -> UseCase:
    """Columns, windows and horizon from config.yaml's `settings:`."""
    check_columns(settings, list(RawSchema.to_schema().columns), "config.yaml")
    numeric = settings.feature_names()
    return replace(
        uc,
        target=settings.event_column,
        id_column=settings.entity_column,
        time_column=settings.time_column,
        build_features=partial(history_features, s=settings),
        make_labels=partial(event_labels, s=settings),
        numeric_features=numeric,
        make_model=partial(make_model, numeric=numeric),
    )


USE_CASE = configure(
    UseCase(
        question=__doc__,
        task=get_task("binary_sequence"),
        raw_schema=RawSchema,
        target=TARGET,
        id_column=ID_COLUMN,
        time_column=TIME_COLUMN,
        leaky_columns=LEAKY_COLUMNS,
        history=True,
        build_features=partial(history_features, s=Settings()),
        make_model=make_model,
        kpi_config=KpiConfig,
        profit=profit,
        compute_kpis=compute_kpis,
        kpi_gates=kpi_gates,
        make_synthetic=make_synthetic,
        settings_model=Settings,
        configure=configure,
    ),
    Settings(),
)
'''


HISTORY_MODEL = '''"""Everything that learns from data: one scikit-learn Pipeline, converted whole to ONNX."""

from collections.abc import Sequence
from typing import Any

from shared.core.config import ModelParams
from shared.core.models import make_tabular_classifier


def make_model(params: ModelParams, numeric: Sequence[str] = ()) -> Any:
    # ADAPT: a different model family goes here, as long as skl2onnx can convert it.
    return make_tabular_classifier(params, numeric, ())
'''


def render_history_synthetic(new: NewSpec) -> str:
    return f'''"""Seeded entity histories in the raw format of {new.name}'s file, drawn from its profile:
runs of consecutive times, sensors drifting as the event nears, censored entities.
ADAPT: a hand-written generator with the real failure physics makes better tests."""

from pathlib import Path

import pandas as pd

from shared.app.scaffold.histories import make_histories_from_spec
from shared.app.scaffold.infer import spec_from_json

from .features import Settings

PROFILE = Path(__file__).with_name("profile.json")


def make_synthetic(n: int = 20000, seed: int = 42) -> pd.DataFrame:
    return make_histories_from_spec(spec_from_json(PROFILE.read_text()), Settings(), n, seed)
'''


def history_files(new: NewSpec, raw: Any, template: Path) -> dict[str, str]:
    """The files of a per-entity history fork: shared/core/history.py does the windows and labels;
    KPIs come from the template (predictive_maintenance: the fleet's economics)."""
    from shared.app.scaffold.infer import infer_spec, schema_source, spec_to_json

    if not (new.id_column and new.time_column):
        raise ValueError("a history fork needs --id (the entity) and --time (a number)")
    spec = infer_spec(raw, new.target, new.id_column, new.time_column)
    skip = {new.id_column, new.time_column, new.target}
    sensors = [c.name for c in spec.columns if c.name not in skip and c.kind.startswith("numeric")]
    if not sensors:
        raise ValueError(f"{new.data.name}: no numeric column to window")
    fleet_cfg = template / "config_fleet.yaml"
    template_cfg = yaml.safe_load(
        (fleet_cfg if fleet_cfg.exists() else template / "config.yaml").read_text()
    )
    body = {
        "settings": {
            "entity_column": new.id_column,
            "time_column": new.time_column,
            "event_column": new.target,
            "sensors": sensors,
            "windows": [7, 14, 30],
            "horizon": 14,
        },
        "data": {
            "path": None,
            "synthetic_rows": 20000,
            "seed": 42,
            "reader": {"sep": new.sep} if new.sep else {},
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
        "# ADAPT: settings (sensors, windows, horizon H), data.path, gates, every kpi value.\n"
    )
    return {
        "usecase.py": render_history_usecase(new),
        "schema.py": render_schema(spec, schema_source(spec)),
        "features.py": render_history_features(new, sensors),
        "model.py": HISTORY_MODEL,
        "synthetic.py": render_history_synthetic(new),
        "profile.json": spec_to_json(spec),
        "config.yaml": head + yaml.safe_dump(body, sort_keys=False, width=100),
        "kpi.py": (template / "kpi.py").read_text(),
        "README.md": render_readme(new, spec, None, sensors, []),
        "tests/test_usecase.py": render_forecast_tests(new)
        .replace('"forecast"', '"binary_sequence"')
        .replace(
            f"UC.forecast.id_columns == {tuple(new.id_columns)!r}",
            f"UC.id_column == {new.id_column!r}",
        ),
    }


def write_use_case(new: NewSpec, root: Path) -> Path:
    """Write usecases/<name>/ from the file; returns the folder."""
    from shared.core.io import ReaderConfig, read_table

    check_name(new.name, root)
    template = root / new.template
    if not (template / "usecase.py").exists():
        known = sorted(p.parent.name for p in root.glob("*/usecase.py"))
        raise ValueError(f"unknown template {new.template!r}; templates: {', '.join(known)}")
    raw = read_table(new.data, ReaderConfig(sep=new.sep))
    forecasting = new.task in FORECAST_TASKS or (
        new.task is None and "backtest" in yaml.safe_load((template / "config.yaml").read_text())
    )
    if forecasting:
        files = write_forecast_files(new, raw, template)
    elif new.task in HISTORY_TASKS:
        files = history_files(new, raw, template)
    else:
        files = tabular_files(new, raw, template)
    folder = root / new.name
    (folder / "tests").mkdir(parents=True)
    try:
        files |= {"__init__.py": "", "tests/__init__.py": ""}
        for rel, text in files.items():
            (folder / rel).write_text(text)
        # The team's CI lints the folder like the rest of the repository.
        subprocess.run(
            [sys.executable, "-m", "ruff", "format", "--quiet", str(folder)], check=False
        )
    except Exception:
        shutil.rmtree(folder)  # no half-written folder for the registry to trip over
        raise
    return folder
