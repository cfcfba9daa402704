"""Maintenance economics: alarm, inspect, or let it run to failure.

Business assumption: an unplanned failure costs `failure_cost` F (repair, scrap, downtime); an
inspection or planned intervention costs `intervention_cost` I and prevents the failure with
probability `prevention_rate` p. An alarm on an operation that would not have failed costs only
the inspection. So an alarm pays for itself when P(failure) x p x F > I. All three numbers come
from config.yaml.

The money policies compared: run to failure (never inspect, pay F for every failure),
inspect everything (pay I on every operation, and (1 - p) x F for the failures not prevented),
and the model's alarms at the profit-optimal threshold.

Fleet mode labels a failure on each of the `rows_per_failure` = H + 1 readings before it, so
there each positive reading carries 1 / (H + 1) of a failure's cost (see README).
"""

import numpy as np

from shared.config import Strict


class KpiConfig(Strict):
    failure_cost: float = 10_000.0
    intervention_cost: float = 500.0
    prevention_rate: float = 0.8
    min_recall: float = 0.0


def profit(
    y_true: np.ndarray, act: np.ndarray, cfg: KpiConfig, rows_per_failure: float = 1.0
) -> float:
    """Money saved against running to failure by intervening on the rows where `act` is True."""
    prevented = cfg.prevention_rate * float(np.sum(y_true[act])) / rows_per_failure
    return cfg.failure_cost * prevented - cfg.intervention_cost * float(np.sum(act))


def compute_kpis(
    y_true: np.ndarray,
    proba: np.ndarray,
    threshold: float,
    cfg: KpiConfig,
    rows_per_failure: float = 1.0,
) -> dict[str, float]:
    """Cost KPIs at `threshold`; money keys end in the currency unit."""
    act = proba >= threshold
    n, n_pos = len(y_true), float(np.sum(y_true))
    failures = n_pos / rows_per_failure
    run_to_failure = cfg.failure_cost * failures
    saved = profit(y_true, act, cfg, rows_per_failure)
    saved_everything = profit(y_true, np.ones_like(act), cfg, rows_per_failure)
    cost, cost_everything = run_to_failure - saved, run_to_failure - saved_everything
    caught = float(np.sum(y_true[act]))
    return {
        "savings_vs_run_to_failure_eur": saved,
        "expected_cost_eur": cost,
        "cost_run_to_failure_eur": run_to_failure,
        "cost_inspect_everything_eur": cost_everything,
        "savings_vs_inspect_everything_eur": cost_everything - cost,
        "savings_pct_vs_run_to_failure": 100 * saved / run_to_failure if run_to_failure else 0.0,
        "alarm_threshold": threshold,
        "alarms": float(np.sum(act)),
        "alarm_rate": float(np.mean(act)) if n else 0.0,
        "alarms_per_1000_operations": 1000 * float(np.mean(act)) if n else 0.0,
        "failures": failures,
        "failures_prevented_expected": cfg.prevention_rate * caught / rows_per_failure,
        "recall_at_threshold": caught / max(n_pos, 1.0),
        "precision_at_threshold": caught / max(float(np.sum(act)), 1.0),
    }


def kpi_gates(kpis: dict[str, float], cfg: KpiConfig) -> list[str]:
    """The alarms must beat both trivial policies and catch enough failures."""
    reasons = []
    if kpis["savings_vs_run_to_failure_eur"] <= 0:
        reasons.append(
            f"expected cost {kpis['expected_cost_eur']:.0f} is not below running to failure "
            f"({kpis['cost_run_to_failure_eur']:.0f})"
        )
    if kpis["savings_vs_inspect_everything_eur"] <= 0:
        reasons.append(
            f"expected cost {kpis['expected_cost_eur']:.0f} is not below inspecting everything "
            f"({kpis['cost_inspect_everything_eur']:.0f})"
        )
    if kpis["recall_at_threshold"] < cfg.min_recall:
        reasons.append(
            f"recall {kpis['recall_at_threshold']:.2f} at the chosen threshold is below "
            f"the floor {cfg.min_recall}"
        )
    return reasons
