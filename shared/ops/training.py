"""One training run, the same skeleton for every task, as plain steps a test can call.

load -> validate -> fit (split, tune, candidates, evaluate, choose) -> ONNX + parity ->
gates -> governance (fairness, explanations) -> MLflow (+ model card, HTML report) ->
BentoML model store. What differs by task sits behind the task's
plug-in (shared/tasks/), chosen by `uc.task`.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shared.core.config import config_hash
from shared.core.drift import reference_files
from shared.core.io import read_table
from shared.core.store import save_model
from shared.core.tracking import (
    CHAMPION,
    actor,
    file_sha256,
    log_run,
    mlflow_client,
    model_aliases,
    run_artifacts,
    run_tags,
    tag_event,
)
from shared.core.tracking import log_documents as log_texts
from shared.core.usecase import UseCase
from shared.core.validation import typed_as_schema
from shared.ops.governance.assess import assess
from shared.ops.governance.oversight import (
    SYNTHETIC_ALLOWED,
    allow_synthetic_data,
    first_champion_refusals,
    is_synthetic,
)
from shared.ops.report import documents, sensitive_costs
from shared.tasks.base import Export, Fit, Log, RunResult, TaskTraining

StepCallback = Callable[[str], None]
TrainResult = RunResult  # the name tests and scripts used before tasks were plug-ins


class Prohibited(ValueError):
    """A use case whose risk level forbids training it (EU AI Act Art. 5)."""


STEPS = ("load", "validate", "fit + evaluate", "onnx + parity", "governance", "track", "store")


def load_raw(uc: UseCase, cfg: Any, path: Path | None) -> tuple[pd.DataFrame, dict[str, str]]:
    """The raw frame and where it came from (for lineage); the built-in data when no path."""
    path = path or cfg.data.path
    if path is None:
        raw, source = uc.task.training.synthetic(uc, cfg)
        blob = pd.util.hash_pandas_object(raw, index=False).values.tobytes()
        return raw, {"data_source": source, "data_sha256": hashlib.sha256(blob).hexdigest()}
    # Typed as the schema says, not as pandas guessed (a column with a bad cell stays as read).
    raw = typed_as_schema(
        read_table(Path(path), cfg.data.reader), uc.raw_schema, cfg.data.reader.decimal
    )
    return raw, {
        "data_source": str(Path(path).resolve()),
        "data_sha256": file_sha256(Path(path)),
    }


def train(
    uc: UseCase,
    cfg: Any,
    data: Path | None = None,
    overrides: list[str] | None = None,
    on_step: StepCallback = lambda step: None,
    track: bool = True,
    register: bool = True,
    log: Log = lambda message: None,
    allow_synthetic: bool = False,
) -> RunResult:
    """Run the whole flow; gates that fail are reported in the result, never raised.

    `track=False` logs nothing; `register=False` logs the run to MLflow but registers no
    model version and saves nothing to the model store: an experiment that cannot be served.
    A use case of risk level `unacceptable` is refused (ValueError) before anything runs.
    `allow_synthetic`: a model trained on synthetic data may become champion (recorded on
    the run); without it the first version that passes stays challenger.
    """
    prohibited = cfg.governance.prohibited()
    if prohibited:
        raise Prohibited(f"{prohibited}; training refused")
    task = uc.task.training
    start = time.perf_counter()
    uc = uc.with_config(cfg)
    on_step("load")
    raw, source = load_raw(uc, cfg, data)
    on_step("validate")
    report = task.validate(uc, cfg, raw)
    on_step("fit + evaluate")
    fit = task.fit(uc, cfg, raw, log)
    on_step("onnx + parity")
    export = task.export(uc, cfg, fit)
    reasons = task.gates(uc, cfg, fit, export)
    if not export.parity.ok:
        reasons.append(export.parity.describe())
    on_step("governance")
    governance = assess(uc.task, uc, cfg, raw, fit)
    reasons += governance.gate_reasons
    sensitive = sensitive_costs(task, uc, cfg, fit)
    result = RunResult(
        use_case=uc.name,
        task=uc.task.name,
        chosen=fit.chosen,
        metrics=fit.metrics,
        kpis=fit.kpis,
        candidates=fit.candidates,
        split=fit.split,
        parity=export.parity,
        gates_passed=not reasons,
        gate_reasons=reasons,
        validation=report,
        lineage=source | {"config_hash": config_hash(cfg)},
        details=fit.details
        | governance.details()
        | ({"sensitive_cost": sensitive} if sensitive else {}),
        registered=track and register and not reasons,
        onnx_bytes=export.onnx_bytes,
        governance=governance,
    )
    if track:
        on_step("track")
        log_to_mlflow(
            task, uc, cfg, result, fit, export, overrides or [], register, allow_synthetic
        )
        log_documents(uc, cfg, result)
        on_step("store")
        if result.registered:
            result.bento_tag = save_to_store(uc, result, fit, export)
    result.seconds = time.perf_counter() - start
    return result


def log_to_mlflow(
    task: TaskTraining,
    uc: UseCase,
    cfg: Any,
    result: RunResult,
    fit: Fit,
    export: Export,
    overrides: list[str],
    register: bool,
    allow_synthetic: bool = False,
) -> None:
    """Params, metrics, lineage tags and artifacts; the model is registered only when the
    gates pass and registering was asked for. The first version to pass becomes champion
    unless human oversight holds it back (shared/ops/governance/oversight.py): then the
    reason is in `details["champion_withheld"]` and on the version."""
    params = {
        "chosen_model": result.chosen,
        "task": uc.task.name,
        "overrides": ";".join(overrides) or "none",
    } | task.params(cfg, fit)
    metrics = {f"test_{k}": v for k, v in result.metrics.items()}
    metrics |= {f"kpi_{k}": v for k, v in result.kpis.items()}
    metrics["parity_max_abs_diff"] = result.parity.max_abs_diff
    metrics |= report_metrics(result.details)
    metrics = {k: float(v) for k, v in metrics.items() if _finite(v)}
    tags = run_tags(uc.name, result.gates_passed, result.lineage, task=uc.task.name)
    result.lineage["git_sha"] = tags["git_sha"]
    source = result.lineage.get("data_source", "")
    synthetic_allowed = allow_synthetic and is_synthetic(source)
    if synthetic_allowed:  # every version of this run may serve: someone said so
        tags[f"{SYNTHETIC_ALLOWED}_by"] = actor()
    withheld = first_champion_refusals(cfg, source, allow_synthetic)
    artifacts = run_artifacts(result.validation.to_dict(), result.report(), cfg, fit.profile)
    result.run_id, result.model_version = log_run(
        uc.name,
        params,
        metrics,
        tags,
        artifacts,
        export.onnx_bytes,
        export.numeric,
        export.categorical,
        promote=result.gates_passed,
        output=export.output,
        register=register,
        first_champion=not withheld,
    )
    if not result.model_version or not result.gates_passed:
        return
    client = mlflow_client()
    if synthetic_allowed:
        allow_synthetic_data(
            client, uc.name, result.model_version, actor(), "train --allow-synthetic"
        )
    if withheld and CHAMPION not in model_aliases(uc.name, client):
        result.details["champion_withheld"] = "; ".join(withheld)
        tag_event(client, uc.name, result.model_version, "champion_withheld", "; ".join(withheld))


def report_metrics(details: dict[str, Any]) -> dict[str, float]:
    """The report's figures MLflow can chart: label rate per part, the largest train-to-test
    PSI, repeated and identical rows across parts, and each sensitive column's ROC AUC / KPI
    cost."""
    out: dict[str, float] = {}
    parts = details.get("parts") or {}
    for part, rate in (parts.get("label_rate") or {}).items():
        out[f"label_rate_{part}"] = rate
    top = parts.get("psi_train_test_top5") or {}
    if top:
        out["psi_train_test_max"] = max(top.values())
    for key in ("repeated_input_rows", "identical_rows_across_parts"):
        if key in parts:
            out[key] = parts[key]
    for col, row in (details.get("sensitive_cost") or {}).items():
        name = re.sub(r"[^\w.\-/]+", "_", col)  # MLflow's metric-name characters; "a + b": a_b
        out[f"sensitive_roc_auc_cost_{name}"] = row["roc_auc_cost"]
        if "kpi_cost" in row:
            out[f"sensitive_kpi_cost_{name}"] = row["kpi_cost"]
    return out


def log_documents(uc: UseCase, cfg: Any, result: RunResult) -> None:
    """The model card of the version just registered (with the registry's promotion history)
    and the HTML report, added to the run; the explainer's files beside them."""
    result.documents = documents(uc, cfg, result)
    log_texts(result.run_id, result.documents)
    if result.governance.explainer_files:
        log_texts(result.run_id, result.governance.explainer_files, folder="explainer")


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and bool(np.isfinite(v))


def save_to_store(uc: UseCase, result: RunResult, fit: Fit, export: Export) -> str:
    """The ONNX file, its reference profile and what the service needs, in BentoML's store."""
    metadata = {
        "use_case": uc.name,
        "task": uc.task.name,
        "mlflow_version": result.model_version,
        "mlflow_run_id": result.run_id,
        "chosen_model": result.chosen,
        "metrics": {k: round(v, 6) for k, v in result.metrics.items() if _finite(v)},
        "config_hash": result.lineage["config_hash"],
    } | export.metadata
    extra = result.governance.explainer_files | {
        k: v for k, v in result.documents.items() if k.startswith("model_card")
    }
    extra |= reference_files(uc, fit)  # the Parquet sample of training inputs, for drift tests
    return save_model(uc.name, export.onnx_bytes, metadata, fit.profile, extra)
