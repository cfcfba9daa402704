"""The training report's part checks (issue 20, items 3, 4 and 7), each against a truth known by
construction: planted identical profiles, a drifting time-ordered file, a leaky column, a
part with no positive, and a sensitive column that carries the signal."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from shared.core.onnx_export import model_inputs
from shared.core.splits import Split, stratified_split
from shared.core.tracking import mlflow_client
from shared.core.usecase import registry
from shared.ops.report import markdown, parts_lines, result_tables, sensitive_costs, sensitive_lines
from shared.ops.training import load_raw, report_metrics
from shared.tasks.base import Fit
from shared.tasks.binary_training import BinaryTraining
from shared.tasks.tabular import (
    STRICT_DUPLICATES,
    Candidate,
    RunStopped,
    below_chance_diagnosis,
    feature_psi,
    identical_rows,
    make_split,
    part_checks,
    single_input_auc,
    split_problems,
)
from tests.conftest import real_data

CHURN = registry()["churn"]
NO_ID = replace(CHURN, id_column=None)  # a fork of a file with no customer id


def profiles(n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Churn-like raw rows with 40 profiles planted 6 times each (different customers, one
    profile, no id): the model inputs of planted rows are identical by construction."""
    raw = CHURN.make_synthetic(n, seed)
    rng = np.random.default_rng(seed)
    planted = rng.choice(n, 240, replace=False)
    raw.iloc[planted] = raw.iloc[np.repeat(planted[:40], 6)].to_numpy()
    return raw, model_inputs(CHURN, raw), CHURN.labels(raw)


def test_a_split_without_ids_keeps_planted_identical_profiles_in_one_part():
    raw, X, y = profiles(2000, 0)
    cfg = NO_ID.load_config()
    plain = stratified_split(y, 0.2, 0.2, cfg.split.seed)
    assert sum(p.failures for p in identical_rows(NO_ID, X, y, plain)) > 0  # the old leak
    split = make_split(NO_ID, cfg, raw, y, X)
    assert identical_rows(NO_ID, X, y, split) == []
    assert split_problems(NO_ID, cfg, X, y, split, binary=True) == []
    parts = part_checks(NO_ID, cfg, X, y, split, True, [])
    assert parts["identical_rows_across_parts"] == 0 and parts["warnings"] == []
    assert parts["repeated_input_rows"] >= 200  # 40 profiles x 5 extra copies, planted
    assert "- rows repeating an earlier row's inputs: " in "\n".join(parts_lines(parts))
    with_ids = part_checks(CHURN, cfg, X, y, split, True, identical_rows(CHURN, X, y, plain))
    assert "identical_rows_across_parts" not in with_ids  # ids tell the rows apart


def test_a_time_ordered_split_counts_identical_rows_and_stops_only_in_strict_mode():
    raw, X, y = profiles(2000, 1)
    cfg = NO_ID.load_config(["split.kind=row_order"])
    split = make_split(NO_ID, cfg, raw, y, X)
    repeated = identical_rows(NO_ID, X, y, split)
    count = sum(p.failures for p in repeated)
    assert count > 0
    assert split_problems(NO_ID, cfg, X, y, split, True, repeated) == []
    parts = part_checks(NO_ID, cfg, X, y, split, True, repeated)
    assert parts["identical_rows_across_parts"] == count
    assert STRICT_DUPLICATES in parts["warnings"][0]
    strict = NO_ID.load_config(["split.kind=row_order", "quality.max_duplicates_across_parts=0"])
    stop = split_problems(NO_ID, strict, X, y, split, True, repeated)
    assert stop and all("quality.max_duplicates_across_parts = 0" in str(p) for p in stop)
    loose = NO_ID.load_config(
        ["split.kind=row_order", f"quality.max_duplicates_across_parts={count}"]
    )
    assert split_problems(NO_ID, loose, X, y, split, True, repeated) == []


def drifting(n: int = 6000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, Split]:
    """A file in time order whose label rate climbs 4.8 % / 11.1 % / 30.8 % over the parts
    (row_order 60 / 20 / 20), with one input whose level moves with time and one that does not."""
    rng = np.random.default_rng(seed)
    part = np.repeat([0, 1, 2], [int(n * 0.6), int(n * 0.2), n - int(n * 0.6) - int(n * 0.2)])
    y = (rng.random(n) < np.array([0.048, 0.111, 0.308])[part]).astype(int)
    X = pd.DataFrame(
        {
            "rate": (rng.normal(size=n) + 1.5 * part).astype(np.float32),
            "noise": rng.normal(size=n).astype(np.float32),
        }
    )
    idx = np.arange(n)
    return X, y, Split(idx[part == 0], idx[part == 1], idx[part == 2])


