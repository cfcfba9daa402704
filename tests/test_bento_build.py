"""A built Bento carries its models: built from the test store, exported, imported into an
empty BENTOML_HOME, served with no registry, it scores; a missing model stops `bentoml serve`
at once with the command that trains it (shared/serve/services.py, `carry_models`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from shared.core.usecase import get_use_case, registry
from shared.ops.benchmark import Server
from shared.serve.services import example_payload
from tests.conftest import pinned, trained_model

pytestmark = pytest.mark.serve
ROOT = Path(__file__).resolve().parents[1]
UC = get_use_case("churn")


def bentoml(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> str:
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
    out = bentoml("build", "-f", bentofile, "--output", "tag", env=env)
    return next(x for x in out.splitlines() if x.startswith("__tag__:")).removeprefix("__tag__:")


def packed_models(tag: str) -> list[str]:
    info = json.loads(bentoml("get", tag, "-o", "json"))
    return sorted({m["tag"] for s in info["services"] for m in s["models"]} | set(info["models"]))


def test_a_missing_model_stops_serve_at_once_with_the_train_first_message():
    with (
        pytest.raises(RuntimeError, match=r"exited with [1-9]") as exc,
        Server(UC.service, env={f"PILOTPACK_MODEL_{UC.name.upper()}": "churn:notrained"}),
    ):
        pass
    # exited (no restart loop: that would be a TimeoutError), saying what to do
    assert "Train one first: `pilotpack train churn`" in str(exc.value)


def test_the_built_bento_serves_from_an_empty_store_without_a_registry(tmp_path):
    model = trained_model(UC.name)
    tag = build(f"usecases/{UC.name}/bentofile.yaml", pinned(UC, model.bento_tag))
    assert packed_models(tag) == [model.bento_tag]
    archive = tmp_path / "churn.bento"
    bentoml("export", tag, str(archive))
    empty = {
        "BENTOML_HOME": str(tmp_path / "empty-bentoml"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'no-registry.db'}",
        f"PILOTPACK_MODEL_{UC.name.upper()}": "",
    }
    bentoml("import", str(archive), env=empty)
    task = UC.task
    with Server(tag, env=empty, timeout=120) as server:
        r = httpx.post(server.url + task.route, json=example_payload(UC, 2), timeout=30)
    assert r.status_code == 200, r.text
    assert [b["model_version"] for b in r.json()] == [model.model_version] * 2


def test_the_root_bento_packs_a_model_for_every_use_case():
    env: dict[str, str] = {}
    for name, uc in registry().items():
        env |= pinned(uc, trained_model(name).bento_tag)
    tag = build("bentofile.yaml", env)
    assert packed_models(tag) == sorted(trained_model(n).bento_tag for n in registry())
