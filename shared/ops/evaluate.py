"""`pilotpack evaluate`: score a held-out file with the stored model and compare with the truth.

History use cases (features read each entity's past rows) are scored on each entity's last row:
the layout of a test file of histories cut before the event, with the truth at each cut in a
separate file (NASA C-MAPSS: `test_FD003.txt` + `RUL_FD003.txt`). Record use cases are scored
row by row against the target column of the file (or a truth file, one value per row).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shared.core.config import ReaderConfig
from shared.core.history import last_rows
from shared.core.io import read_table
from shared.core.performance import classifier_metrics
from shared.core.usecase import UseCase
from shared.core.validation import (
    DataValidationError,
    ValidationReport,
    schema_problems,
    typed_as_schema,
)
from shared.ops.batch import model_values, resolve_model
from shared.serve.factory import RecordPredictor
from shared.tasks.regression import phm08_scores
from shared.tasks.regression_training import regression_metrics

TRUTH_SEP = r"[\s,;]+"  # a truth file is one or two columns: any of these separates them


@dataclass
class Evaluation:
    """What `evaluate` measured: metrics (task's), KPIs (use case's), on which rows."""

    use_case: str
    model_version: str
    layout: str  # "last row per entity" or "every row"
    rows_read: int
    scored: int
    metrics: dict[str, float] = field(default_factory=dict)
    kpis: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def sorted_ids(ids: np.ndarray) -> np.ndarray:
    """Entity ids in their natural order: numerically when every id is a number (unit 2 before
    unit 10, as C-MAPSS truth files list them), else as text."""
    text = np.asarray(ids, dtype=str)
    numbers = pd.to_numeric(pd.Series(text), errors="coerce")
    if numbers.notna().all():
        return text[np.argsort(numbers.to_numpy(), kind="stable")]
    return np.sort(text)


def read_truth(path: Path, ids: np.ndarray, id_column: str | None, target: str) -> np.ndarray:
    """The true value per id (`ids` in natural order, or rows when there is no id).

    Accepted: one header-less column, in the order of the sorted ids (C-MAPSS `RUL_FD00x.txt`);
    two header-less columns id, value; or a header naming the id column and the target.
    """
    if not Path(path).exists():
        raise FileNotFoundError(f"truth file not found: {path}")
    frame = pd.read_csv(path, sep=TRUTH_SEP, header=None, dtype=str, engine="python")
    frame = frame.dropna(axis=1, how="all")  # trailing separators make an empty column
    first = [str(v) for v in frame.iloc[0]] if len(frame) else []
    if target in first:
        frame = frame.iloc[1:].set_axis(first, axis=1)
        if id_column and id_column in frame:
            return _by_id(frame[id_column].to_numpy(str), frame[target], ids, path)
        return _in_order(frame[target], ids, path)
    if frame.shape[1] == 1:
        return _in_order(frame.iloc[:, 0], ids, path)
    if frame.shape[1] == 2:
        return _by_id(frame.iloc[:, 0].to_numpy(str), frame.iloc[:, 1], ids, path)
    raise ValueError(
        f"{Path(path).name}: {frame.shape[1]} columns; a truth file holds one column (values in "
        f"the order of the sorted ids), two (id, value), or a header naming {target!r}"
    )


def _numbers(values: pd.Series, path: Path) -> np.ndarray:
    parsed = pd.to_numeric(values, errors="coerce")
    bad = values[parsed.isna()].tolist()
    if bad:
        raise ValueError(f"{Path(path).name}: {len(bad)} value(s) are not numbers: {bad[:5]}")
    return parsed.to_numpy(dtype=np.float64)


def _in_order(values: pd.Series, ids: np.ndarray, path: Path) -> np.ndarray:
    if len(values) != len(ids):
        raise ValueError(
            f"{Path(path).name}: {len(values)} truth values for {len(ids)} entities in the data "
            "file; one value per entity, in the order of the sorted ids"
        )
    return _numbers(values, path)


def _by_id(keys: np.ndarray, values: pd.Series, ids: np.ndarray, path: Path) -> np.ndarray:
    truth = dict(zip(keys, _numbers(values, path), strict=True))
    missing = [i for i in ids if i not in truth]
    if missing:
        raise ValueError(f"{Path(path).name}: no truth for id(s) {missing[:5]} of the data file")
    return np.array([truth[i] for i in ids], dtype=np.float64)


def task_metrics(uc: UseCase, y: np.ndarray, values: np.ndarray, metadata: dict) -> dict[str, Any]:
    """Regression: RMSE, MAE, bias, R², PHM08 score (sum and mean); classifiers: ROC AUC, PR AUC
    and the rest of the realised-performance metrics at the trained threshold."""
    if uc.task.classifier:
        return classifier_metrics(y, values, float(metadata["threshold"]))
    scores = phm08_scores(y, values)
    return regression_metrics(y, values) | {
        "phm08_score": float(scores.sum()),
        "phm08_score_mean": float(scores.mean()),
    }


def task_kpis(uc: UseCase, y: np.ndarray, values: np.ndarray, cfg: Any, metadata: dict) -> dict:
    """The use case's business KPIs on the same rows."""
    if uc.task.classifier:
        return uc.compute_kpis(y, values, float(metadata["threshold"]), cfg.kpi)
    return uc.compute_kpis(y, values, cfg.kpi)


