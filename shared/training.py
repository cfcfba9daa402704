"""One training run of a binary-classification use case, as plain steps a test can call.

load -> validate -> features -> split -> tune + fit candidates -> choose on validation ->
threshold on validation -> evaluate on test -> gates -> ONNX + parity -> reference profile ->
MLflow -> BentoML model store.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shared import evaluation as ev
from shared.config import Candidate, PipelineConfig, config_hash
from shared.onnx_export import (
    ParityResult,
    features_frame,
    make_feed,
    onnx_proba,
    parity,
    session,
    to_onnx,
)
from shared.splits import Split, group_time_split, stratified_split, time_split
from shared.usecase import UseCase
from shared.validation import ValidationReport, validate_raw

StepCallback = Callable[[str], None]


def read_table(path: Path) -> pd.DataFrame:
    """CSV or Parquet by suffix; CSV text is kept as text (no silent type guessing of ids)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"data file not found: {path}")
    if path.suffix.lower() in {".parquet", ".pq"}:
        return pd.read_parquet(path)
    if path.suffix.lower() in {".csv", ".txt"}:
        return pd.read_csv(path, keep_default_na=False, na_values=[""])
    raise ValueError(f"unsupported data file {path.name}: use .csv or .parquet")


def load_raw(
    uc: UseCase, cfg: PipelineConfig, path: Path | None
) -> tuple[pd.DataFrame, dict[str, str]]:
    """The raw frame and where it came from (for lineage)."""
    from shared.tracking import file_sha256

    path = path or cfg.data.path
    if path is None:
        raw = uc.make_synthetic(cfg.data.synthetic_rows, cfg.data.seed)
        blob = pd.util.hash_pandas_object(raw, index=False).values.tobytes()
        import hashlib

        sha = hashlib.sha256(blob).hexdigest()
        return raw, {
            "data_source": f"synthetic(n={cfg.data.synthetic_rows}, seed={cfg.data.seed})",
            "data_sha256": sha,
        }
    return read_table(Path(path)), {
        "data_source": str(Path(path).resolve()),
        "data_sha256": file_sha256(Path(path)),
    }


def model_inputs(uc: UseCase, raw: pd.DataFrame) -> pd.DataFrame:
    """build_features -> the typed frame the pipeline is fitted on (float32 numbers, str categories)."""
    return features_frame(uc.build_features(raw), uc.numeric_features, uc.categorical_features)


def row_key(uc: UseCase, cfg: PipelineConfig) -> str | tuple[str, ...] | None:
    """What identifies a row: the id, or (id, time) when rows are entity histories."""
    if cfg.split.kind == "group_time" and uc.id_column and uc.time_column:
        return (uc.id_column, uc.time_column)
    return uc.id_column


def make_split(uc: UseCase, cfg: PipelineConfig, raw: pd.DataFrame, y: np.ndarray) -> Split:
    s = cfg.split
    if s.kind == "stratified":
        return stratified_split(y, s.test_size, s.valid_size, s.seed)
    if uc.time_column is None:
        raise ValueError(f"split.kind={s.kind} needs the use case to declare a time column")
    if s.kind == "time":
        return time_split(raw[uc.time_column], s.test_size, s.valid_size)
    if uc.id_column is None:
        raise ValueError("split.kind=group_time needs the use case to declare an id column")
    return group_time_split(
        raw[uc.id_column], raw[uc.time_column], s.test_size, s.valid_size, s.seed
    )


@dataclass
class FittedCandidate:
    name: str
    model: Any
    best_params: dict[str, Any]
    cv_roc_auc: float
    valid_proba: np.ndarray
    test_proba: np.ndarray
    valid_roc_auc: float = 0.0
    threshold: float = 0.5
    test_metrics: dict[str, float] = field(default_factory=dict)
    test_kpis: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


