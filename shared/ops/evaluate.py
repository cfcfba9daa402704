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
from shared.core.history import last_rows, random_cuts
from shared.core.io import read_table
from shared.core.onnx_export import model_inputs
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
from shared.tasks.forecast.batch import batch_forecast
from shared.tasks.forecast.metrics import bias as forecast_bias
from shared.tasks.forecast.metrics import mase, mase_scale, wape
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
    missing = [str(i) for i in ids if i not in truth]
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


def labelled_histories(uc: UseCase, data: Path, reader: ReaderConfig) -> pd.DataFrame:
    """A labelled file read and typed as the raw schema; every schema problem raised at once."""
    raw = read_table(Path(data), reader)
    if problems := schema_problems(raw, uc.raw_schema, decimal=reader.decimal):
        raise DataValidationError(ValidationReport(len(raw), raw.shape[1], problems))
    return typed_as_schema(raw, uc.raw_schema, reader.decimal)


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
    if uc.forecast.id_columns:  # series: forecasts of the periods after the history
        return evaluate_forecast(uc, data, truth, reader)
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
        features = uc.features_at(columns, rows)  # those rows' windows only
    else:
        layout = "every row"
        rows = np.arange(len(valid))
        ids = valid[uc.id_column].to_numpy(str) if uc.id_column else np.arange(len(rows))
        features = uc.build_features(columns)
    values = model_values(predictor, features)
    scored = raw.loc[valid.index[rows]].reset_index(drop=True)
    if truth is not None:
        id_column = uc.id_column if uc.history or uc.id_column else None
        scored[uc.target] = read_truth(Path(truth), ids.astype(str), id_column, uc.target)
    # Rows with an unknown label (an entity still running, an empty target) are not scored.
    known = uc.task.labelled(uc, scored)
    if not known.any():
        raise ValueError(f"{Path(data).name}: no row with a known {uc.target!r} to score")
    scored, values = scored[known].reset_index(drop=True), values[known]
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
        scored=len(y),
        metrics=metrics,
        kpis=task_kpis(uc, y, values, cfg, metadata),
    )


def evaluate_forecast(
    uc: UseCase, data: Path, truth: Path | None, reader: ReaderConfig | None
) -> Evaluation:
    """Forecasts from the champion for every series of the history file `data`, against the
    actuals of the following periods in `truth` (series key, time and target columns): WAPE,
    bias and MASE (scaled by each series' in-sample seasonal-naive error, as the backtest)."""
    if truth is None:
        raise ValueError(
            f"{uc.name}: give --truth, the actuals after the history's end (columns "
            f"{[*uc.forecast.id_columns, uc.time_column, uc.target]})"
        )
    cfg = uc.load_config()
    reader = reader or cfg.data.reader
    keys, time = list(uc.forecast.id_columns), uc.time_column
    history = typed_as_schema(read_table(Path(data), reader), uc.raw_schema, reader.decimal)
    actual = read_table(Path(truth), reader)
    if missing := [c for c in (*keys, time, uc.target) if c not in actual]:
        raise ValueError(f"{Path(truth).name}: missing column(s) {missing}")
    actual = typed_as_schema(actual, uc.raw_schema, reader.decimal)
    horizon = int(actual.groupby(keys)[time].nunique().max())
    forecasts = batch_forecast(uc, history, horizon, cfg)
    for frame in (forecasts, actual):
        frame[time] = pd.to_datetime(frame[time])
    joined = forecasts.merge(actual[[*keys, time, uc.target]], on=[*keys, time], how="left")
    if joined[uc.target].notna().sum() == 0:
        raise ValueError(
            f"{Path(truth).name}: no actual matches a forecast (series and dates after the "
            "history's end)"
        )
    y = joined.pivot_table(index=keys, columns="step", values=uc.target, dropna=False)
    f = joined.pivot_table(index=keys, columns="step", values="forecast", dropna=False)
    past = history.assign(**{time: pd.to_datetime(history[time])}).pivot_table(
        index=keys, columns=time, values=uc.target
    )
    scale = mase_scale(past.reindex(y.index).to_numpy(np.float64), cfg.backtest.season)
    yv, fv = y.to_numpy(np.float64), f.reindex(y.index).to_numpy(np.float64)
    metrics = {
        "wape": wape(yv.ravel(), fv.ravel()),
        "bias": forecast_bias(yv.ravel(), fv.ravel()),
        "mase": mase(yv, fv, scale),
        "series": float(len(y)),
        "horizon": float(horizon),
    }
    return Evaluation(
        use_case=uc.name,
        model_version=str(forecasts["model_version"].iloc[0])
        if "model_version" in forecasts
        else "champion",
        layout=f"{len(y)} series x {horizon} steps after the history",
        rows_read=len(history),
        scored=int(np.isfinite(yv).sum()),
        metrics=metrics,
    )


