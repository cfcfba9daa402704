"""Inventory cost of forecast errors, worked out by hand."""

import numpy as np
import pytest

from usecases.demand_forecasting.kpi import KpiConfig, compute_kpis, forecast_cost, kpi_gates

CFG = KpiConfig(holding_cost_per_unit=0.10, lost_margin_per_unit=0.25)


def test_cost_by_hand():
    y = np.array([100.0, 50.0, 0.0, np.nan])
    f = np.array([80.0, 70.0, 10.0, 99.0])
    # under-forecast 20 (row 1) * 0.25 = 5; over-forecast 20 + 10 (rows 2, 3) * 0.10 = 3;
    # the NaN actual (a closed series) is skipped -> 8
    assert forecast_cost(y, f, CFG) == pytest.approx(8.0)


def test_kpis_against_the_baseline_by_hand():
    y = np.array([[100.0, 50.0], [0.0, 10.0]])
    f = np.array([[80.0, 70.0], [10.0, 10.0]])  # cost 5 + 3 = 8
    base = np.array([[60.0, 50.0], [0.0, 30.0]])  # under 40 * 0.25 = 10, over 20 * 0.10 = 2 -> 12
    k = compute_kpis(y, f, base, CFG)
    assert k["forecast_cost_usd"] == pytest.approx(8.0)
    assert k["baseline_cost_usd"] == pytest.approx(12.0)
    assert k["savings_vs_baseline_usd"] == pytest.approx(4.0)
    assert k["savings_vs_baseline_pct"] == pytest.approx(100 * 4 / 12)
    assert k["over_forecast_usd"] == pytest.approx(30.0)
    assert k["under_forecast_usd"] == pytest.approx(20.0)
    assert k["cost_per_series_week_usd"] == pytest.approx(8.0 / 4)
    assert kpi_gates(k, CFG) == []
    assert kpi_gates(compute_kpis(y, base, f, CFG), CFG)  # costlier than the baseline: a reason
