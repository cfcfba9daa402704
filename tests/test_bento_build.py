"""A built Bento carries its models: built from the test store, exported, imported into an
empty BENTOML_HOME, served with no registry, it scores; a missing model stops `bentoml serve`
at once with the command that trains it (shared/serve/services.py, `carry_models`).

`bentoml build`, `import` and `serve` run as the user runs them, in processes of their own
(`import` into another BENTOML_HOME). Reading a built Bento's record and exporting it go
through the functions `bentoml get` and `bentoml export` call, in this process, on this
session's store: a subprocess would only import BentoML again for each (about a second)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import bentoml
import pytest
from bentoml._internal.container import construct_containerfile

from shared.core.usecase import get_use_case, registry
from shared.serve.services import example_payload
from tests import loopback
from tests.conftest import pinned, trained_model
from tests.serve_set.sitecustomize import OUTSIDE_SERVE_SET
from tests.servers import Server

pytestmark = pytest.mark.serve
ROOT = Path(__file__).resolve().parents[1]
UC = get_use_case("churn")


def bentoml_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "bentoml", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout


def build(bentofile: str, env: dict[str, str]) -> str:
    out = bentoml_cli("build", "-f", bentofile, "--output", "tag", env=env)
    return next(x for x in out.splitlines() if x.startswith("__tag__:")).removeprefix("__tag__:")


# The serve set (pyproject.toml's base dependencies) is what a Bento installs: no test runner,
# linter, fuzzer, auditor, tuner or cluster scheduler in a production image.
NOT_SERVED = ("pytest", "ruff", "schemathesis", "hypothesis", "pip-audit", "pip_audit",
              "actionlint", "optuna", "dask", "distributed")  # fmt: skip


def requirement_names(text: str) -> set[str]:
    """The lower-case distribution names in a requirements file (comments skipped)."""
    lines = (x.split("#")[0].strip() for x in text.splitlines())
    return {re.split(r"[=<>!~\[; ]", x, maxsplit=1)[0].lower() for x in lines if x}


def bento_info(tag: str) -> dict[str, Any]:
    """A built Bento's record as `bentoml get TAG -o json` prints it (tags as strings)."""
    return json.loads(json.dumps(bentoml.get(tag).info.to_dict(), default=str))


def bento_folder(tag: str) -> Path:
    """Where the session's store keeps a built Bento ($BENTOML_HOME/bentos/<name>/<version>)."""
    info = bento_info(tag)
    return Path(os.environ["BENTOML_HOME"]) / "bentos" / info["name"] / info["version"]


def bento_requirements(tag: str) -> set[str]:
    """The requirements a built Bento installs when containerized."""
    return requirement_names(
        (bento_folder(tag) / "env" / "python" / "requirements.txt").read_text()
    )


def test_the_serve_lock_holds_no_training_or_dev_tool():
    served = requirement_names((ROOT / "requirements-serve.lock").read_text())
    assert len(served) > 20
    assert {"bentoml", "onnxruntime", "mlflow-skinny", "prometheus_client"} <= served
    assert not {n for n in served if n.startswith(NOT_SERVED)}
    assert "mlflow" not in served  # the client (mlflow-skinny) reads the registry
    # tests/serve_set blocks these in every test server: none may be in what a Bento installs
    assert not served & set(OUTSIDE_SERVE_SET)


def packed_models(tag: str) -> list[str]:
    info = bento_info(tag)
    return sorted({m["tag"] for s in info["services"] for m in s["models"]} | set(info["models"]))


def test_a_missing_model_stops_serve_at_once_with_the_train_first_message():
    with (
        pytest.raises(RuntimeError, match=r"exited with [1-9]") as exc,
        Server(UC.service, env={f"PILOTPACK_MODEL_{UC.name.upper()}": "churn:notrained"}),
    ):
        pass
    # exited (no restart loop: that would be a TimeoutError), saying what to do
    assert "Train one first: `pilotpack train churn`" in str(exc.value)


@pytest.fixture(scope="module")
def churn_bento() -> str:
    """The churn Bento, built once for this module from the session's trained model."""
    return build(f"usecases/{UC.name}/bentofile.yaml", pinned(UC, trained_model(UC.name).bento_tag))


def test_the_built_bento_image_runs_as_non_root_with_auth_on(churn_bento):
    """The Dockerfile `bentoml containerize` builds from the churn Bento (no Docker daemon
    needed to render it): the last USER is `bentoml`, and PILOTPACK_AUTH=on is set."""
    with construct_containerfile(bentoml.get(churn_bento)) as (context, dockerfile):
        text = (Path(context) / dockerfile).read_text()
    users = [line.split()[1] for line in text.splitlines() if line.startswith("USER ")]
    assert users and users[-1] == "bentoml", users
    assert "ENV PILOTPACK_AUTH=$PILOTPACK_AUTH" in text and "ARG PILOTPACK_AUTH=on" in text


