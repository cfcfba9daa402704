"""Confidence-based performance estimation (shared/core/performance.py `cbpe`): the AUC and
confusion matrix expected from calibrated probabilities, before any outcome arrives.

The world is built so the truth is known: outcomes are drawn from the very probabilities the
"model" outputs (calibrated by construction), then the inputs shift (covariate shift, the
link unchanged) or the link changes (concept drift, CBPE's documented blind spot).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from shared.core.performance import cbpe, classifier_metrics, estimated_auc
from shared.core.usecase import get_use_case
from shared.ops.monitoring.monitor import run
from shared.ops.monitoring.pages import monitor_page


def world(n: int, shift: float, seed: int, slope: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    """(calibrated probability of the model, outcome drawn with the true link's `slope`)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0 + 0.3 * shift, n)
    model_p = 1 / (1 + np.exp(-(-1.0 + 1.5 * x)))
    true_p = 1 / (1 + np.exp(-(-1.0 + slope * x)))
    return model_p, (rng.random(n) < true_p).astype(float)


@pytest.mark.parametrize("shift", [0.0, 0.5, 1.0, -0.8])
def test_estimate_follows_realised_auc_under_covariate_shift(shift: float) -> None:
    p, y = world(20_000, shift, seed=int(10 * abs(shift)) + 7)
    realised = roc_auc_score(y, p)
    estimate = estimated_auc(p)
    assert estimate is not None
    assert abs(estimate - realised) <= 0.03, (shift, estimate, realised)


def test_covariate_shift_moves_the_estimate() -> None:
    """The estimate is not a constant: a wider input range raises the expected AUC."""
    base, _ = world(20_000, 0.0, seed=1)
    wide, _ = world(20_000, 1.0, seed=2)
    assert estimated_auc(wide) - estimated_auc(base) > 0.02  # type: ignore[operator]


def test_expected_confusion_matrix_matches_the_realised_one() -> None:
    p, y = world(50_000, 0.3, seed=3)
    est = cbpe(p, threshold=0.4)
    real = classifier_metrics(y, p, 0.4)
    assert abs(est["precision"] - real["precision"]) < 0.01  # type: ignore[operator]
    assert abs(est["recall"] - real["recall"]) < 0.01  # type: ignore[operator]
    assert abs(est["expected_rate"] - y.mean()) < 0.01  # type: ignore[operator]


def test_expected_kpi_is_the_mean_over_outcomes_drawn_from_the_probabilities() -> None:
    """A KPI linear in the outcomes: its expectation is known in closed form (sum of p)."""
    p, _ = world(5_000, 0.0, seed=4)

    def kpis(y: np.ndarray, s: np.ndarray, t: float) -> dict[str, float]:
        return {"caught": float(y[s >= t].sum())}

    est = cbpe(p, threshold=0.5, kpis=kpis, draws=200)
    exact = float(p[p >= 0.5].sum())
    assert abs(est["kpi_caught"] - exact) / exact < 0.01  # type: ignore[operator]


def test_blind_spot_concept_drift_is_not_seen() -> None:
    """The link weakens (slope 1.5 -> 0.3): realised AUC falls, the estimate does not move."""
    p, y = world(20_000, 0.0, seed=5, slope=0.3)
    assert roc_auc_score(y, p) < estimated_auc(p) - 0.1  # type: ignore[operator]


def test_degenerate_windows_give_no_estimate() -> None:
    assert estimated_auc(np.array([0.3])) is None
    assert estimated_auc(np.full(50, 0.2)) is None
    assert cbpe(np.array([]), 0.5)["roc_auc"] is None


def test_monitor_reports_the_estimate_beside_the_realised_figure(
    trained: Callable[[str], Any], tmp_path: Path
) -> None:
    """`pilotpack monitor` on a labelled churn window: the estimate is labelled as one and
    lands near the AUC the outcomes give (the champion is calibrated on this generator)."""
    trained("churn")
    uc = get_use_case("churn")
    path = tmp_path / "window.parquet"
    uc.make_synthetic(3000, 99).to_parquet(path, index=False)
    report = run(uc, uc.load_config(), data=path)
    est = report["estimated"]
    assert "estimated" in est["label"] and "concept drift" in est["label"]
    assert abs(est["roc_auc"] - report["performance"][0]["realised"]) <= 0.03
    assert "Estimated performance (before outcomes)" in monitor_page(report)