def evaluate_file(
    uc: UseCase,
    data: Path,
    truth: Path | None = None,
    version: str | None = None,
    reader: ReaderConfig | None = None,
) -> Evaluation:
    """Score `data` with the stored model (champion, or `version`) and compare with the truth.

    Raises ValueError (bad file, truth, task), FileNotFoundError, DataValidationError, and
    ModelNotFound when no model is stored.
    """
    if not uc.task.batch_scorable:
        raise ValueError(
            f"{uc.name}: task {uc.task.name} is evaluated by its backtest windows "
            f"(`pilotpack train {uc.name} --data FILE`), not on a file of records"
        )
    cfg = uc.load_config()
    uc = uc.with_config(cfg)
    reader = reader or cfg.data.reader
    raw = read_table(Path(data), reader)
    if truth is None and uc.target not in raw:
        raise ValueError(
            f"{Path(data).name}: no {uc.target!r} column and no --truth file: give the truth"
        )
    if uc.target not in raw:  # the truth is in its own file: unknown on the rows here
        raw[uc.target] = np.nan
    if problems := schema_problems(raw, uc.raw_schema, decimal=reader.decimal):
        raise DataValidationError(ValidationReport(len(raw), raw.shape[1], problems))
    valid = typed_as_schema(raw, uc.raw_schema, reader.decimal)
    predictor = RecordPredictor.loader(uc, cfg)(resolve_model(uc, version))
    columns = {c: valid[c].to_numpy() for c in valid.columns if c != uc.target}
    if uc.history:  # each entity's features read its whole history; its last row is scored
        layout = "last row per entity"
        rows = last_rows(valid[uc.id_column].to_numpy(), valid[uc.time_column].to_numpy())
        ids = valid[uc.id_column].to_numpy(str)[rows]
        rank = {i: k for k, i in enumerate(sorted_ids(ids))}
        natural = np.argsort([rank[i] for i in ids])
        rows, ids = rows[natural], ids[natural]
    else:
        layout = "every row"
        rows = np.arange(len(valid))
        ids = valid[uc.id_column].to_numpy(str) if uc.id_column else np.arange(len(rows))
    values = model_values(predictor, uc.build_features(columns))[rows]
    scored = raw.loc[valid.index[rows]].reset_index(drop=True)
    if truth is not None:
        id_column = uc.id_column if uc.history or uc.id_column else None
        scored[uc.target] = read_truth(Path(truth), ids.astype(str), id_column, uc.target)
    y = uc.task.labels(uc, scored)  # the label the model learned (capped, derived, 0/1)
    metadata = predictor.stored.metadata
    metrics = task_metrics(uc, y, values, metadata)
    as_given = pd.to_numeric(scored[uc.target], errors="coerce").to_numpy(np.float64)
    if not uc.task.classifier and not np.allclose(as_given, y, equal_nan=True):
        # a capped label: also the error against the truth as given
        metrics["rmse_truth_as_given"] = float(np.sqrt(np.mean((values - as_given) ** 2)))
    return Evaluation(
        use_case=uc.name,
        model_version=predictor.version,
        layout=layout,
        rows_read=len(raw),
        scored=len(rows),
        metrics=metrics,
        kpis=task_kpis(uc, y, values, cfg, metadata),
    )
