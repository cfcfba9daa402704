"""A real training run into a temporary MLflow SQLite store and BentoML home (see conftest).

Each test asks for what it needs (`run` trains its own churn run for this module), so the
file passes alone, in any order, and after anything else trained churn.
"""

from __future__ import annotations

import bentoml
import mlflow
import pytest
from mlflow import MlflowClient

from shared.core.tracking import CHALLENGER, tracking_uri
from shared.core.usecase import get_use_case
from tests.conftest import train_fast

# What these runs check (what is logged, stored and aliased) does not depend on the data's size.
SMALL = "data.synthetic_rows=2000"

UC = get_use_case("churn")


@pytest.fixture(scope="module")
def run():
    result = train_fast(UC)
    assert result.gates_passed, result.gate_reasons
    return result


def test_run_is_registered_with_alias_lineage_and_artifacts(run):
    client = MlflowClient(tracking_uri())
    version = client.get_model_version("churn", run.model_version)
    assert version.run_id == run.run_id
    assert version.tags["gates_passed"] == "true"
    assert str(client.get_model_version_by_alias("churn", CHALLENGER).version) == run.model_version
    tags = client.get_run(run.run_id).data.tags
    assert len(tags["data_sha256"]) == 64
    assert len(tags["config_hash"]) == 16
    assert tags["git_sha"] and tags["version.scikit-learn"] and tags["version.onnxruntime"]
    artifacts = {a.path for a in client.list_artifacts(run.run_id)}
    assert {
        "validation_report.json",
        "evaluation.json",
        "config_resolved.yaml",
        "reference_profile.json",
    } <= artifacts
    metrics = client.get_run(run.run_id).data.metrics
    assert metrics["test_roc_auc"] == pytest.approx(run.metrics["roc_auc"])
    assert "kpi_expected_profit_eur" in metrics
    params = client.get_run(run.run_id).data.params
    assert params["split_kind"] == "stratified" and params["task"] == "binary"


def test_registered_onnx_model_loads_and_bento_model_carries_metadata(run):
    onnx_model = mlflow.onnx.load_model(f"models:/churn/{run.model_version}")
    assert {i.name for i in onnx_model.graph.input} == set(UC.model_inputs)
    stored = bentoml.models.get(run.bento_tag)
    meta = stored.info.metadata
    assert meta["mlflow_version"] == run.model_version and meta["mlflow_run_id"] == run.run_id
    assert meta["threshold"] == run.threshold
    assert meta["task"] == "binary" and meta["use_case"] == "churn"
    assert meta["inputs"]["tenure"] == "float32" and meta["inputs"]["Contract"] == "string"


def test_failed_gates_log_everything_but_get_no_alias_and_no_bento_model(run):
    client = MlflowClient(tracking_uri())
    before = str(client.get_model_version_by_alias("churn", CHALLENGER).version)
    assert before == run.model_version
    stored_before = len(bentoml.models.list("churn"))
    failed = train_fast(UC, ["gates.min_roc_auc=0.999", SMALL])
    assert not failed.gates_passed and not failed.registered
    assert any("below the floor 0.999" in r for r in failed.gate_reasons)
    assert failed.model_version and failed.bento_tag == ""
    assert str(client.get_model_version_by_alias("churn", CHALLENGER).version) == before
    assert client.get_model_version("churn", failed.model_version).tags["gates_passed"] == "false"
    assert len(bentoml.models.list("churn")) == stored_before


def test_an_untracked_run_logs_nothing():
    client = MlflowClient(tracking_uri())
    exp = client.get_experiment_by_name("churn")
    runs_before = len(client.search_runs([exp.experiment_id])) if exp else 0
    result = train_fast(UC, [SMALL], track=False)
    assert result.run_id == "" and result.model_version == "" and result.bento_tag == ""
    assert result.onnx_bytes and result.parity.ok
    exp = client.get_experiment_by_name("churn")
    assert (len(client.search_runs([exp.experiment_id])) if exp else 0) == runs_before
