"""The `pilotpack` command as a user runs it: a subprocess, real stores from conftest's env."""

from __future__ import annotations

import json
import subprocess
import sys

from shared.usecase import get_use_case
from tests.helpers import fast_overrides

UC = get_use_case("churn")


def pilotpack(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shared.cli", *args], capture_output=True, text=True, timeout=300
    )


def _sets() -> list[str]:
    return [a for o in fast_overrides(UC) for a in ("--set", o)]


def test_help_imports_no_heavy_library():
    code = "import sys, shared.cli; heavy = {'mlflow', 'sklearn', 'skl2onnx', 'bentoml', 'pandas'} & set(sys.modules); print(sorted(heavy))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert "train" in pilotpack("--help").stdout


def test_list_shows_every_registered_use_case():
    assert "churn" in pilotpack("list").stdout


def test_train_json_last_line_has_the_documented_fields(tmp_path):
    data = tmp_path / "customers.parquet"
    UC.make_synthetic(2500, 11).to_parquet(data)
    r = pilotpack("train", "churn", "--data", str(data), "--json", *_sets())
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["use_case"] == "churn" and summary["model_version"]
    assert 0.5 < summary["metrics"]["roc_auc"] <= 1
    assert "expected_profit_eur" in summary["kpis"]
    assert summary["parity_max_abs_diff"] <= 1e-4
    assert summary["gates"] == {"passed": True, "reasons": []}


def test_failed_gates_exit_non_zero_with_reasons():
    r = pilotpack("train", "churn", "--json", *_sets(), "--set", "gates.min_roc_auc=0.999")
    assert r.returncode == 1
    assert json.loads(r.stdout.strip().splitlines()[-1])["gates"]["passed"] is False
    assert "below the floor 0.999" in r.stderr


def test_bad_config_and_bad_data_exit_2_with_a_clear_message(tmp_path):
    r = pilotpack("train", "churn", "--set", "kpi.contact_cots=1")
    assert r.returncode == 2 and "contact_cots" in r.stderr
    bad = tmp_path / "bad.csv"
    UC.make_synthetic(1500, 2).assign(Contract="Forever").to_csv(bad, index=False)
    r = pilotpack("train", "churn", "--data", str(bad))
    assert r.returncode == 2 and "Contract" in r.stderr and "Forever" in r.stderr
    r = pilotpack("train", "churn", "--data", str(tmp_path / "missing.csv"))
    assert r.returncode == 2 and "not found" in r.stderr
    assert pilotpack("train", "nope").returncode == 2
