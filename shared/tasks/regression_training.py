"""Training of task `regression`: the light part is shared/tasks/regression.py.

Candidates are tuned on RMSE by cross-validation that follows the split kind; the chosen
model has the lowest validation RMSE; every figure comes from the untouched test part; it
must pass the use case's KPI gates and not be significantly worse than the baseline
(paired bootstrap of the squared errors on the same test rows).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from shared.core.usecase import UseCase
from shared.tasks.base import Export, Fit, RunResult
from shared.tasks.tabular import Candidate, TabularTraining, kpi_markdown


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """MAE, RMSE, R², bias (mean of prediction - truth), in the target's units."""
    err = pred - y
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return {
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "r2": float(1 - np.sum(err**2) / ss_tot) if ss_tot > 0 else float("nan"),
        "bias": float(np.mean(err)),
        "rows": float(len(y)),
    }


def paired_bootstrap_rmse(
    y: np.ndarray, a: np.ndarray, b: np.ndarray, n_boot: int, seed: int
) -> dict[str, float]:
    """RMSE(a) - RMSE(b) on the same resampled rows; `p_worse` = P(a has the larger error)."""
    rng = np.random.default_rng(seed)
    ea, eb = (a - y) ** 2, (b - y) ** 2
    d = []
    for _ in range(n_boot):
        i = rng.integers(0, len(y), len(y))
        d.append(np.sqrt(ea[i].mean()) - np.sqrt(eb[i].mean()))
    d_arr = np.array(d)
    return {
        "rmse_diff": float(np.sqrt(ea.mean()) - np.sqrt(eb.mean())),
        "rmse_diff_ci_low": float(np.quantile(d_arr, 0.025)),
        "rmse_diff_ci_high": float(np.quantile(d_arr, 0.975)),
        "p_worse": float(np.mean(d_arr > 0)),
    }


class RegressionTraining(TabularTraining):
    """The training part of `regression` (shared/tasks/regression.py's `RegressionTask.training`)."""

    scoring = "neg_root_mean_squared_error"

    def label_rate(self, uc: UseCase) -> Any:
        return None  # no label rate for a number

    def predict(self, model: Any, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(model.predict(X), dtype=np.float64)

    def onnx_output(self, sess: Any, feed: dict[str, np.ndarray]) -> np.ndarray:
        return sess.run(None, feed)[0].reshape(-1).astype(np.float64)

    def evaluate_candidate(
        self, uc: UseCase, c: Candidate, y_valid: np.ndarray, y_test: np.ndarray, cfg: Any
    ) -> None:
        c.valid_score = -regression_metrics(y_valid, c.valid_pred)["rmse"]
        c.test_metrics = regression_metrics(y_test, c.test_pred)
        c.test_kpis = uc.compute_kpis(y_test, c.test_pred, cfg.kpi)

    def candidate_row(self, c: Candidate) -> dict[str, Any]:
        return {
            "name": c.name,
            "best_params": c.best_params,
            "cv_rmse": round(-c.cv_score, 4),
            "valid_rmse": round(-c.valid_score, 4),
            "test_mae": c.test_metrics["mae"],
            "test_rmse": c.test_metrics["rmse"],
            "test_r2": c.test_metrics["r2"],
            "test_kpis": c.test_kpis,
            "fit_seconds": round(c.seconds, 2),
        } | self.extras(c)

    def details(
        self, uc: UseCase, cfg: Any, chosen: Candidate, baseline: Candidate, y_test: np.ndarray
    ) -> dict[str, Any]:
        # The mean of the training target is the floor any model must clear.
        mean_rmse = float(np.sqrt(np.mean((y_test - y_test.mean()) ** 2)))
        g = cfg.gates
        return {
            "baseline": baseline.name,
            "baseline_comparison": paired_bootstrap_rmse(
                y_test, chosen.test_pred, baseline.test_pred, g.n_bootstrap, cfg.split.seed
            ),
            "predict_the_mean_rmse": mean_rmse,
        }

    def gates(self, uc: UseCase, cfg: Any, fit: Fit, export: Export) -> list[str]:
        g = cfg.gates
        reasons = list(uc.kpi_gates(fit.kpis, cfg.kpi))
        cmp, base = fit.details["baseline_comparison"], fit.details["baseline"]
        if fit.chosen != base and cmp["p_worse"] > 1 - g.baseline_alpha:
            reasons.append(
                f"{fit.chosen} is significantly worse than the baseline {base} "
                f"(RMSE difference {cmp['rmse_diff']:+.3f}, P(worse) = {cmp['p_worse']:.2f})"
            )
        floor = fit.details["predict_the_mean_rmse"]
        if not fit.metrics["rmse"] < floor:
            reasons.append(
                f"test RMSE {fit.metrics['rmse']:.3f} does not beat predicting the mean ({floor:.3f})"
            )
        return reasons

    # --------------------------------------------------------------------- report

    candidate_columns = ("candidate", "CV RMSE", "valid RMSE", "test MAE", "test RMSE", "test R²")

    def candidate_cells(self, c: dict[str, Any]) -> list[str]:
        keys = ("cv_rmse", "valid_rmse", "test_mae", "test_rmse", "test_r2")
        return [c["name"], *(f"{c[k]:.3f}" for k in keys)]

    def headline(self, result: RunResult) -> tuple[str, str]:
        return f"RMSE {result.metrics['rmse']:.3f}", f"MAE {result.metrics['mae']:.3f}"

    def markdown(self, result: RunResult) -> list[str]:
        lines = self.candidates_markdown(
            result,
            f"Predicting the mean of the test part gives RMSE {result.predict_the_mean_rmse:.3f}.",
        )
        lines += kpi_markdown(result.kpis)
        return lines
