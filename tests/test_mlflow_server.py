"""MLflow for a team: a real `mlflow server` on a throwaway PostgreSQL backend store with a
served artifact store, and the pack pointed at it by MLFLOW_TRACKING_URI only.

Training, registering, aliases (champion / challenger / previous), lineage tags, artifacts
through the server, and the model resolution the service and `pilotpack score` use.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest

from tests import loopback
from tests.conftest import train_fast
from tests.postgres import create_database, postgres_cluster
from tests.processes import PortTaken, on_a_free_port, port_taken, stop_group, wait_until


@pytest.fixture(scope="module")
def mlflow_server():
    with postgres_cluster() as cluster:
        backend = create_database(cluster, "mlflow").replace(
            "postgresql://", "postgresql+psycopg://"
        )
        artifacts = Path(tempfile.mkdtemp(prefix="pilotpack-mlartifacts-"))
        log_path = artifacts.parent / f"{artifacts.name}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        # As docs/mlflow.md runs it: no background job runner (MLflow 3's GenAI jobs; its ten
        # huey consumer processes cost ~40 CPU-s here and the pack queues no job).
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"

        def start(port: int) -> tuple[subprocess.Popen, str]:
            cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend,
                   "--artifacts-destination", artifacts.as_uri(), "--host", "127.0.0.1",
                   "--port", str(port), "--workers", "1"]  # fmt: skip
            with log_path.open("w") as log:
                proc = subprocess.Popen(
                    cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
                )
            url = f"http://127.0.0.1:{port}"

            def healthy() -> bool:
                """mlflow server answers /health"""
                if proc.poll() is not None:
                    tail = log_path.read_text(errors="replace")[-3000:]
                    if port_taken(tail):
                        raise PortTaken(url)
                    pytest.fail(f"mlflow server exited:\n{tail}")
                try:
                    return loopback.get(f"{url}/health", timeout=2).status_code == 200
                except httpx.TransportError:
                    return False

            try:
                wait_until(healthy, 180)
            except BaseException:
                stop_group(proc)
                raise
            return proc, url

        proc, url = on_a_free_port(start)
        try:
            yield url, artifacts
        finally:
            stop_group(proc, timeout=20)
            shutil.rmtree(artifacts, ignore_errors=True)
            log_path.unlink(missing_ok=True)


def test_training_registry_and_resolution_on_a_tracking_server(mlflow_server, tmp_path):
    """Run in a process of its own with its own BentoML store: the versions it registers on
    the server must not be mistaken for the session's (the store finds a model by version)."""
    url, artifacts = mlflow_server
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PILOTPACK_MODEL_", "MLFLOW_"))}
    env |= {"MLFLOW_TRACKING_URI": url, "BENTOML_HOME": str(tmp_path / "bentoml"),
            "PILOTPACK_HOME": str(tmp_path)}  # fmt: skip
    code = f"from tests.test_mlflow_server import scenario; scenario({str(artifacts)!r}, {str(tmp_path)!r})"
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=Path(__file__).parents[1],
                          capture_output=True, text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    assert "scenario passed" in done.stdout


def scenario(artifacts_dir: str, tmp: str) -> None:
    """Train, register, promote, roll back and resolve against MLFLOW_TRACKING_URI."""
    from mlflow import MlflowClient
    from mlflow.artifacts import download_artifacts

    from shared.core import tracking as champion
    from shared.core.store import load_model, save_model
    from shared.core.tracking import CHALLENGER, CHAMPION, PREVIOUS, promote, rollback
    from shared.core.usecase import get_use_case
    from shared.ops.batch import score_file

    url, artifacts, tmp_path = os.environ["MLFLOW_TRACKING_URI"], Path(artifacts_dir), Path(tmp)
    uc = get_use_case("churn")

    result = train_fast(uc)
    assert result.gates_passed, result.gate_reasons
    client = MlflowClient(url)
    model = client.get_registered_model("churn")
    assert model.aliases == {CHAMPION: "1", CHALLENGER: "1"}  # the first to pass serves

    # Lineage on the run, in PostgreSQL; artifacts through the server, on its disk.
    v1 = client.get_model_version("churn", "1")
    run = client.get_run(v1.run_id)
    for tag in ("git_sha", "data_sha256", "config_hash", "version.onnxruntime"):
        assert run.data.tags.get(tag), tag
    assert run.info.artifact_uri.startswith("mlflow-artifacts:/")
    evaluation = download_artifacts(run_id=run.info.run_id, artifact_path="evaluation.json",
                                    dst_path=str(tmp_path))  # fmt: skip
    assert Path(evaluation).stat().st_size > 0
    assert any(p.name == "evaluation.json" for p in artifacts.rglob("*"))

    # The service's resolution: the registry's champion -> the stored model of that version.
    assert champion.model_tag(uc) == result.bento_tag

    # A second version (the same ONNX re-registered; a retrain would do the same) moves
    # through challenger -> champion -> rollback, and resolution follows the aliases.
    stored = load_model(result.bento_tag)
    model_id = v1.model_id or v1.source.removeprefix("models:/")  # MLflow 3's logged model
    v2 = client.create_model_version("churn", v1.source, run_id=v1.run_id, model_id=model_id)
    client.set_registered_model_alias("churn", CHALLENGER, v2.version)
    tag2 = save_model(
        "churn",
        stored.onnx_path.read_bytes(),
        stored.metadata | {"mlflow_version": v2.version},
        {},
    )
    assert champion.model_tag(uc) == result.bento_tag  # a challenger does not serve
    promote("churn", reason="test on a tracking server")
    aliases = client.get_registered_model("churn").aliases
    assert aliases[CHAMPION] == v2.version and aliases[PREVIOUS] == "1"
    assert client.get_model_version("churn", v2.version).tags["promoted_reason"]
    assert champion.model_tag(uc) == tag2

    data = tmp_path / "records.csv"
    uc.make_synthetic(200, 3).drop(columns=[uc.target]).head(20).to_csv(data, index=False)
    summary = score_file(uc, data, tmp_path / "scores.csv")
    assert (summary.model_version, summary.model_tag, summary.scored) == (v2.version, tag2, 20)

    rollback("churn", reason="test")
    assert client.get_registered_model("churn").aliases[CHAMPION] == "1"
    assert champion.model_tag(uc) == result.bento_tag
    print("scenario passed")