def fit_candidate(
    uc: UseCase,
    cand: Candidate,
    X: pd.DataFrame,
    y: np.ndarray,
    split: Split,
    cfg: PipelineConfig,
) -> FittedCandidate:
    """Light grid search by cross-validation on the training part only.

    Validation scores come from the model fitted on the training part; with `model.refit`
    the final model is then refitted on training + validation before it sees the test part.
    """
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    cv_folds, seed, refit = cfg.model.cv_folds, cfg.split.seed, cfg.model.refit
    start = time.perf_counter()
    grid = {f"model__{k}": v for k, v in cand.grid.items()}
    search = GridSearchCV(
        uc.make_model(cand.params),
        grid or {},
        scoring="roc_auc",
        cv=StratifiedKFold(cv_folds, shuffle=True, random_state=seed),
        n_jobs=1,
        refit=True,
    )
    search.fit(X.iloc[split.train], y[split.train])
    valid_proba = search.best_estimator_.predict_proba(X.iloc[split.valid])[:, 1]
    model = search.best_estimator_
    if refit:  # selection and threshold used validation; the test part stays untouched
        seen = np.concatenate([split.train, split.valid])
        model = clone(search.best_estimator_).fit(X.iloc[seen], y[seen])
    return FittedCandidate(
        name=cand.name,
        model=model,
        best_params={k.removeprefix("model__"): v for k, v in search.best_params_.items()},
        cv_roc_auc=float(search.best_score_),
        valid_proba=valid_proba,
        test_proba=model.predict_proba(X.iloc[split.test])[:, 1],
        seconds=time.perf_counter() - start,
    )


def evaluate_candidate(
    uc: UseCase, cand: FittedCandidate, y_valid: np.ndarray, y_test: np.ndarray, cfg: PipelineConfig
) -> None:
    """Threshold from validation profit, every figure from the test part."""
    profit = partial(uc.profit, cfg=cfg.kpi)
    cand.valid_roc_auc = ev._auc(y_valid, cand.valid_proba)
    cand.threshold, _ = ev.best_threshold(y_valid, cand.valid_proba, profit)
    cand.test_metrics = ev.classification_metrics(
        y_test, cand.test_proba, cfg.gates.n_bootstrap, cfg.split.seed
    )
    cand.test_kpis = uc.compute_kpis(y_test, cand.test_proba, cand.threshold, cfg.kpi)


def choose(cands: list[FittedCandidate], y_valid: np.ndarray) -> FittedCandidate:
    """Best validation ROC AUC; on a tie the earlier candidate in config wins."""
    return cands[int(np.argmax([c.valid_roc_auc for c in cands]))]


def gate_reasons(
    uc: UseCase,
    cfg: PipelineConfig,
    chosen: FittedCandidate,
    baseline: FittedCandidate,
    y_test: np.ndarray,
    parity_result: ParityResult,
) -> tuple[list[str], dict[str, float]]:
    """Every failed gate as a sentence, plus the baseline comparison figures."""
    g = cfg.gates
    reasons = []
    auc = chosen.test_metrics["roc_auc"]
    if auc < g.min_roc_auc:
        reasons.append(f"test ROC AUC {auc:.3f} is below the floor {g.min_roc_auc}")
    reasons += uc.kpi_gates(chosen.test_kpis, cfg.kpi)
    cmp = ev.paired_bootstrap_auc(
        y_test, chosen.test_proba, baseline.test_proba, g.n_bootstrap, cfg.split.seed
    )
    if chosen is not baseline and cmp["p_worse"] > 1 - g.baseline_alpha:
        reasons.append(
            f"{chosen.name} is significantly worse than the baseline {baseline.name} "
            f"(AUC difference {cmp['auc_diff']:+.3f}, P(worse) = {cmp['p_worse']:.2f})"
        )
    if not parity_result.ok:
        reasons.append(parity_result.describe())
    return reasons, cmp


def reference_profile(X: pd.DataFrame, proba: np.ndarray, uc: UseCase) -> dict[str, Any]:
    """Training distribution of every model input and of the score, for drift checks later."""
    qs = np.linspace(0, 1, 11)
    numeric = {
        c: {"quantiles": np.quantile(X[c].astype(float), qs).tolist(), "mean": float(X[c].mean())}
        for c in uc.numeric_features
    }
    categorical = {
        c: X[c].value_counts(normalize=True).round(6).to_dict() for c in uc.categorical_features
    }
    return {
        "rows": len(X),
        "numeric": numeric,
        "categorical": categorical,
        "score_quantiles": np.quantile(proba, qs).tolist(),
    }


