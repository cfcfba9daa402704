"""Stock economics of a forecast error, in units of the target.

Business assumption: the forecast sets how much is prepared or stocked. Each unit
over-forecast is carried, marked down or wasted, costing `holding_cost_per_unit`; each unit
under-forecast is demand not served, costing `lost_margin_per_unit`. Both come from
config.yaml; the money keys end in the currency wiring.json names (`pilotpack new --currency`).
ADAPT: what one unit of your target is worth either way.
"""

import numpy as np

from shared.core.config import Strict

from .wiring import CURRENCY


class KpiConfig(Strict):
    holding_cost_per_unit: float = 0.10  # ADAPT: cost of one unit forecast too high
    lost_margin_per_unit: float = 0.25  # ADAPT: margin lost on one unit forecast too low
    min_savings_pct: float = 0.0  # gate: savings against the baseline must exceed this


def forecast_cost(y: np.ndarray, f: np.ndarray, cfg: KpiConfig) -> float:
    """Holding cost of over-forecasts plus lost margin of under-forecasts, NaN actuals skipped."""
    ok = np.isfinite(y)
    over = np.maximum(f - y, 0)[ok].sum()
    under = np.maximum(y - f, 0)[ok].sum()
    return float(cfg.holding_cost_per_unit * over + cfg.lost_margin_per_unit * under)


def compute_kpis(
    y: np.ndarray, f: np.ndarray, baseline: np.ndarray, cfg: KpiConfig
) -> dict[str, float]:
    """Cost of this model's forecasts against the baseline the gates use (config
    gates.baseline: the best statistical model by default)."""
    ok = np.isfinite(y)
    cost = forecast_cost(y, f, cfg)
    base = forecast_cost(y, baseline, cfg)
    return {
        f"savings_vs_baseline_{CURRENCY}": base - cost,
        f"forecast_cost_{CURRENCY}": cost,
        f"baseline_cost_{CURRENCY}": base,
        "savings_vs_baseline_pct": 100.0 * (base - cost) / base if base else 0.0,
        "over_forecast_units": float(np.maximum(f - y, 0)[ok].sum()),
        "under_forecast_units": float(np.maximum(y - f, 0)[ok].sum()),
        f"cost_per_series_period_{CURRENCY}": cost / max(int(ok.sum()), 1),
    }


def kpi_gates(kpis: dict[str, float], cfg: KpiConfig) -> list[str]:
    """The model must save money against the baseline; returns the reasons it does not."""
    if kpis["savings_vs_baseline_pct"] <= cfg.min_savings_pct:
        return [
            f"cost {kpis[f'forecast_cost_{CURRENCY}']:,.0f} saves "
            f"{kpis['savings_vs_baseline_pct']:.1f} % against the baseline "
            f"({kpis[f'baseline_cost_{CURRENCY}']:,.0f}), not above {cfg.min_savings_pct} %"
        ]
    return []
