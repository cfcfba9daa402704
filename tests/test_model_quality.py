"""Model quality machinery: the budgeted search never loses to LightGBM's defaults on its
folds, blends and calibrators are ONE ONNX graph with parity, calibration is applied only
when it helps out of fold, explanations of a blend add up, repeated splits are summarised."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shared.core.calibration import Calibrator, Combined, choose_calibrator, fit_calibrator, logit
from shared.core.config import LightGBMParams, LogisticParams, RidgeParams, SearchConfig
from shared.core.onnx_export import (
    features_frame,
    make_feed,
    make_tabular_classifier,
    make_tabular_regressor,
    session,
    to_onnx,
)

NUM, CAT = ["a", "b"], ["c"]


def _data(n: int = 1500, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    raw = {
        "a": rng.normal(5000, 100, n),  # large magnitudes: the float32 threshold pitfall
        "b": rng.normal(size=n),
        "c": rng.choice(["x", "y", "z"], n),
    }
    X = features_frame(raw, NUM, CAT)
    logits = (X["a"] - 5000) / 60 + 1.5 * X["b"] ** 2 - 1 + (X["c"] == "x")
    return X, (logits + rng.logistic(size=n) > 0).to_numpy().astype(np.int64)


@pytest.fixture(scope="module")
def fitted() -> tuple[pd.DataFrame, np.ndarray, list]:
    X, y = _data()
    parts = [
        make_tabular_classifier(LightGBMParams(n_estimators=60), NUM, CAT).fit(X, y),
        make_tabular_classifier(LogisticParams(), NUM, CAT).fit(X, y),
    ]
    return X, y, parts


@pytest.mark.parametrize("method", ["identity", "platt", "isotonic"])
@pytest.mark.parametrize("blend", [False, True])
def test_blend_and_calibrator_are_one_onnx_graph_with_parity(fitted, method, blend):
    X, y, parts = fitted
    parts = parts if blend else parts[:1]
    w = [1 / len(parts)] * len(parts)
    cal = fit_calibrator(method, Combined(parts, w).score(X), y)
    model = Combined(parts, w, cal)
    sess = session(to_onnx(model, NUM, CAT))
    out = sess.run(None, make_feed({c: X[c].to_numpy() for c in X}, NUM, CAT))
    native = model.predict_proba(X)[:, 1]
    assert np.abs(out[1][:, 1] - native).max() < 1e-5
    assert np.allclose(out[1].sum(axis=1), 1.0)
    clear = np.abs(native - 0.5) > 1e-6  # an isotonic plateau may sit exactly on 0.5
    assert (out[0] == model.predict(X))[clear].all()
    if method == "isotonic":  # knots far enough apart that float32 inputs cannot jump steps
        assert np.diff(cal.knots_x).min() >= 0.05 and np.all(np.diff(cal.knots_y) >= 0)


def test_regression_blend_is_one_graph_with_parity():
    X, y = _data(800)
    target = (X["a"] - 5000).to_numpy() / 10 + 3 * X["b"].to_numpy() + y
    parts = [
        make_tabular_regressor(LightGBMParams(n_estimators=40), NUM, CAT).fit(X, target),
        make_tabular_regressor(RidgeParams(), NUM, CAT).fit(X, target),
    ]
    model = Combined(parts, [0.5, 0.5], classifier=False)
    sess = session(to_onnx(model, NUM, CAT, classifier=False))
    out = sess.run(None, make_feed({c: X[c].to_numpy() for c in X}, NUM, CAT))[0][:, 0]
    assert np.abs(out - model.predict(X)).max() < 1e-3


def test_calibration_is_applied_only_when_it_helps_out_of_fold():
    rng = np.random.default_rng(1)
    z = rng.normal(0, 2, 4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(-z))).astype(int)  # z is already calibrated
    cal, scores = choose_calibrator(z, y, ["platt", "isotonic"])
    assert cal.method == "identity" or abs(cal.a - 1) < 0.05, scores
    cal, scores = choose_calibrator(3 * z + 1, y, ["platt"])  # overconfident and shifted
    assert cal.method == "platt" and scores["platt_log_loss"] < scores["identity_log_loss"]
    assert cal.a == pytest.approx(1 / 3, abs=0.05)
    assert Calibrator()(np.array([0.0]))[0] == 0.5
    assert np.allclose(logit(Calibrator()(np.array([-3.0, 2.0]))), [-3.0, 2.0])


def test_search_never_loses_to_lightgbm_defaults_on_its_folds():
    from shared.core.search import DEFAULTS, search_lightgbm
    from shared.core.splits import cv_folds

    X, y = _data(1200, seed=3)
    design = make_tabular_classifier(DEFAULTS, NUM, CAT).named_steps["features"].fit_transform(X)
    folds = cv_folds("stratified", 3, 0, y)
    budget = SearchConfig(trials=5, timeout_s=30, max_estimators=300, early_stopping_rounds=20)
    res = search_lightgbm(np.asarray(design), y, folds, LightGBMParams(), budget, classifier=True)
    assert res.trials == 5
    assert res.cv_score >= max(res.defaults_score, res.configured_score)
    assert res.source in {"defaults", "configured", "search"}
    if res.source == "defaults":
        assert res.params == DEFAULTS


def test_explanations_of_a_calibrated_blend_add_up_to_its_log_odds(fitted):
    from shared.serve.explain import Explainer, explainer_files

    X, y, parts = fitted
    model = Combined(parts, [0.5, 0.5], Calibrator("platt", 0.8, -0.2))
    explainer = Explainer.from_files(explainer_files(model, NUM, CAT, X))
    contrib, base = explainer.explain({c: X[c].to_numpy() for c in X})
    p = model.predict_proba(X)[:, 1]
    assert np.abs(base + contrib.sum(axis=1) - logit(p)).max() < 1e-6
    with pytest.raises(TypeError):  # isotonic is not additive: no explanation, said so
        explainer_files(
            Combined(parts[:1], [1.0], Calibrator("isotonic", knots_x=[0, 1], knots_y=[0.2, 0.8])),
            NUM,
            CAT,
            X,
        )


def test_repeated_splits_are_summarised_with_the_paired_difference():
    from shared.tasks.tabular import summarise_repeats

    splits = [
        {"lgbm": {"auc": 0.80}, "lin": {"auc": 0.78}, "chosen": {"auc": 0.80}},
        {"lgbm": {"auc": 0.84}, "lin": {"auc": 0.85}, "chosen": {"auc": 0.85}},
        {"lgbm": {"auc": 0.82}, "lin": {"auc": 0.80}, "chosen": {"auc": 0.82}},
    ]
    s = summarise_repeats(splits, ("auc",), "lin")
    assert s["candidates"]["lgbm"]["auc"]["mean"] == pytest.approx(0.82)
    assert s["candidates"]["lgbm"]["auc"]["sd"] == pytest.approx(0.02)
    # chosen - baseline per split: +0.02, 0.00, +0.02
    assert s["paired"]["auc"]["mean_diff"] == pytest.approx(0.04 / 3)
    assert s["paired"]["auc"]["chosen_better"] == 2


def test_train_repeats_on_a_use_case_reports_every_candidate():
    from shared.core.usecase import get_use_case
    from tests.conftest import fast_overrides

    uc = get_use_case("churn")
    cfg = uc.load_config(fast_overrides(uc))
    uc = uc.with_config(cfg)
    raw = uc.make_synthetic(2500, 0)
    summary = uc.task.training.repeated_splits(uc, cfg, raw, 2, lambda m: None)
    assert summary["splits"] == 2
    assert {"lightgbm", "logistic", "blend", "chosen"} <= set(summary["candidates"])
    assert 0.5 < summary["candidates"]["chosen"]["roc_auc"]["mean"] <= 1


@pytest.mark.parametrize(
    "name", ["churn", "lead_scoring", "predictive_maintenance", "predictive_maintenance_fleet"]
)
def test_every_classifier_config_calibrates_inside_the_parity_checked_graph(name):
    """Each classifier's config lists a calibrator: the run tries it on validation and, when it
    wins out of fold, puts it in the ONNX graph that the parity check scores (test above)."""
    from shared.core.usecase import get_use_case

    uc = get_use_case(name)
    assert uc.task.classifier
    assert "platt" in uc.load_config().model.calibration


def test_the_report_names_the_calibrator_its_scores_and_the_profit_it_moved():
    from shared.core.usecase import get_use_case
    from tests.conftest import train_fast

    uc = get_use_case("churn")
    result = train_fast(uc, ["model.calibration=[platt, isotonic]"], track=False)
    cal = result.details["calibration_applied"]
    text = "\n".join(uc.task.training.markdown(result))
    section = text.split("## Calibrator of the chosen model")[1].split("\n## ")[0]
    assert f"Applied: **{cal['method']}**" in section
    for name, key in (("none", "identity"), ("platt", "platt"), ("isotonic", "isotonic")):
        assert f"| {name} | {cal[f'{key}_log_loss']:.4f} |" in section
    assert "before calibration" in section and "after" in section
