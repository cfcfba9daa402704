"""Sales-team economics.

Business assumption: `leads_per_week` new leads arrive each week and the sales team can call
`calls_per_week` (K) of them. A call costs `cost_per_call` (a rep's time, follow-ups
included); a called lead who converts brings `value_per_conversion` (the margin of a course
sale). Today the team calls leads in arrival order, which is a random K as far as conversion
is concerned. Scores also go to the CRM as bands A/B/C/D (lower bounds in config). Every
number comes from config.yaml.
"""

import numpy as np
from pydantic import Field, model_validator

from shared.core.config import Strict

BANDS = ("A", "B", "C", "D")


class BandCutoffs(Strict):
    """Lowest probability of each band; D is everything below C."""

    A: float = Field(0.75, gt=0, le=1)
    B: float = Field(0.45, gt=0, le=1)
    C: float = Field(0.2, gt=0, le=1)

    @model_validator(mode="after")
    def _descending(self) -> "BandCutoffs":
        if not self.A > self.B > self.C:
            raise ValueError(f"band cut-offs must fall from A to C, got {self.model_dump()}")
        return self


class KpiConfig(Strict):
    leads_per_week: int = Field(500, ge=1)
    calls_per_week: int = Field(150, ge=1, description="K: calls the sales team can make a week")
    value_per_conversion: float = Field(250.0, gt=0, description="margin of one sale, EUR")
    cost_per_call: float = Field(30.0, ge=0, description="EUR")
    bands: BandCutoffs = BandCutoffs()


def assign_bands(proba: np.ndarray, cutoffs: BandCutoffs) -> np.ndarray:
    """A/B/C/D per probability; the same function labels the test part and the service's answers."""
    p = np.asarray(proba, dtype=np.float64)
    # the cut-offs fall from A to C (BandCutoffs checks it): the number of them a probability
    # reaches picks its band, in fewer numpy calls than np.select's (NaN reaches none: D)
    passed = (p >= cutoffs.A).astype(np.intp) + (p >= cutoffs.B) + (p >= cutoffs.C)
    return np.array(BANDS[::-1])[passed]


def profit(y_true: np.ndarray, act: np.ndarray, cfg: KpiConfig) -> float:
    """Money made by calling the rows where `act` is True (capacity ignored)."""
    conversions, calls = float(np.sum(y_true[act])), float(np.sum(act))
    return cfg.value_per_conversion * conversions - cfg.cost_per_call * calls


def top_k_rows(n: int, cfg: KpiConfig) -> int:
    """A week's K scaled to a pool of n leads (the test part is not one week of leads)."""
    return int(min(n, max(1, round(n * cfg.calls_per_week / cfg.leads_per_week))))


def random_k_rate_high(n: int, positives: int, k: int) -> float:
    """97.5th percentile of the conversion rate of k leads drawn at random (hypergeometric)."""
    from scipy.stats import hypergeom

    return float(hypergeom(n, positives, k).ppf(0.975)) / k


def compute_kpis(
    y_true: np.ndarray, proba: np.ndarray, threshold: float, cfg: KpiConfig
) -> dict[str, float]:
    """Top-K calling vs random K, the profit-optimal threshold, and the bands; money in EUR a week."""
    y = np.asarray(y_true)
    n, k = len(y), top_k_rows(len(y), cfg)
    top = np.argsort(-proba, kind="stable")[:k]
    pool_rate = float(np.mean(y))
    top_rate = float(np.mean(y[top]))
    calls = min(cfg.calls_per_week, cfg.leads_per_week)
    value, cost = cfg.value_per_conversion, cfg.cost_per_call
    per_week = cfg.leads_per_week / n  # pool figures -> one week of leads
    act = proba >= threshold
    kpis = {
        "weekly_revenue_top_k_eur": calls * top_rate * value,
        "weekly_profit_top_k_eur": calls * (top_rate * value - cost),
        "weekly_profit_random_k_eur": calls * (pool_rate * value - cost),
        "weekly_gain_vs_random_k_eur": calls * (top_rate - pool_rate) * value,
        "weekly_conversions_top_k": calls * top_rate,
        "weekly_conversions_random_k": calls * pool_rate,
        "top_k_conversion_rate": top_rate,
        "random_k_conversion_rate": pool_rate,  # expected rate of a random K = the pool's rate
        "random_k_conversion_rate_high": random_k_rate_high(n, int(np.sum(y)), k),
        "pool_conversion_rate": pool_rate,
        "top_k_lift": top_rate / pool_rate if pool_rate else 0.0,
        "top_k_share_of_pool": k / n,
        "profit_optimal_threshold": threshold,
        "weekly_calls_at_threshold": float(np.sum(act)) * per_week,
        "weekly_capacity_shortfall_calls": max(0.0, float(np.sum(act)) * per_week - calls),
        "weekly_profit_at_threshold_eur": profit(y, act, cfg) * per_week,
        "weekly_profit_call_everyone_eur": profit(y, np.ones(n, bool), cfg) * per_week,
        "precision_at_threshold": float(np.mean(y[act])) if act.any() else 0.0,
        "recall_at_threshold": float(np.sum(y[act])) / max(float(np.sum(y)), 1.0),
    }
    bands = assign_bands(proba, cfg.bands)
    for b in BANDS:
        in_band = bands == b
        kpis[f"band_{b}_share"] = float(np.mean(in_band))
        # An empty band reports 0: read it with its share.
        kpis[f"band_{b}_conversion_rate"] = float(np.mean(y[in_band])) if in_band.any() else 0.0
    return kpis


def kpi_gates(kpis: dict[str, float], cfg: KpiConfig) -> list[str]:
    """Top K must beat a random K beyond chance, calling must pay, bands must rank leads."""
    reasons = []
    if kpis["top_k_conversion_rate"] <= kpis["random_k_conversion_rate_high"]:
        reasons.append(
            f"top-K conversion rate {kpis['top_k_conversion_rate']:.3f} is within what a random K "
            f"reaches by chance (up to {kpis['random_k_conversion_rate_high']:.3f})"
        )
    if kpis["weekly_profit_at_threshold_eur"] <= 0:
        reasons.append(
            f"calling above the threshold makes {kpis['weekly_profit_at_threshold_eur']:.0f} EUR "
            "a week, not more than calling nobody (0)"
        )
    rates = [(b, kpis[f"band_{b}_conversion_rate"]) for b in BANDS if kpis[f"band_{b}_share"] > 0]
    for (hi, r_hi), (lo, r_lo) in zip(rates, rates[1:], strict=False):
        if r_hi < r_lo:
            reasons.append(f"band {hi} converts less than band {lo} ({r_hi:.3f} < {r_lo:.3f})")
    return reasons
