"""Test set-up: every test session gets its own MLflow store, BentoML home and report folder.

Real things only: a SQLite MLflow store in a temporary folder, BentoML's real model store,
onnxruntime sessions and `bentoml serve` subprocesses on free loopback ports.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def pytest_configure(config: pytest.Config) -> None:
    """Set before anything imports bentoml or mlflow, so no test touches the user's stores.

    usecases/conftest.py re-exports this hook, so `pytest usecases/<name>/tests` is isolated
    too; the marker keeps one set of folders per process when both conftests load.
    """
    if os.environ.get("PILOTPACK_TEST_HOME") == str(os.getpid()):
        return
    os.environ["PILOTPACK_TEST_HOME"] = str(os.getpid())
    home = Path(tempfile.mkdtemp(prefix="pilotpack-tests-"))
    os.environ["BENTOML_HOME"] = str(home / "bentoml")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{home / 'mlflow.db'}"
    os.environ["PILOTPACK_HOME"] = str(home)
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")


def real_data(relative: str) -> Path:
    """A file under ../shared/data; skips when absent, fails instead in CI (PILOTPACK_REQUIRE_REAL_DATA=1)."""
    path = SHARED_DATA / relative
    if not path.exists():
        reason = f"real data file {path} is absent"
        if os.environ.get("PILOTPACK_REQUIRE_REAL_DATA") == "1":
            pytest.fail(reason + " and PILOTPACK_REQUIRE_REAL_DATA=1")
        pytest.skip(reason)
    return path