def test_the_built_bento_serves_from_an_empty_store_without_a_registry(tmp_path, churn_bento):
    model = trained_model(UC.name)
    tag = churn_bento
    assert packed_models(tag) == [model.bento_tag]
    installs = bento_requirements(tag)
    assert "bentoml" in installs and not {n for n in installs if n.startswith(NOT_SERVED)}
    archive = tmp_path / "churn.bento"
    bentoml.export_bento(tag, str(archive))
    empty = {
        "BENTOML_HOME": str(tmp_path / "empty-bentoml"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'no-registry.db'}",
        f"PILOTPACK_MODEL_{UC.name.upper()}": "",
    }
    bentoml_cli("import", str(archive), env=empty)
    task = UC.task
    with Server(tag, env=empty, timeout=120) as server:
        r = loopback.post(server.url + task.route, json=example_payload(UC, 2), timeout=30)
    assert r.status_code == 200, r.text
    assert [b["model_version"] for b in r.json()] == [model.model_version] * 2


def test_the_root_bento_packs_a_model_for_every_use_case():
    env: dict[str, str] = {}
    for name, uc in registry().items():
        env |= pinned(uc, trained_model(name).bento_tag)
    tag = build("bentofile.yaml", env)
    assert packed_models(tag) == sorted(trained_model(n).bento_tag for n in registry())


# A served Bento as a user runs it: no PILOTPACK_HOME, no MLFLOW_TRACKING_URI (the tests set both).
AS_DEPLOYED = {"PILOTPACK_HOME": "", "MLFLOW_TRACKING_URI": "", "PILOTPACK_PREDICTION_LOG": ""}
STATE = (".db", ".db-wal", ".key", "privacy-audit.jsonl")


def test_a_served_bento_keeps_its_state_in_the_data_folder_and_exports_none(tmp_path, churn_bento):
    """Served with PILOTPACK_DATA_DIR, scored and sent an outcome: the log and the pseudonym key
    are in the data folder, reading the (absent) registry creates no database anywhere, and
    `bentoml export` of the served Bento holds no database and no key (once, all three landed
    in the Bento's src/)."""
    data = tmp_path / "state"
    env = AS_DEPLOYED | {"PILOTPACK_DATA_DIR": str(data)}
    with Server(churn_bento, env=env, timeout=120) as server:
        r = loopback.post(server.url + UC.task.route, json=example_payload(UC, 2), timeout=30)
        assert r.status_code == 200, r.text
        outcome = {"outcomes": [{"request_id": r.headers["x-request-id"], "value": "Yes"}]}
        r = loopback.post(server.url + "/outcome", json=outcome, timeout=30)
        assert r.status_code == 200, r.text
    found = sorted(str(p.relative_to(data)) for p in data.rglob("*") if p.is_file())
    assert {"predictions.db", ".secrets/pseudonym.key"} <= set(found), found
    assert "mlflow.db" not in found  # a SQLite registry is read, never created, by serving
    archive = tmp_path / "served.bento"
    bentoml.export_bento(churn_bento, str(archive))
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert any(n.endswith("service.py") or n.endswith(".py") for n in names)
    assert [n for n in names if n.endswith(STATE) or ".secrets" in n] == []


def test_a_bento_keeps_its_state_beside_the_store_and_refuses_a_folder_inside_it(churn_bento):
    """With no data folder set, a served Bento writes beside BentoML's store
    ($BENTOML_HOME/pilotpack-data); a data folder set inside the Bento's source stops it."""
    default = Path(os.environ["BENTOML_HOME"]) / "pilotpack-data"
    with Server(churn_bento, env=AS_DEPLOYED, timeout=120) as server:
        r = loopback.post(server.url + UC.task.route, json=example_payload(UC, 1), timeout=30)
        assert r.status_code == 200, r.text
    assert (default / "predictions.db").is_file()
    src = bento_folder(churn_bento) / "src"
    with (
        pytest.raises(RuntimeError, match=r"exited with [1-9]|could not start") as exc,
        Server(churn_bento, env=AS_DEPLOYED | {"PILOTPACK_DATA_DIR": str(src)}, timeout=120),
    ):
        pass
    assert "refusing to write the prediction log inside the Bento's source folder" in str(exc.value)
    assert "PILOTPACK_DATA_DIR" in str(exc.value)
