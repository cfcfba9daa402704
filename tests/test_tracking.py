"""A real training run into a temporary MLflow SQLite store and BentoML home (see conftest).

Each test asks for what it needs (`run` trains its own churn run for this module), so the
file passes alone, in any order, and after anything else trained churn.
"""

from __future__ import annotations

import sqlite3

import bentoml
import mlflow
import pytest
from mlflow import MlflowClient

from shared.core.onnx_export import NUMERIC_INPUT
from shared.core.tracking import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS,
    RolloutState,
    read_sqlite_registry,
    read_state,
    registered_model,
    tracking_uri,
    write_state,
)
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
    graph_inputs = [i.name for i in onnx_model.graph.input]
    assert graph_inputs == [NUMERIC_INPUT, *UC.categorical_features]
    signature = mlflow.models.get_model_info(f"models:/churn/{run.model_version}").signature
    assert signature.inputs.input_names() == graph_inputs
    assert signature.inputs.inputs[0].shape == (-1, len(UC.numeric_features))
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


def test_the_sqlite_registry_reads_what_mlflow_client_reads(tmp_path, monkeypatch):
    """Serving reads aliases and rollout tags straight from a SQLite store (no MLflow import):
    after every kind of registry write it sees exactly what MlflowClient sees."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    assert read_sqlite_registry(uri, "m") == ({}, {})  # no store yet: nothing registered
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)

    def agree(expected_aliases: dict[str, str]) -> None:
        for name in ("m", "other"):
            lean = read_sqlite_registry(uri, name)
            assert lean is not None and lean == registered_model(name, client), name
        assert registered_model("m") == registered_model("m", client)  # the default path
        assert registered_model("m")[0] == expected_aliases

    client.create_registered_model("m")
    agree({})
    for _ in range(3):
        client.create_model_version("m", source=tmp_path.as_uri(), run_id=None)
    client.set_registered_model_alias("m", CHAMPION, "1")
    client.set_registered_model_alias("m", CHALLENGER, "3")
    agree({CHAMPION: "1", CHALLENGER: "3"})
    client.set_registered_model_alias("m", PREVIOUS, "1")
    client.set_registered_model_alias("m", CHAMPION, "2")
    client.delete_registered_model_alias("m", CHALLENGER)
    client.set_registered_model_tag("m", "owner", "équipe données ✓")
    agree({CHAMPION: "2", PREVIOUS: "1"})
    state = RolloutState(status="active", version="3", champion="2", stages=("shadow", 10.0),
                         salt="s", started_at=1.5).event("start", "me", "x" * 5000)  # fmt: skip
    write_state("m", state, client)
    assert read_state("m")[0] == read_state("m", client)[0]
    assert read_state("m")[0].version == "3" and read_state("m")[0].active
    client.delete_registered_model_tag("m", "owner")
    agree({CHAMPION: "2", PREVIOUS: "1"})
    client.create_registered_model("other")
    client.delete_registered_model("m")
    agree({})


def test_a_store_the_reader_does_not_know_goes_through_mlflow(tmp_path):
    """No registry tables (an empty or older file), a query string or another scheme: None, so
    MlflowClient answers (and migrates or raises as it always did)."""
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    assert empty.exists() and read_sqlite_registry(f"sqlite:///{empty}", "m") is None
    assert read_sqlite_registry(f"sqlite:///{empty}?timeout=5", "m") is None
    assert read_sqlite_registry("http://127.0.0.1:5000", "m") is None
    assert read_sqlite_registry("postgresql://u@localhost/db", "m") is None