# --------------------------------------------------------------------------- evidence by folds


def fold_interval(values: list[float]) -> dict[str, float]:
    """Mean, sd and a 95 % t-interval of the mean over folds (fold scores are noisy: ~20
    entities each, so the interval is the honest part of the figure)."""
    from scipy import stats

    v = np.asarray(values, dtype=np.float64)
    half = float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    mean = float(v.mean())
    return {"mean": mean, "sd": float(v.std(ddof=1)), "low": mean - half, "high": mean + half}


def cross_validate_cuts(
    uc: UseCase, cfg: Any, raw: pd.DataFrame, folds: int, repeats: int, min_rows: int = 31
) -> dict[str, Any]:
    """Each configured candidate (its `params`, no tuning) by `folds` group folds over the
    entities, `repeats` times: trained on every labelled row of the other entities, scored on
    each held-out entity cut at a random row (the layout of a held-out test file) by its last
    row. Seeded by `cfg.split.seed` + repeat: the same call gives the same figures.

    History use cases only: their features look back only, so the features of the cut row on the
    whole history are those of the cut file (usecases/*/tests check it).
    """
    from sklearn.model_selection import GroupKFold

    if not uc.history or uc.task.classifier:
        raise ValueError(f"{uc.name}: --folds scores histories cut at random (regression only)")
    entities = raw[uc.id_column].to_numpy(str)
    times = raw[uc.time_column].to_numpy(np.float64)
    X, y = model_inputs(uc, raw), uc.task.labels(uc, raw)
    known = np.isfinite(y)
    per_fold: dict[str, dict[str, list[float]]] = {
        c.name: {"rmse": [], "mae": [], "phm08_score_mean": []} for c in cfg.model.candidates
    }
    scored = 0
    for r in range(repeats):
        seed = cfg.split.seed + r
        cut = np.zeros(len(raw), dtype=bool)
        kept = np.flatnonzero(random_cuts(entities, times, seed, min_rows))
        cut[kept[last_rows(entities[kept], times[kept])]] = True
        splitter = GroupKFold(folds, shuffle=True, random_state=seed)
        for train, test in splitter.split(X, y, entities):
            train, test = train[known[train]], test[cut[test] & known[test]]
            scored += len(test)
            for c in cfg.model.candidates:
                model = uc.make_model(c.params).fit(X.iloc[train], y[train])
                pred = np.asarray(model.predict(X.iloc[test]), dtype=np.float64)
                m = regression_metrics(y[test], pred)
                per_fold[c.name]["rmse"].append(m["rmse"])
                per_fold[c.name]["mae"].append(m["mae"])
                per_fold[c.name]["phm08_score_mean"].append(
                    float(phm08_scores(y[test], pred).mean())
                )
    return {
        "folds": folds,
        "repeats": repeats,
        "entities_scored": scored,
        "candidates": {
            name: {metric: fold_interval(v) for metric, v in metrics.items()}
            for name, metrics in per_fold.items()
        },
    }
