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

Remaining-useful-life mode has its own economics (`RulKpiConfig`, `compute_rul_kpis`, below).
"""

import numpy as np
from pydantic import Field

from shared.core.config import Strict
from shared.tasks.regression import phm08_scores


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


# ---- Remaining-useful-life mode -------------------------------------------------------------


class RulKpiConfig(Strict):
    """The `kpi` section of config_rul.yaml: costs of the replacement policy, and the gates.

    Business assumption: every reading (engine x cycle) is a decision point. The policy plans a
    replacement when the predicted RUL is at most `plan_margin` cycles (the lead time to book a
    slot, parts and crew). A replacement costs `maintenance_cost` plus `cycle_value` for every
    cycle of life it throws away; an engine that needed it (true RUL <= `plan_margin`) and did
    not get it fails unplanned and costs `failure_cost`. A reading that neither needs nor gets a
    replacement costs nothing.
    """

    failure_cost: float = Field(
        150_000.0, ge=0, description="EUR, one unplanned failure (repair, downtime)"
    )
    maintenance_cost: float = Field(
        40_000.0, ge=0, description="EUR, one planned replacement or overhaul"
    )
    cycle_value: float = Field(
        200.0, ge=0, description="EUR of useful life lost per cycle replaced too early"
    )
    plan_margin: float = Field(
        20.0, ge=0, description="cycles: a replacement is planned when predicted RUL <= this"
    )
    late_by: float = Field(
        10.0, ge=0, description="cycles: a prediction this much above the truth counts as late"
    )
    max_rmse: float = Field(30.0, gt=0, description="gate: RMSE in cycles must not exceed it")
    max_late_share: float = Field(
        0.5, ge=0, le=1, description="gate: share of late predictions must not exceed it"
    )


def compute_rul_kpis(y_true: np.ndarray, y_pred: np.ndarray, cfg: RulKpiConfig) -> dict[str, float]:
    """Error in cycles, the PHM08 score and the replacement policy's cost; money keys end in eur.

    `y_true` is the label the model learned (RUL capped at `rul_cap`): far from failure the
    wasted life of a too-early replacement is counted up to the cap only.
    """
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    n = len(y_true)
    d = y_pred - y_true
    scores = phm08_scores(y_true, y_pred)
    needed = y_true <= cfg.plan_margin
    planned = y_pred <= cfg.plan_margin
    missed = needed & ~planned
    replaced_at = cfg.maintenance_cost + cfg.cycle_value * np.maximum(y_true, 0.0)
    cost = float(np.sum(np.where(planned, replaced_at, 0.0)) + cfg.failure_cost * missed.sum())
    run_to_failure = cfg.failure_cost * float(needed.sum())
    perfect = float(np.sum(replaced_at[needed]))
    return {
        "mae_cycles": float(np.mean(np.abs(d))) if n else 0.0,
        "rmse_cycles": float(np.sqrt(np.mean(d * d))) if n else 0.0,
        "bias_cycles": float(np.mean(d)) if n else 0.0,
        "nasa_score": float(np.sum(scores)),
        "nasa_score_per_engine_row": float(np.mean(scores)) if n else 0.0,
        "late_share": float(np.mean(d > cfg.late_by)) if n else 0.0,
        "expected_cost_eur": cost,
        "cost_run_to_failure_eur": run_to_failure,
        "cost_perfect_foresight_eur": perfect,
        "savings_vs_run_to_failure_eur": run_to_failure - cost,
        "replacements_planned": float(planned.sum()),
        "replacements_needed": float(needed.sum()),
        "failures_missed": float(missed.sum()),
        "replacements_too_early": float(np.sum(planned & ~needed)),
    }


def rul_kpi_gates(kpis: dict[str, float], cfg: RulKpiConfig) -> list[str]:
    """The error must be small enough, rarely late, and the policy must beat running to failure."""
    reasons = []
    if kpis["rmse_cycles"] > cfg.max_rmse:
        reasons.append(
            f"RMSE {kpis['rmse_cycles']:.1f} cycles is above the ceiling {cfg.max_rmse:g}"
        )
    if kpis["late_share"] > cfg.max_late_share:
        reasons.append(
            f"{100 * kpis['late_share']:.1f} % of predictions are more than {cfg.late_by:g} "
            f"cycles late, above the ceiling {100 * cfg.max_late_share:g} %"
        )
    if kpis["replacements_needed"] > 0 and kpis["savings_vs_run_to_failure_eur"] <= 0:
        reasons.append(
            f"expected cost {kpis['expected_cost_eur']:.0f} is not below running to failure "
            f"({kpis['cost_run_to_failure_eur']:.0f})"
        )
    return reasons
