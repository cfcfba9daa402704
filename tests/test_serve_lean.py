"""Serving stays lean: building the churn service the way `bentoml serve` does (its
bentofile's `service:`) and scoring a record load no training-only library, and few of the
pack's own modules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = (
    "optuna", "dask", "distributed", "matplotlib", "fairlearn", "statsmodels", "pytest",
    "schemathesis", "hypothesis",
)  # fmt: skip
MAX_OWN_MODULES = 30

_SCRIPT = """
import importlib, json, sys
module, attr = sys.argv[1].split(":")
svc = getattr(importlib.import_module(module), attr)
from shared.serve.services import example_payload
from shared.core.usecase import get_use_case
api = svc.apis["predict"]
records = api.input_spec.model_validate(example_payload(get_use_case("churn"), 1)).records
answer = svc.inner().predict(records=records, ctx=None)
own = sorted(m for m in sys.modules if m.split(".")[0] in ("shared", "usecases"))
print(json.dumps({"answer": [a.model_dump(mode="json") for a in answer], "own": own,
                  "loaded": sorted(m.split(".")[0] for m in sys.modules)}))
"""


# Until the core layer reads only the named use case's folder and pandera stops pulling in
# dask (pandera.typing.dask), 79 modules load: drop this marker once they have landed.
@pytest.mark.xfail(
    reason="core: get_use_case loads every folder; pandera imports dask", strict=False
)
def test_churn_service_builds_and_scores_without_training_libraries(trained, tmp_path):
    tag = trained("churn").bento_tag
    target = yaml.safe_load((ROOT / "usecases/churn/bentofile.yaml").read_text())["service"]
    env = {
        **os.environ,
        "PILOTPACK_MODEL_CHURN": tag,
        "PILOTPACK_PREDICTION_LOG": str(tmp_path / "predictions.db"),
        "PYTHONPATH": str(ROOT),
    }
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT, target],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(seen["answer"]) == 1 and seen["answer"][0]["variant"] == "champion"
    assert not set(FORBIDDEN) & set(seen["loaded"]), set(FORBIDDEN) & set(seen["loaded"])
    assert len(seen["own"]) <= MAX_OWN_MODULES, (len(seen["own"]), seen["own"])
