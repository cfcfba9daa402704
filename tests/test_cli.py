"""The `pilotpack` command as a user runs it: a subprocess, real stores from conftest's env.
The runs that train go through the same command in this process (`in_process`): a subprocess
would import the training stack again for each (several seconds), and the exits, output and
stores they check are the same."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import bentoml
from mlflow import MlflowClient

from shared.app.cli.train import first_question
from shared.core.tracking import tracking_uri
from shared.core.usecase import get_use_case, registry
from tests.cli_runs import in_process
from tests.conftest import cli_sets

UC = get_use_case("churn")


def pilotpack(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shared.app.cli", *args], capture_output=True, text=True, timeout=300
    )


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def _stored(name: str) -> int:
    """How many models of this name BentoML's store holds."""
    from bentoml.exceptions import NotFound

    try:
        return len(bentoml.models.list(name))
    except NotFound:  # BentoML 1.4: no model of that name yet
        return 0


def _one_clear_line(r: subprocess.CompletedProcess[str]) -> str:
    """Exit code 2, no traceback, and exactly one non-empty line on stderr: that line."""
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    lines = _lines(r.stderr)
    assert len(lines) == 1, r.stderr
    return lines[0]


HEAVY = ("mlflow", "sklearn", "skl2onnx", "lightgbm", "onnxruntime", "statsforecast",
         "optuna", "dask", "distributed", "matplotlib", "fairlearn", "statsmodels",
         # BentoML's service machinery and model store (its exception classes are light: the
         # request path raises them, and the CLI imports that code at the top)
         "bentoml.models", "bentoml._internal.service", "bentoml._internal.cloud")  # fmt: skip


def test_help_imports_no_heavy_library():
    """`pilotpack --help` as a subprocess: every command group loads, no heavy library does."""
    code = (
        "import sys, runpy; sys.argv = ['pilotpack', '--help']\n"
        "try:\n    runpy.run_module('shared.app.cli', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        f"print(sorted(set({HEAVY!r}) & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "train" in out.stdout and "rollback" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout[-500:]


def test_one_rollback_command():
    """Stopping a rollout and restoring the previous champion are one verb: `rollback`."""
    assert "rollback" in pilotpack("rollback", "--help").stdout
    bad = pilotpack("rollout", "churn", "rollback")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_list_shows_every_use_case_with_its_whole_question():
    r = pilotpack("list")
    assert r.returncode == 0, r.stderr
    # The table wraps long questions over several lines of the row: join them back.
    rows: list[list[str]] = [[]]
    for line in r.stdout.splitlines():
        if line.startswith(("├", "└")):
            rows.append([])
        elif line.startswith("│"):
            rows[-1].append(line)
    shown = {}
    for row in filter(None, rows):
        cells = [[c.strip() for c in line.strip("│").split("│")] for line in row]
        name = "".join(c[0] for c in cells)
        shown[name] = " ".join(c[3] for c in cells if c[3])
    assert set(shown) == set(registry())
    for name, uc in registry().items():
        assert shown[name].endswith("?"), (name, shown[name])
        assert shown[name] == first_question(uc.question), (name, shown[name])
    assert shown["churn"] == (
        "Customer churn: which customers are about to leave, and whom should a retention "
        "campaign contact so that the offers pay for themselves?"
    )


def test_train_json_last_line_has_the_documented_fields_and_the_report_the_split(tmp_path):
    data = tmp_path / "customers.parquet"
    UC.make_synthetic(2500, 11).to_parquet(data)
    r = in_process("train", "churn", "--data", str(data), "--json", *cli_sets(UC))
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["use_case"] == "churn" and summary["model_version"]
    assert summary["registered"] is True and summary["bento_tag"].startswith("churn:")
    assert 0.5 < summary["metrics"]["roc_auc"] <= 1
    assert "expected_profit_eur" in summary["kpis"]
    assert summary["parity_max_abs_diff"] <= 1e-4
    assert summary["gates"] == {"passed": True, "reasons": []}
    split = summary["split"]
    assert split["kind"] == "stratified"
    assert split["train"] + split["valid"] + split["test"] == 2500
    # The Markdown report states the split kind and the size of each part.
    report = Path(re.search(r"report: (\S+)", r.stderr).group(1)).read_text()
    assert "- kind: `stratified`" in report
    for part in ("train", "valid", "test"):
        assert f"- {part}: {split[part]} rows" in report


def test_no_register_logs_the_run_but_registers_and_stores_nothing():
    client = MlflowClient(tracking_uri())
    versions_before = len(client.search_model_versions("name='churn'"))
    stored_before = _stored("churn")
    r = in_process("train", "churn", "--no-register", "--json", *cli_sets(UC))
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["registered"] is False
    assert summary["model_version"] == "" and summary["bento_tag"] == ""
    assert summary["gates"]["passed"] is True  # it would have been served: that is the point
    run = client.get_run(summary["run_id"])  # the experiment is logged ...
    assert run.data.tags["registered"] == "false"
    assert run.data.metrics["test_roc_auc"] > 0.5
    # ... but nothing can serve it.
    assert len(client.search_model_versions("name='churn'")) == versions_before
    assert _stored("churn") == stored_before


def test_failed_gates_exit_non_zero_with_reasons():
    r = in_process("train", "churn", "--json", *cli_sets(UC, "gates.min_roc_auc=0.999"))
    assert r.returncode == 1
    assert json.loads(r.stdout.strip().splitlines()[-1])["gates"]["passed"] is False
    assert "below the floor 0.999" in r.stderr


def test_bad_config_and_bad_data_exit_2_with_a_clear_message(tmp_path):
    # In this process (each stops before training: its own process would only import the
    # pack again); the last one by the real entry point, in a process of its own.
    r = in_process("train", "churn", "--set", "kpi.contact_cots=1")
    assert r.returncode == 2 and "contact_cots" in r.stderr and "Traceback" not in r.stderr
    bad = tmp_path / "bad.csv"
    UC.make_synthetic(1500, 2).assign(Contract="Forever").to_csv(bad, index=False)
    r = in_process("train", "churn", "--data", str(bad))
    assert r.returncode == 2 and "Contract" in r.stderr and "Forever" in r.stderr
    assert "Traceback" not in r.stderr
    assert "not found" in _one_clear_line(
        in_process("train", "churn", "--data", str(tmp_path / "missing.csv"))
    )
    assert "nope" in _one_clear_line(pilotpack("train", "nope"))


def test_a_config_error_met_during_training_is_one_line_not_a_traceback():
    # churn has no time column: the split cannot be by time (found only when the split runs).
    line = _one_clear_line(in_process("train", "churn", *cli_sets(UC, "split.kind=time")))
    assert "split.kind=time" in line and "time_column" in line


def test_a_file_read_as_one_column_names_the_likely_separator(tmp_path):
    data = tmp_path / "customers.csv"
    UC.make_synthetic(1500, 3).to_csv(data, sep=";", index=False)
    line = _one_clear_line(in_process("train", "churn", "--data", str(data)))
    assert "1 column read" in line and "is the separator ';'?" in line
    assert "data.reader.sep" in line


def test_bench_before_any_training_says_train_first_in_one_line(tmp_path):
    """Empty stores (a fresh clone that skipped `make demo`): no traceback, the command to run."""
    import os

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert MlflowClient(uri).search_registered_models() == []  # creates the empty registry
    env = os.environ | {"BENTOML_HOME": str(tmp_path / "bentoml"), "MLFLOW_TRACKING_URI": uri}
    r = subprocess.run(
        [sys.executable, "-m", "shared.app.cli", "bench", "churn", "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert "pilotpack train churn" in _one_clear_line(r)
