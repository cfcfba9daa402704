import numpy as np
import pytest

from usecases.predictive_maintenance.kpi import KpiConfig, compute_kpis, kpi_gates, profit

CFG = KpiConfig(failure_cost=10_000, intervention_cost=500, prevention_rate=0.8, min_recall=0.5)
# An alarm on an operation that would fail prevents 0.8 * 10 000 = 8 000 of failure cost for a
# 500 inspection: +7 500. An alarm on one that would not fail only costs the inspection: -500.
Y = np.array([1, 1, 0, 0, 1, 0])
P = np.array([0.9, 0.6, 0.5, 0.2, 0.1, 0.05])


def test_six_operations_worked_by_hand():
    k = compute_kpis(Y, P, 0.4, CFG)
    # threshold 0.4 alarms on rows 0, 1, 2 and catches 2 of the 3 failures.
    # run to failure: 3 failures * 10 000 = 30 000
    assert k["cost_run_to_failure_eur"] == pytest.approx(30_000)
    # saved: 2 caught * 8 000 - 3 inspections * 500 = 14 500
    assert k["savings_vs_run_to_failure_eur"] == pytest.approx(14_500)
    # cost: 1 500 inspections + 10 000 missed (row 4) + 2 * 0.2 * 10 000 not prevented = 15 500
    assert k["expected_cost_eur"] == pytest.approx(15_500)
    # inspect all 6: 3 000 + 3 failures * 0.2 * 10 000 = 9 000, so alarming loses 6 500 here
    assert k["cost_inspect_everything_eur"] == pytest.approx(9_000)
    assert k["savings_vs_inspect_everything_eur"] == pytest.approx(-6_500)
    assert k["savings_pct_vs_run_to_failure"] == pytest.approx(100 * 14_500 / 30_000)
    assert k["alarms"] == 3 and k["alarm_rate"] == pytest.approx(0.5)
    assert k["alarms_per_1000_operations"] == pytest.approx(500)
    assert k["failures"] == 3 and k["failures_prevented_expected"] == pytest.approx(1.6)
    assert k["recall_at_threshold"] == pytest.approx(2 / 3)
    assert k["precision_at_threshold"] == pytest.approx(2 / 3)
    assert k["alarm_threshold"] == 0.4


def test_gates_name_the_policy_that_wins():
    reasons = kpi_gates(compute_kpis(Y, P, 0.4, CFG), CFG)
    assert len(reasons) == 1 and "inspecting everything (9000)" in reasons[0]
    # threshold 0.08: rows 0-4, all 3 failures: 24 000 - 2 500 = 21 500 saved, cost 8 500 < 9 000
    assert kpi_gates(compute_kpis(Y, P, 0.08, CFG), CFG) == []
    # threshold 0.95: no alarm at all is running to failure, and recall 0 is below the floor
    reasons = kpi_gates(compute_kpis(Y, P, 0.95, CFG), CFG)
    assert any("running to failure" in r for r in reasons) and any("recall" in r for r in reasons)


def test_no_alarm_saves_nothing_and_alarming_everything_is_inspecting_everything():
    assert profit(Y, np.zeros(6, bool), CFG) == 0
    k = compute_kpis(Y, P, 0.01, CFG)
    assert k["expected_cost_eur"] == pytest.approx(k["cost_inspect_everything_eur"])


def test_fleet_readings_share_one_failure():
    # Fleet mode: one failure labelled on its H + 1 = 3 readings; alarms on 2 of them.
    y, act = np.array([1, 1, 1, 0, 0, 0]), np.array([0, 1, 1, 0, 0, 0], bool)
    # 2 of 3 at-risk readings caught: 2/3 * 0.8 * 10 000 = 5 333.33, minus 2 * 500 = 4 333.33
    assert profit(y, act, CFG, rows_per_failure=3) == pytest.approx(4_333.333, abs=1e-3)
    k = compute_kpis(y, act.astype(float), 0.5, CFG, rows_per_failure=3)
    assert k["failures"] == 1 and k["cost_run_to_failure_eur"] == pytest.approx(10_000)