@dataclass
class TrainResult:
    use_case: str
    chosen: str
    threshold: float
    metrics: dict[str, float]
    kpis: dict[str, float]
    candidates: list[dict[str, Any]]
    parity: ParityResult
    gates_passed: bool
    gate_reasons: list[str]
    baseline_comparison: dict[str, float]
    validation: ValidationReport
    lineage: dict[str, str]
    calibration: list[dict[str, float]]
    lift: list[dict[str, float]]
    split_sizes: dict[str, int]
    model_version: str = ""
    run_id: str = ""
    bento_tag: str = ""
    seconds: float = 0.0
    onnx_bytes: bytes = b""

    def summary(self) -> dict[str, Any]:
        """The --json line: what CI and scripts read."""
        return {
            "use_case": self.use_case,
            "model_version": self.model_version,
            "bento_tag": self.bento_tag,
            "run_id": self.run_id,
            "chosen_model": self.chosen,
            "threshold": self.threshold,
            "metrics": self.metrics,
            "kpis": self.kpis,
            "candidates": self.candidates,
            "parity_max_abs_diff": self.parity.max_abs_diff,
            "gates": {"passed": self.gates_passed, "reasons": self.gate_reasons},
            "baseline_comparison": self.baseline_comparison,
            "split": self.split_sizes,
            "seconds": round(self.seconds, 2),
        }

    def report(self) -> dict[str, Any]:
        return self.summary() | {
            "validation": self.validation.to_dict(),
            "lineage": self.lineage,
            "calibration": self.calibration,
            "lift": self.lift,
            "parity": self.parity.describe(),
        }


STEPS = (
    "load",
    "validate",
    "features + split",
    "tune + fit",
    "evaluate",
    "onnx + parity",
    "track",
    "store",
)


def train(
    uc: UseCase,
    cfg: PipelineConfig,
    data: Path | None = None,
    overrides: list[str] | None = None,
    on_step: StepCallback = lambda step: None,
    track: bool = True,
) -> TrainResult:
    """Run the whole flow; gates that fail are reported in the result, never raised."""
    if uc.task == "forecast":  # many series, backtests instead of a split: shared/forecasting.py
        from shared.forecasting import train_forecast

        return train_forecast(uc, cfg, data, overrides, on_step, track)
    start = time.perf_counter()
    uc = uc.with_config(cfg)
    on_step("load")
    raw, source = load_raw(uc, cfg, data)

    on_step("validate")
    report = validate_raw(
        raw, uc.raw_schema, cfg.quality, row_key(uc, cfg), lambda r: uc.labels(r)[uc.labelled(r)]
    )

    on_step("features + split")
    y = uc.labels(raw)
    X = model_inputs(uc, raw)
    known = uc.labelled(raw)
    if not known.all():  # features saw every row (histories); only known labels are learned from
        raw, X, y = raw[known].reset_index(drop=True), X[known].reset_index(drop=True), y[known]
    split = make_split(uc, cfg, raw, y)

    on_step("tune + fit")
    cands = [fit_candidate(uc, c, X, y, split, cfg) for c in cfg.model.candidates]

    on_step("evaluate")
    y_valid, y_test = y[split.valid], y[split.test]
    for c in cands:
        evaluate_candidate(uc, c, y_valid, y_test, cfg)
    chosen = choose(cands, y_valid)
    baseline = next(c for c in cands if c.name == cfg.model.baseline)

    on_step("onnx + parity")
    onnx_bytes = to_onnx(chosen.model, uc.numeric_features, uc.categorical_features)
    X_test = X.iloc[split.test]
    feed = make_feed(
        {c: X_test[c].to_numpy() for c in X_test.columns},
        uc.numeric_features,
        uc.categorical_features,
    )
    p_onnx = onnx_proba(session(onnx_bytes), feed)
    par = parity(chosen.test_proba, p_onnx, chosen.threshold, cfg.gates.max_parity_diff, split.test)
    reasons, cmp = gate_reasons(uc, cfg, chosen, baseline, y_test, par)

    result = TrainResult(
        use_case=uc.name,
        chosen=chosen.name,
        threshold=chosen.threshold,
        metrics=chosen.test_metrics | {"valid_roc_auc": chosen.valid_roc_auc},
        kpis=chosen.test_kpis,
        candidates=[candidate_row(c) for c in cands],
        parity=par,
        gates_passed=not reasons,
        gate_reasons=reasons,
        baseline_comparison=cmp,
        validation=report,
        lineage=source | {"config_hash": config_hash(cfg)},
        calibration=ev.calibration_table(y_test, chosen.test_proba),
        lift=ev.lift_table(y_test, chosen.test_proba),
        split_sizes=split.sizes()
        | ({"unlabelled": int((~known).sum())} if not known.all() else {}),
        onnx_bytes=onnx_bytes,
    )
    profile = reference_profile(
        X.iloc[split.train], chosen.model.predict_proba(X.iloc[split.train])[:, 1], uc
    )
    if track:
        on_step("track")
        log_to_mlflow(uc, cfg, result, overrides or [], profile)
        on_step("store")
        if result.gates_passed:
            result.bento_tag = save_to_store(uc, cfg, result, X, profile)
    result.seconds = time.perf_counter() - start
    return result


