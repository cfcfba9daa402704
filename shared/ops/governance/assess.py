"""The governance step of a training run: fairness, global explanations, and the curves the
HTML report plots. One call from shared/ops/training.py; every task goes through the same code
(a row-per-record task has its test rows in `fit.state`; a forecast has neither groups nor
rows of people, and gets its explanation from the global model's booster).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from shared.core.columns import sensitive_columns, undeclared_sensitive_inputs
from shared.ops.governance.fairness import assess_fairness
from shared.serve.explain import Explainer, explainer_files

# The rows a global explanation averages over, at most (`importance_rows`).
IMPORTANCE_ROWS = 5_000


@dataclass
class Assessment:
    """What the card, the report and the gates read."""

    fairness: dict[str, Any] = field(default_factory=dict)
    importance: dict[str, float] = field(default_factory=dict)
    importance_note: str = ""
    gate_reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    curves: dict[str, Any] = field(default_factory=dict)  # arrays for the plots, never reported
    explainer_files: dict[str, str] = field(default_factory=dict)

    def details(self) -> dict[str, Any]:
        """The reportable part (JSON report, MLflow evaluation.json, card)."""
        return {
            "fairness": self.fairness,
            "global_importance": self.importance,
            "governance_warnings": self.warnings,
        }


def assess(task: Any, uc: Any, cfg: Any, raw: pd.DataFrame, fit: Any) -> Assessment:
    out = Assessment()
    fair = cfg.fairness
    undeclared = undeclared_sensitive_inputs(uc, cfg)
    if undeclared:
        out.gate_reasons.append(
            f"sensitive column(s) {undeclared} are model inputs: drop them from the features or "
            "list them in config governance.use_sensitive (the card then says so)"
        )
    state = fit.state
    if {"X", "split", "chosen"} <= set(state):
        _tabular(task, uc, cfg, raw, fit, out)
    else:
        _global_model(fit, out)
    reasons = out.fairness.get("reasons", [])
    if fair.gate == "fail":
        out.gate_reasons += reasons
    else:
        out.warnings += reasons
    return out


def _tabular(task: Any, uc: Any, cfg: Any, raw: pd.DataFrame, fit: Any, out: Assessment) -> None:
    X, split, chosen = fit.state["X"], fit.state["split"], fit.state["chosen"]
    known = np.asarray(task.labelled(uc, raw), dtype=bool)
    y = np.asarray(task.labels(uc, raw))[known]
    raw_known = raw[known].reset_index(drop=True)
    y_test = y[split.test]
    raw_test = raw_known.iloc[split.test].reset_index(drop=True)
    baseline = fit.state.get("baseline")
    out.curves = {
        "y_test": y_test,
        "pred_test": chosen.test_pred,
        "chosen": chosen.name,
        "baseline_pred": None if baseline is None else baseline.test_pred,
        "baseline": None if baseline is None else baseline.name,
        "threshold": chosen.threshold,
    }
    out.fairness = assess_fairness(
        raw_test, sensitive_columns(uc), y_test, chosen.test_pred, chosen.threshold, cfg.fairness
    )
    num, cat = list(uc.numeric_features), list(uc.categorical_features)
    try:
        files = explainer_files(chosen.model, num, cat, X.iloc[split.train])
    except (KeyError, AttributeError, TypeError) as exc:  # a model family it does not know
        out.importance_note = f"no explanation for this model family ({exc})"
        return
    explainer = Explainer.from_files(files)
    X_test = X.iloc[split.test]
    out.importance = explainer.global_importance({c: X_test[c].to_numpy() for c in X_test})
    out.explainer_files = files
    out.importance_note = (
        "mean |TreeSHAP contribution| (log-odds) on the test part"
        if explainer.spec["kind"] == "lightgbm"
        else "mean |linear contribution| on the test part"
    ) + ("" if explainer.spec["classifier"] else ", in the target's units")


def _global_model(fit: Any, out: Assessment) -> None:
    """Forecast: the lag / season / holiday inputs' share of the global model's output, and
    the sample series the report draws as fan charts."""
    if fit.state.get("fan"):
        out.curves = {"fan": fit.state["fan"]}
    X = fit.state.get("X")
    booster = _booster(fit.model)
    if X is None or booster is None:
        out.importance_note = "no per-input explanation for this model"
        return
    rows = importance_rows(len(X))
    contrib = np.asarray(booster.predict(X.to_numpy(np.float64)[rows], pred_contrib=True))[:, :-1]
    mean = np.abs(contrib).mean(axis=0)
    names = list(X.columns)
    order = np.argsort(-mean, kind="stable")
    out.importance = {names[i]: round(float(mean[i]), 6) for i in order}
    sample = "" if len(rows) == len(X) else f" (a seeded sample of {len(rows):,} of {len(X):,})"
    out.importance_note = (
        "mean |TreeSHAP contribution| of each input to the latest forecasts (scaled sales)" + sample
    )


def importance_rows(n: int, cap: int = IMPORTANCE_ROWS, seed: int = 0) -> np.ndarray:
    """All n row positions, or a seeded sorted sample of `cap` of them.

    TreeSHAP costs about a millisecond a row for the forecaster's trees: on Walmart's 26,648
    latest rows it took 36 s, 40 % of the training run. Over 5,000 of 30,000 rows, each input's
    mean moved by 0.6-1.7 % of itself and the ranking held (tests/test_governance.py).
    """
    if n <= cap:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, cap, replace=False))


def _booster(model: Any) -> Any:
    """The LightGBM booster inside a fitted model or pipeline, if there is one."""
    for obj in (model, getattr(model, "model", None), getattr(model, "steps", None)):
        if obj is None:
            continue
        if hasattr(obj, "booster_"):
            return obj.booster_
        if isinstance(obj, list):
            for _, step in obj:
                if hasattr(step, "booster_"):
                    return step.booster_
    return None
