"""Serving stays lean: building the churn service the way `bentoml serve` does (its
bentofile's `service:`) and scoring a record load no training-only library, and few of the
pack's own modules.

The check runs as a served Bento would, as every test server does (tests/serve_set): packages
outside the serve set are not installed there, so importing them fails. In a development
install, where dask is installed, a use case's schemas still load no dask
(`shared.core.usecase.pandas_typing_only`: pandera would import it to build any schema)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.serve_set.sitecustomize import OUTSIDE_SERVE_SET
from tests.servers import serve_set_env

ROOT = Path(__file__).resolve().parents[1]
# Issue 22's list: none of them may load when the churn service is built and scores.
FORBIDDEN = (
    "optuna", "dask", "distributed", "matplotlib", "fairlearn", "statsmodels", "pytest",
    "schemathesis", "hypothesis",
)  # fmt: skip
MAX_OWN_MODULES = 30
# In the serve set, but not loaded when the registry is a SQLite file: serving reads aliases and
# rollout tags straight from it (shared/core/tracking.py `registered_model`), which saves each
# serving process (arbiter and worker) about 2 CPU-s at start.
NOT_FOR_A_SQLITE_REGISTRY = ("mlflow", "sqlalchemy", "alembic")

_SCRIPT = """
import asyncio, importlib, json, sys
assert type(sys.meta_path[0]).__name__ == "OutsideServeSet"  # tests/serve_set/sitecustomize.py
module, attr = sys.argv[1].split(":")
svc = getattr(importlib.import_module(module), attr)
from shared.serve.services import example_payload
from shared.core.usecase import get_use_case
api = svc.apis["predict"]
records = api.input_spec.model_validate(example_payload(get_use_case("churn"), 1)).records
answer = asyncio.run(svc.inner().predict(records=records, ctx=None))
own = sorted(m for m in sys.modules if m.split(".")[0] in ("shared", "usecases"))
print(json.dumps({"answer": [a.model_dump(mode="json") for a in answer], "own": own,
                  "loaded": sorted(m.split(".")[0] for m in sys.modules)}))
"""


def test_churn_service_builds_and_scores_without_training_libraries(trained, tmp_path):
    tag = trained("churn").bento_tag
    target = yaml.safe_load((ROOT / "usecases/churn/bentofile.yaml").read_text())["service"]
    env = serve_set_env({
        **os.environ,
        "PILOTPACK_MODEL_CHURN": tag,
        "PILOTPACK_PREDICTION_LOG": str(tmp_path / "predictions.db"),
        "PYTHONPATH": str(ROOT),
    })  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT, target],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(seen["answer"]) == 1 and seen["answer"][0]["variant"] == "champion"
    assert set(FORBIDDEN) <= set(OUTSIDE_SERVE_SET)  # importing one of them fails, as in a Bento
    assert not set(OUTSIDE_SERVE_SET) & set(seen["loaded"]), set(OUTSIDE_SERVE_SET) & set(
        seen["loaded"]
    )
    assert os.environ["MLFLOW_TRACKING_URI"].startswith("sqlite:///")  # the session's store
    assert not set(NOT_FOR_A_SQLITE_REGISTRY) & set(seen["loaded"])
    assert len(seen["own"]) <= MAX_OWN_MODULES, (len(seen["own"]), seen["own"])


def test_a_development_install_builds_a_service_without_importing_dask():
    """dask is installed here (Dask batch work), and pandera imports it to build a schema unless
    told that its dask annotations are absent: 0.45 CPU-s of every `pilotpack` command and
    `bentoml serve` process. Schemas still validate and still reject."""
    assert importlib.util.find_spec("dask") is not None  # else the check below says nothing
    out = subprocess.run(
        [sys.executable, "-c", _DEV_SCRIPT], capture_output=True, text=True, cwd=ROOT,
        timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["dask"] == [] and seen["valid_rows"] == 50
    assert "tenure" in seen["rejected"] and "greater_than_or_equal_to(0)" in seen["rejected"]


_DEV_SCRIPT = """
import json, sys
import pandera.errors
from shared.serve.services import churn
from shared.core.usecase import get_use_case
uc = get_use_case("churn")
raw = uc.make_synthetic(50, 0)
valid = uc.raw_schema.validate(raw)
try:
    uc.raw_schema.validate(raw.assign(tenure=-1), lazy=True)
    rejected = ""
except pandera.errors.SchemaErrors as exc:
    rejected = str(exc)
print(json.dumps({"dask": sorted({m.split(".")[0] for m in sys.modules} & {"dask", "distributed"}),
                  "valid_rows": len(valid), "rejected": rejected}))
"""