def candidate_row(c: FittedCandidate) -> dict[str, Any]:
    return {
        "name": c.name,
        "best_params": c.best_params,
        "cv_roc_auc": round(c.cv_roc_auc, 4),
        "valid_roc_auc": round(c.valid_roc_auc, 4),
        "threshold": c.threshold,
        "test_roc_auc": c.test_metrics["roc_auc"],
        "test_roc_auc_ci": [c.test_metrics["roc_auc_ci_low"], c.test_metrics["roc_auc_ci_high"]],
        "test_pr_auc": c.test_metrics["pr_auc"],
        "test_brier": c.test_metrics["brier"],
        "test_kpis": c.test_kpis,
        "fit_seconds": round(c.seconds, 2),
    }


def log_to_mlflow(
    uc: UseCase,
    cfg: PipelineConfig,
    result: TrainResult,
    overrides: list[str],
    profile: dict[str, Any],
) -> None:
    from shared.tracking import log_run, run_artifacts, run_tags

    params = {
        "chosen_model": result.chosen,
        "threshold": result.threshold,
        "split_kind": cfg.split.kind,
        "overrides": ";".join(overrides) or "none",
    }
    chosen_row = next(c for c in result.candidates if c["name"] == result.chosen)
    params |= {f"param_{k}": v for k, v in chosen_row["best_params"].items()}
    metrics = {f"test_{k}": v for k, v in result.metrics.items()}
    metrics |= {f"kpi_{k}": v for k, v in result.kpis.items()}
    metrics |= {f"{c['name']}_test_roc_auc": c["test_roc_auc"] for c in result.candidates}
    metrics["parity_max_abs_diff"] = result.parity.max_abs_diff
    tags = run_tags(uc.name, result.gates_passed, result.lineage)
    result.lineage["git_sha"] = tags["git_sha"]
    artifacts = run_artifacts(result.validation.to_dict(), result.report(), cfg, profile)
    result.run_id, result.model_version = log_run(
        uc.name,
        params,
        metrics,
        tags,
        artifacts,
        result.onnx_bytes,
        list(uc.numeric_features),
        list(uc.categorical_features),
        promote=result.gates_passed,
    )


def save_to_store(
    uc: UseCase, cfg: PipelineConfig, result: TrainResult, X: pd.DataFrame, profile: dict[str, Any]
) -> str:
    from shared.store import save_model

    metadata = {
        "use_case": uc.name,
        "mlflow_version": result.model_version,
        "mlflow_run_id": result.run_id,
        "threshold": result.threshold,
        "chosen_model": result.chosen,
        "inputs": {c: "float32" for c in uc.numeric_features}
        | {c: "string" for c in uc.categorical_features},
        "categories": {c: sorted(X[c].unique().tolist()) for c in uc.categorical_features},
        "metrics": {k: round(v, 6) for k, v in result.metrics.items()},
        "config_hash": result.lineage["config_hash"],
    }
    if getattr(cfg, "settings", None) is not None:  # the service checks it applies the same ones
        metadata["settings"] = cfg.settings.model_dump(mode="json")
    return save_model(uc.name, result.onnx_bytes, metadata, profile)
