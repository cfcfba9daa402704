"""Retention-campaign economics.

Business assumption: contacting a customer (a call plus an offer) costs `contact_cost`; a
contacted customer who would have churned is kept with probability `retention_rate` and is
then worth `customer_value` (margin over the next year). Contacting a loyal customer only
costs the contact. All three numbers come from config.yaml.
"""

import numpy as np

from shared.core.config import Strict
from shared.core.evaluation import top_fraction_lift


class KpiConfig(Strict):
    contact_cost: float = 20.0
    retention_rate: float = 0.3
    customer_value: float = 600.0


def profit(y_true: np.ndarray, act: np.ndarray, cfg: KpiConfig) -> float:
    """Expected money made by contacting the rows where `act` is True."""
    kept = cfg.retention_rate * cfg.customer_value * float(np.sum(y_true[act]))
    return kept - cfg.contact_cost * float(np.sum(act))


def compute_kpis(
    y_true: np.ndarray, proba: np.ndarray, threshold: float, cfg: KpiConfig
) -> dict[str, float]:
    """Campaign KPIs at `threshold`; money keys end in the currency unit."""
    act = proba >= threshold
    everyone = np.ones_like(act)
    at_threshold = profit(y_true, act, cfg)
    all_contacted = profit(y_true, everyone, cfg)
    caught = float(np.sum(y_true[act]))
    return {
        "expected_profit_eur": at_threshold,
        "profit_contact_nobody_eur": 0.0,
        "profit_contact_everyone_eur": all_contacted,
        "profit_vs_nobody_eur": at_threshold,
        "profit_vs_everyone_eur": at_threshold - all_contacted,
        "profit_optimal_threshold": threshold,
        "customers_to_contact": float(np.sum(act)),
        "contact_rate": float(np.mean(act)),
        "churners_reached": caught,
        "recall_at_threshold": caught / max(float(np.sum(y_true)), 1.0),
        "precision_at_threshold": caught / max(float(np.sum(act)), 1.0),
        "top_decile_lift": top_fraction_lift(y_true, proba, 0.1),
    }


def kpi_gates(kpis: dict[str, float], cfg: KpiConfig) -> list[str]:
    """The campaign must beat both trivial policies; returns the reasons it does not."""
    reasons = []
    if kpis["profit_vs_nobody_eur"] <= 0:
        reasons.append(
            f"profit {kpis['expected_profit_eur']:.0f} is not above contacting nobody (0)"
        )
    if kpis["profit_vs_everyone_eur"] <= 0:
        reasons.append(
            f"profit {kpis['expected_profit_eur']:.0f} is not above contacting everyone "
            f"({kpis['profit_contact_everyone_eur']:.0f})"
        )
    return reasons