def test_a_drifting_time_ordered_file_warns_and_is_diagnosed_as_drift_not_the_target():
    X, y, split = drifting()
    cfg = NO_ID.load_config(["split.kind=row_order"])
    parts = part_checks(NO_ID, cfg, X, y, split, True, [])
    rates = parts["label_rate"]
    assert rates["train"] < 0.06 and rates["test"] > 0.27
    assert list(parts["psi_train_test_top5"])[0] == "rate"
    assert parts["psi_train_test_top5"]["rate"] > 1 > 0.1 > parts["psi_train_test_top5"]["noise"]
    assert any("label rate moves from" in w for w in parts["warnings"])
    cause, advice = below_chance_diagnosis(
        parts, single_input_auc(X.iloc[split.train], y[split.train]), "row_order"
    )
    assert cause == "drift"
    assert "split.kind=stratified" in advice and "PSI train to test: rate " in advice
    lines = "\n".join(parts_lines(parts))
    assert "label rate (train / valid / test): 4." in lines and "top 5 inputs: rate " in lines
    # the same parts stratified: no warning (the label rate is the same in each part)
    same = part_checks(
        NO_ID, NO_ID.load_config(), X, y, stratified_split(y, 0.2, 0.25, 0), True, []
    )
    assert not same["warnings"]


def test_a_column_that_gives_the_label_away_is_diagnosed_as_leakage():
    X, y, split = drifting(seed=1)
    X["call_outcome"] = np.where(y == 1, "won", "lost")  # known only after the call
    X["duration"] = (y * 300 + np.random.default_rng(1).random(len(y))).astype(np.float32)
    parts = part_checks(NO_ID, NO_ID.load_config(), X, y, split, True, [])
    auc = single_input_auc(X.iloc[split.train], y[split.train])
    assert auc["call_outcome"] == pytest.approx(1.0) and auc["duration"] == pytest.approx(1.0)
    assert auc["noise"] < 0.6
    cause, advice = below_chance_diagnosis(parts, auc, "row_order")
    assert cause == "leakage" and "duration" in advice and "call_outcome" in advice


def test_a_part_with_no_positive_is_diagnosed_as_the_label():
    X, y, split = drifting(seed=2)
    y = y.copy()
    y[split.test] = 0
    parts = part_checks(NO_ID, NO_ID.load_config(), X, y, split, True, [])
    cause, advice = below_chance_diagnosis(parts, {}, "stratified")
    assert cause == "label" and "test" in advice and "positive label" in advice


def test_the_below_chance_stop_carries_the_diagnosis():
    X, y, split = drifting(seed=3)
    cfg = NO_ID.load_config(["split.kind=row_order"])
    parts = part_checks(NO_ID, cfg, X, y, split, True, [])
    zeros = np.zeros(1)
    chosen = Candidate("lightgbm", None, {}, 0.5, zeros, zeros, valid_score=0.491)
    task = BinaryTraining(CHURN.task)
    with pytest.raises(RunStopped, match=r"ROC AUC 0.491, below chance .*likely cause: drift"):
        task.check_chosen(chosen, parts, X.iloc[split.train], y[split.train], "row_order")
    chosen.valid_score = 0.62
    task.check_chosen(chosen, parts, X.iloc[split.train], y[split.train], "row_order")


def test_leaving_out_a_sensitive_column_that_carries_signal_shows_its_cost():
    raw = CHURN.make_synthetic(3000, 5)
    rng = np.random.default_rng(5)
    churned = raw["Churn"] == "Yes"
    # By construction gender tells churners apart (80 % of churners female, 20 % of others).
    raw["gender"] = np.where(rng.random(len(raw)) < np.where(churned, 0.8, 0.2), "Female", "Male")
    cfg = CHURN.load_config()
    X, y = model_inputs(CHURN, raw), CHURN.labels(raw)
    split = stratified_split(y, 0.2, 0.25, 0)
    chosen = Candidate("logistic", None, {"C": 1.0}, 0.0, np.zeros(0), np.zeros(0))
    fit = Fit(
        chosen="logistic",
        model=None,
        metrics={},
        kpis={},
        candidates=[],
        split={},
        profile={},
        details={"threshold": 0.5},
        state={"X": X, "split": split, "raw": raw, "chosen": chosen, "candidates": [chosen]},
    )
    costs = sensitive_costs(CHURN.task.training, CHURN, cfg, fit)
    assert set(costs) == {"gender", "SeniorCitizen", "gender + SeniorCitizen"}
    gender = costs["gender"]
    assert gender["roc_auc_cost"] > 0.03
    assert gender["roc_auc_with"] == pytest.approx(
        gender["roc_auc_without"] + gender["roc_auc_cost"]
    )
    assert abs(costs["SeniorCitizen"]["roc_auc_cost"]) < gender["roc_auc_cost"]
    # reading gender moves selection rates apart by gender: the price of the gain, in figures
    assert gender["dp_difference_with"] > gender["dp_difference_without"]
    assert gender["kpi"] == "expected_profit_eur" and "kpi_cost" in gender
    text = "\n".join(sensitive_lines(costs))
    assert "| gender | " in text and f"({gender['roc_auc_cost']:+.3f})" in text
    metrics = report_metrics({"sensitive_cost": costs, "parts": {"label_rate": {"test": 0.3}}})
    assert metrics["sensitive_roc_auc_cost_gender"] == gender["roc_auc_cost"]
    both = costs["gender + SeniorCitizen"]
    assert metrics["sensitive_roc_auc_cost_gender_SeniorCitizen"] == both["roc_auc_cost"] > 0.03
    assert "| gender + SeniorCitizen | " in text and "| - | - |" in text  # no per-group gaps
    assert metrics["label_rate_test"] == 0.3


