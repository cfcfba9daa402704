"""MLflow tracking: runs, lineage tags, the ONNX model in the registry, aliases.

Default: a SQLite store and an artifact folder inside the project; MLFLOW_TRACKING_URI points
anywhere else (an MLflow server backed by PostgreSQL and an object store).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from shared.paths import project_root

CHALLENGER = "challenger"
PACKAGES = (
    "scikit-learn",
    "lightgbm",
    "onnxruntime",
    "skl2onnx",
    "onnxmltools",
    "mlflow",
    "bentoml",
    "pandera",
)


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{project_root() / 'mlflow.db'}"


def artifact_location(uri: str, experiment: str) -> str | None:
    """Next to a SQLite file (never the cwd's ./mlruns); None lets a tracking server decide."""
    if uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///"))
        return (db.parent / "mlartifacts" / experiment).resolve().as_uri()
    return None


def git_sha() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=project_root(),
            timeout=5,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            cwd=project_root(),
            timeout=5,
        ).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def run_tags(
    use_case: str, gates_passed: bool, lineage: dict[str, str], **extra: str
) -> dict[str, str]:
    """Lineage tags every run carries: git sha, data sha256, config hash, package versions."""
    return {
        "use_case": use_case,
        **extra,
        "git_sha": git_sha(),
        "gates_passed": str(gates_passed).lower(),
        **lineage,
        **{f"version.{k}": v for k, v in package_versions().items()},
    }


def run_artifacts(
    validation: dict[str, Any], report: dict[str, Any], cfg: Any, profile: dict[str, Any]
) -> dict[str, str]:
    """The text files every run logs, by name."""
    import json

    import yaml

    return {
        "validation_report.json": json.dumps(validation, indent=2, default=str),
        "evaluation.json": json.dumps(report, indent=2, default=str),
        "config_resolved.yaml": yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False),
        "reference_profile.json": json.dumps(profile),
    }


def _signature(
    numeric: list[str], categorical: list[str], output: tuple[str, int] = ("probabilities", 2)
) -> Any:
    import numpy as np
    from mlflow.models import ModelSignature
    from mlflow.types.schema import Schema, TensorSpec

    inputs = [TensorSpec(np.dtype(np.float32), (-1, 1), c) for c in numeric]
    inputs += [TensorSpec(np.dtype(str), (-1, 1), c) for c in categorical]
    outputs = [TensorSpec(np.dtype(np.float32), (-1, output[1]), output[0])]
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs))


def log_run(
    use_case: str,
    params: dict[str, Any],
    metrics: dict[str, float],
    tags: dict[str, str],
    artifacts: dict[str, str],
    onnx_bytes: bytes,
    numeric: list[str],
    categorical: list[str],
    promote: bool,
    output: tuple[str, int] = ("probabilities", 2),
    register: bool = True,
) -> tuple[str, str]:
    """Log one training run and register its ONNX model; returns (run_id, model version).

    `artifacts` maps a file name to its text content. `promote` sets the `challenger` alias.
    `output` names the graph's output tensor and its width (a regressor: ("variable", 1)).
    `register=False` (an experiment, `train --no-register`) logs the model to the run only:
    no registered version, so nothing can serve it by accident; the version returned is "".
    """
    import mlflow
    import mlflow.onnx
    import onnx
    from mlflow import MlflowClient

    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(use_case)
    exp_id = (
        exp.experiment_id
        if exp
        else client.create_experiment(use_case, artifact_location=artifact_location(uri, use_case))
    )
    with mlflow.start_run(experiment_id=exp_id) as run:
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        mlflow.set_tags(tags)
        for name, text in artifacts.items():
            mlflow.log_text(text, name)
        info = mlflow.onnx.log_model(
            onnx.load_from_string(onnx_bytes),
            name="model",
            registered_model_name=use_case if register else None,
            signature=_signature(numeric, categorical, output),
            pip_requirements=[f"onnxruntime=={metadata.version('onnxruntime')}"],
            onnx_execution_providers=["CPUExecutionProvider"],
        )
        if not register:
            mlflow.set_tag("registered", "false")
            return run.info.run_id, ""
        version = str(info.registered_model_version)
        client.set_model_version_tag(use_case, version, "gates_passed", str(promote).lower())
        if promote:
            client.set_registered_model_alias(use_case, CHALLENGER, version)
        return run.info.run_id, version
