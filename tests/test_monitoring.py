"""Drift (PSI with its epsilon, KS / chi-square against the stored sample), the live window
behind the PSI gauges, and `pilotpack monitor` on a file and on the prediction log."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from shared.core.config import MonitoringConfig
from shared.core.drift import (
    EPSILON,
    SAMPLE_FILE,
    CategoricalBins,
    NumericBins,
    drift_table,
    psi_from_shares,
    psi_samples,
)
from shared.serve.metrics import LiveWindow

UNIFORM_DECILES = [i / 10 for i in range(11)]


# --------------------------------------------------------------------------- PSI


def test_psi_of_identical_samples_is_about_zero():
    rng = np.random.default_rng(0)
    x = rng.normal(size=20_000)
    assert psi_samples(x, x) == pytest.approx(0, abs=1e-12)
    # two draws of the same distribution: only sampling noise (~ bins / n)
    assert psi_samples(x, rng.normal(size=20_000)) < 0.005


def test_psi_on_a_known_shift_matches_the_hand_worked_value():
    # Reference: uniform on [0, 1], deciles 0, 0.1, ..., 1 -> ten bins of 10 %.
    # Current: 20 % in each of the two lowest bins, 10 % in bins 3-8, nothing in bins 9-10.
    #   bins 1-2:  2 x (0.2 - 0.1) x ln(0.2 / 0.1)            = 0.2 x 0.693147 = 0.138629
    #   bins 3-8:  0
    #   bins 9-10: 2 x (1e-4 - 0.1) x ln(1e-4 / 0.1)  (epsilon) = 2 x 0.0999 x 6.907755 = 1.380170
    #   PSI = 1.518799
    current = np.r_[
        np.full(200, 0.05), np.full(200, 0.15), np.repeat(np.arange(2, 8) / 10 + 0.05, 100)
    ]
    bins = NumericBins.from_quantiles(UNIFORM_DECILES)
    assert bins.expected[:10] == pytest.approx([0.1] * 10)
    assert bins.psi(current) == pytest.approx(1.518799, abs=1e-5)
    # a mild shift: 12 % / 8 % in two bins -> 2 x 0.02 x ln(1.2/0.8)... worked per bin:
    # (0.12-0.1) ln(1.2) + (0.08-0.1) ln(0.8) = 0.003646 + 0.004463 = 0.008109
    assert psi_from_shares([0.1] * 10, [0.12, 0.08] + [0.1] * 8) == pytest.approx(
        0.008109, abs=1e-6
    )


def test_epsilon_keeps_empty_bins_finite_and_is_documented():
    assert EPSILON == 1e-4
    value = psi_from_shares([0.5, 0.5], [1.0, 0.0])
    assert math.isfinite(value)
    assert value == pytest.approx(
        (1 - 0.5) * math.log(1 / 0.5) + (1e-4 - 0.5) * math.log(1e-4 / 0.5)
    )


def test_categorical_psi_has_an_unseen_bucket():
    bins = CategoricalBins.from_shares({"a": 0.5, "b": 0.5})
    assert bins.psi(["a", "b"] * 50) == pytest.approx(0, abs=1e-12)
    shares = bins.shares(["a", "b", "zzz", "a"])
    assert shares.tolist() == [0.5, 0.25, 0.25]  # a, b, unseen
    assert bins.psi(["a", "b", "zzz", "a"]) > 0.2


def test_tied_deciles_and_missing_values_get_their_own_shares():
    # 30 % zeros by the deciles, then values up to 1; 20 % missing in training
    bins = NumericBins.from_quantiles([0, 0, 0, 0, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0], 0.2)
    assert bins.edges[0] == 0
    assert bins.expected[0] == pytest.approx(0.3 * 0.8)  # share at or below 0, of non-missing
    assert bins.expected[-1] == pytest.approx(0.2)  # missing bin
    assert bins.expected.sum() == pytest.approx(1)
    assert bins.shares(np.array([np.nan, 0.0, 0.95, 5.0]))[-1] == pytest.approx(0.25)


def test_drift_table_flags_by_psi_and_tests_against_the_sample():
    rng = np.random.default_rng(1)
    ref = rng.normal(size=5000)
    profile = {
        "numeric": {"x": {"quantiles": np.quantile(ref, np.linspace(0, 1, 11)).tolist(),
                          "missing_share": 0.0}},
        "categorical": {"c": {"a": 0.7, "b": 0.3}},
        "output_quantiles": np.quantile(ref, np.linspace(0, 1, 11)).tolist(),
    }  # fmt: skip
    sample = pd.DataFrame(
        {"x": ref[:2000], "c": ["a"] * 1400 + ["b"] * 600, "__score__": ref[:2000]}
    )
    same = {"x": rng.normal(size=3000), "c": np.array(["a"] * 2100 + ["b"] * 900)}
    rows = {
        r.feature: r
        for r in drift_table(profile, same, rng.normal(size=3000), sample, MonitoringConfig())
    }
    assert {r.flag for r in rows.values()} <= {"ok", "test"}
    assert rows["x"].test == "ks" and rows["c"].test == "chi2" and rows["score"].test == "ks"
    shifted = {"x": rng.normal(1.0, 1, size=3000), "c": np.array(["b"] * 3000)}
    rows = {r.feature: r for r in drift_table(profile, shifted, None, sample, MonitoringConfig())}
    assert rows["x"].flag == rows["c"].flag == "alert"
    assert rows["x"].p_value < 1e-6 and rows["c"].p_value < 1e-6
    assert "score" not in rows


# --------------------------------------------------------------------------- live window


def _bins() -> dict:
    return {
        "x": NumericBins.from_quantiles(UNIFORM_DECILES),
        "c": CategoricalBins.from_shares({"a": 0.5, "b": 0.5}),
        "score": NumericBins.from_quantiles(UNIFORM_DECILES),
    }


def test_live_window_psi_equals_the_batch_psi_on_the_same_records():
    rng = np.random.default_rng(2)
    window = LiveWindow("uc", "1", _bins(), size=1000, min_records=10, every=7)
    x, c, s = (
        rng.random(900) ** 2,
        rng.choice(["a", "b", "new"], 900, p=[0.6, 0.3, 0.1]),
        rng.random(900),
    )
    for i in range(0, 900, 3):  # requests of 3 records
        window.observe({"x": x[i : i + 3], "c": c[i : i + 3]}, s[i : i + 3])
    live = window.psi()
    assert window.filled == 900  # flushed every third request (9 >= 7 records)
    n = window.filled
    bins = _bins()
    assert live["x"] == pytest.approx(bins["x"].psi(x[:n]), abs=1e-9)
    assert live["c"] == pytest.approx(bins["c"].psi(c[:n]), abs=1e-9)
    assert live["score"] == pytest.approx(bins["score"].psi(s[:n]), abs=1e-9)


def test_live_window_is_bounded_and_forgets_old_records():
    window = LiveWindow("uc", "1", _bins(), size=100, min_records=10, every=1)
    for _ in range(300):  # old traffic: all in the first bin, unseen category
        window.observe({"x": np.array([0.01]), "c": np.array(["zzz"])}, np.array([0.01]))
    assert window.psi()["x"] > 1
    rng = np.random.default_rng(3)
    for _ in range(100):  # the last 100 records look like training
        window.observe({"x": rng.random(1), "c": rng.choice(["a", "b"], 1)}, rng.random(1))
    assert window.filled == 100 and window.counts.sum() == 100 * 3
    assert window.psi()["x"] < 0.3 and window.psi()["c"] < 0.1


# --------------------------------------------------------------------------- pilotpack monitor


@pytest.fixture(scope="module")
def churn(trained):
    return trained("churn")


@pytest.fixture
def pinned_churn(churn, monkeypatch, tmp_path):
    monkeypatch.setenv("PILOTPACK_MODEL_CHURN", churn.bento_tag)
    monkeypatch.setenv("PILOTPACK_PREDICTION_LOG", str(tmp_path / "predictions.db"))
    return churn


def drifted(raw: pd.DataFrame) -> pd.DataFrame:
    """New customers only, all on monthly contracts: tenure and contract drift."""
    out = raw.copy()
    out["tenure"] = (out["tenure"] % 3) + 1
    out["Contract"] = "Month-to-month"
    return out


def test_training_stores_a_parquet_reference_sample(churn):
    from shared.core.store import load_model

    stored = load_model(churn.bento_tag)
    sample = pd.read_parquet(stored.path / SAMPLE_FILE)
    assert 100 <= len(sample) <= 2000 and "__score__" in sample.columns
    assert set(sample.columns) - {"__score__"} <= set(json.loads((stored.path / "reference_profile.json").read_text())["numeric"]) | set(json.loads((stored.path / "reference_profile.json").read_text())["categorical"])  # fmt: skip


def test_monitor_on_a_file_prints_the_table_writes_json_and_exits_by_alert(pinned_churn, tmp_path):
    from shared.app.cli import app
    from shared.core.usecase import get_use_case

    uc = get_use_case("churn")
    raw = uc.make_synthetic(1500, 11)
    (tmp_path / "same.csv").write_text(raw.to_csv(index=False))
    (tmp_path / "new.csv").write_text(drifted(raw).to_csv(index=False))
    runner = CliRunner()
    ok = runner.invoke(app, ["monitor", "churn", "--data", str(tmp_path / "same.csv"),
                             "--out", str(tmp_path / "same.json"), "--json"])  # fmt: skip
    assert ok.exit_code == 0, ok.output
    report = json.loads(ok.output.strip().splitlines()[-1])
    assert report["alerts"] == [] and not report["retrain"]["due"]
    assert json.loads((tmp_path / "same.json").read_text())["rows"] == 1500
    assert {"tenure", "score"} <= {r["feature"] for r in report["drift"]}
    perf = report["performance"][0]  # the file has the target: realised figures on it
    assert perf["variant"] == "file" and perf["headline"] == "roc_auc" and perf["realised"] > 0.7
    bad = runner.invoke(app, ["monitor", "churn", "--data", str(tmp_path / "new.csv"),
                              "--out", str(tmp_path / "new.json"),
                              "--prom-file", str(tmp_path / "churn.prom")])  # fmt: skip
    assert bad.exit_code == 1, bad.output
    assert "PSI" in bad.output and "retraining due" in bad.output
    report = json.loads((tmp_path / "new.json").read_text())
    flagged = {r["feature"] for r in report["drift"] if r["flag"] == "alert"}
    assert "tenure" in flagged
    assert (
        'pilotpack_batch_psi{use_case="churn",feature="tenure"}'
        in (tmp_path / "churn.prom").read_text()
    )
    assert runner.invoke(app, ["monitor", "churn", "--since", "7d", "--last", "5"]).exit_code == 2
    assert runner.invoke(app, ["monitor", "churn", "--since", "seven"]).exit_code == 2


def test_monitor_reads_the_prediction_log_and_outcomes(pinned_churn, tmp_path):
    from shared.app.cli import app
    from shared.core.store import load_model
    from shared.core.usecase import get_use_case
    from shared.serve.factory import RecordPredictor
    from shared.serve.predlog import open_log

    uc = get_use_case("churn")
    cfg = uc.load_config()
    raw = uc.make_synthetic(1200, 12)
    predictor = RecordPredictor(uc.with_config(cfg), load_model(pinned_churn.bento_tag), cfg)
    scores = predictor.values(uc.build_features(raw))
    inputs = raw.drop(columns=[uc.target])
    log = open_log()
    now = time.time()
    version = pinned_churn.model_version
    log.write_predictions([
        (f"r{i}", now - 60 + i * 0.01, "churn", "champion", version, str(inputs.iloc[i]["customerID"]),
         0, json.dumps(inputs.iloc[i].to_dict(), default=str), None, float(scores[i]), 1.0, None)
        for i in range(len(raw))
    ])  # fmt: skip
    labels = uc.labels(raw)
    log.write_outcomes({"use_case": "churn", "request_id": f"r{i}", "value": float(labels[i])}
                       for i in range(len(raw)))  # fmt: skip
    log.close()
    result = CliRunner().invoke(app, ["monitor", "churn", "--last", "1000", "--json",
                                      "--out", str(tmp_path / "m.json")])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["rows"] == 1000
    assert report["drift"] and all(r["flag"] != "alert" for r in report["drift"])
    (perf,) = report["performance"]
    assert perf["variant"] == "champion" and perf["model_version"] == version
    assert perf["n"] == 1000 and perf["status"] == "ok" and perf["realised"] > 0.7


def test_retrain_compares_paired_on_the_same_rows():
    from shared.ops.monitoring.retrain import paired_difference

    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 800).astype(float)
    good = y * 0.5 + rng.random(800) * 0.5  # probabilities in [0, 1)
    worse = y * 0.1 + rng.random(800) * 0.5
    cmp = paired_difference("classifier", y, worse, good, n_boot=100)
    assert cmp["metric"] == "roc_auc" and cmp["gain"] < -0.05
    assert cmp["gain_ci"][0] <= cmp["gain"] <= cmp["gain_ci"][1] < 0
    same = paired_difference("classifier", y, good, good, n_boot=20)
    assert same["gain"] == 0 and same["gain_ci"] == [0, 0]
    reg = paired_difference("regression", y, y + 0.1, y + 0.3, n_boot=20)
    assert reg["metric"] == "mae" and reg["gain"] == pytest.approx(0.2)  # lower MAE = gain