def test_telco_read_without_its_id_keeps_identical_profiles_in_one_part():
    """The public Telco file as a fork with no id column sees it: 7,043 rows, 6,972 distinct
    input rows; a plain stratified split scores 24 rows it trained on, the grouped split none."""
    uc, cfg = NO_ID, NO_ID.load_config()
    raw, _ = load_raw(uc, cfg, real_data("churn/WA_Fn-UseC_-Telco-Customer-Churn.csv"))
    X, y = model_inputs(uc, raw), uc.labels(raw)
    plain = stratified_split(y, cfg.split.test_size, cfg.split.valid_size, cfg.split.seed)
    assert sum(p.failures for p in identical_rows(uc, X, y, plain)) == 24
    assert identical_rows(uc, X, y, make_split(uc, cfg, raw, y, X)) == []


def test_a_tracked_run_shows_the_parts_and_the_sensitive_cost_in_report_console_and_mlflow(
    trained,
):
    result = trained("churn")
    text = markdown(result)
    assert "- label rate (train / valid / test): " in text
    assert "- PSI train to test, top 5 inputs: " in text
    assert "## What leaving out each sensitive column costs (test part)" in text
    assert set(result.details["sensitive_cost"]) == {
        "gender",
        "SeniorCitizen",
        "gender + SeniorCitizen",
    }
    titles = [t.title for t in result_tables(result)]
    assert "churn: label rate and drift by part" in titles
    assert "churn: what leaving out each sensitive column costs (test part)" in titles
    metrics = mlflow_client().get_run(result.run_id).data.metrics
    assert metrics["label_rate_test"] == pytest.approx(
        result.details["parts"]["label_rate"]["test"]
    )
    assert "sensitive_roc_auc_cost_gender" in metrics and "psi_train_test_max" in metrics
    assert "## What leaving out" in result.documents["report.md"]  # the run's artifact


def test_a_drifting_file_in_time_order_stops_the_run_as_drift_not_check_the_target():
    """The whole fit on a file whose market moves: month-to-month customers churn on the early
    rows, the others on the late ones, and the label rate climbs across the file."""
    raw = CHURN.make_synthetic(3000, 7)
    part = np.repeat([0, 1, 2], [1800, 600, 600])  # row_order's 60 / 20 / 20
    risk = (raw["Contract"] == "Month-to-month").to_numpy()
    p = np.select(
        [part == 0, part == 1, part == 2],
        [np.where(risk, 0.08, 0.015), np.where(risk, 0.05, 0.2), np.where(risk, 0.15, 0.5)],
    )
    raw["Churn"] = np.where(np.random.default_rng(99).random(len(raw)) < p, "Yes", "No")
    overrides = [
        "split.kind=row_order",
        "quality.label_rate_min=0.01",
        "model.candidates=[{name: logistic, params: {kind: logistic}}]",
        "model.baseline=logistic",
        "model.blend=[]",
        "model.calibration=[]",
        "model.cv_folds=2",
    ]
    cfg = CHURN.load_config(overrides)
    with pytest.raises(RunStopped) as stop:
        CHURN.task.training.fit(CHURN, cfg, raw, lambda message: None)
    message = str(stop.value)
    assert "below chance" in message and "likely cause: drift: label rate 3.9 % / 14.3 %" in message
    assert "check the target" not in message


def test_train_to_test_psi_of_random_parts_stays_small_with_a_mass_of_tied_values():
    """A count with 45 % zeros, split at random: no drift by construction (decile shares alone
    read 0.7 on the leads file's `form_answers`)."""
    rng = np.random.default_rng(6)
    n = 9000
    counts = np.where(rng.random(n) < 0.45, 0, rng.poisson(3, n)).astype(np.float32)
    X = pd.DataFrame({"count": counts, "level": rng.choice(["a", "b", "c"], n)})
    idx = rng.permutation(n)
    drift = feature_psi(X, idx[:6000], idx[6000:])
    assert drift["count"] < 0.01 and drift["level"] < 0.01
    moved = counts.copy()
    moved[idx[6000:]] += 2  # every test row's count moves up by 2: drift by construction
    assert feature_psi(X.assign(count=moved), idx[:6000], idx[6000:])["count"] > 0.25
