"""Inventory economics of a forecast error.

Business assumption: the forecast sets how much stock is put on the shelf. Each USD of sales
over-forecast is stock that is carried, marked down or wasted, costing `holding_cost_per_unit`;
each USD under-forecast is a sale lost for want of stock, costing `lost_margin_per_unit` (the
margin). The Walmart file reports sales in USD, not units, so a "unit" here is one USD of sales
at retail price. Both numbers come from config.yaml.
"""

import numpy as np

from shared.core.config import Strict


class KpiConfig(Strict):
    holding_cost_per_unit: float = 0.10  # per USD of sales over-forecast
    lost_margin_per_unit: float = 0.25  # per USD of sales under-forecast
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
    gates.baseline: the best statistical model by default); money keys end in _usd."""
    ok = np.isfinite(y)
    cost = forecast_cost(y, f, cfg)
    base = forecast_cost(y, baseline, cfg)
    return {
        "savings_vs_baseline_usd": base - cost,
        "forecast_cost_usd": cost,
        "baseline_cost_usd": base,
        "savings_vs_baseline_pct": 100.0 * (base - cost) / base if base else 0.0,
        "over_forecast_usd": float(np.maximum(f - y, 0)[ok].sum()),
        "under_forecast_usd": float(np.maximum(y - f, 0)[ok].sum()),
        "cost_per_series_week_usd": cost / max(int(ok.sum()), 1),
    }


def kpi_gates(kpis: dict[str, float], cfg: KpiConfig) -> list[str]:
    """The model must save money against the baseline; returns the reasons it does not."""
    if kpis["savings_vs_baseline_pct"] <= cfg.min_savings_pct:
        return [
            f"cost {kpis['forecast_cost_usd']:,.0f} saves {kpis['savings_vs_baseline_pct']:.1f} % "
            f"against the baseline ({kpis['baseline_cost_usd']:,.0f}), not above "
            f"{cfg.min_savings_pct} %"
        ]
    return []
