"""Forecast-error economics of a predicted number.

Business assumption: each unit predicted too high costs `over_cost`, each unit too low
`under_cost` (e.g. over-stock vs lost sales); both come from config.yaml. ADAPT: the cost
of an error in your business, and the gate on it. (A classifier's fork gets the --from use
case's kpi.py instead: the money of a decision.)
"""

from collections.abc import Callable

import numpy as np

from shared.core.config import Strict

# A number, not a decision: there is no threshold whose profit to price.
profit: Callable[..., float] | None = None


class KpiConfig(Strict):
    over_cost: float = 1.0  # ADAPT: cost of one unit predicted too high
    under_cost: float = 1.0  # ADAPT: cost of one unit predicted too low
    max_mae: float | None = None  # ADAPT: a gate on the mean absolute error, in target units


def compute_kpis(y_true: np.ndarray, pred: np.ndarray, cfg: KpiConfig) -> dict[str, float]:
    """Error cost of the predictions against predicting the mean; money keys end in _eur."""
    over = np.clip(pred - y_true, 0, None)
    under = np.clip(y_true - pred, 0, None)
    cost = float(cfg.over_cost * over.sum() + cfg.under_cost * under.sum())
    flat = np.full(len(y_true), float(np.mean(y_true)) if len(y_true) else 0.0)
    flat_cost = float(
        cfg.over_cost * np.clip(flat - y_true, 0, None).sum()
        + cfg.under_cost * np.clip(y_true - flat, 0, None).sum()
    )
    return {
        "error_cost_eur": cost,
        "error_cost_predict_mean_eur": flat_cost,
        "savings_vs_mean_eur": flat_cost - cost,
        "mae": float(np.mean(np.abs(pred - y_true))) if len(y_true) else 0.0,
    }


def kpi_gates(kpis: dict[str, float], cfg: KpiConfig) -> list[str]:
    """Every failed business gate as a sentence."""
    reasons = []
    if kpis["savings_vs_mean_eur"] <= 0:
        reasons.append("the model's error cost is not below predicting the mean")
    if cfg.max_mae is not None and kpis["mae"] > cfg.max_mae:
        reasons.append(f"MAE {kpis['mae']:.3f} is above the gate {cfg.max_mae}")
    return reasons
