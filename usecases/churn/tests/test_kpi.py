import numpy as np
import pytest

from usecases.churn.kpi import KpiConfig, compute_kpis, kpi_gates, profit

CFG = KpiConfig(contact_cost=20, retention_rate=0.3, customer_value=600)
# A contacted churner is worth 0.3 * 600 = 180 kept, minus the 20 contact: +160.
# A contacted loyal customer only costs the contact: -20.
Y = np.array([1, 1, 0, 0, 1, 0])
P = np.array([0.9, 0.6, 0.5, 0.2, 0.1, 0.05])


def test_six_customers_worked_by_hand():
    k = compute_kpis(Y, P, 0.4, CFG)
    # threshold 0.4 contacts rows 0, 1, 2: 2 churners -> 2 * 180 - 3 * 20 = 300
    assert k["expected_profit_eur"] == pytest.approx(300)
    # everyone: 3 churners -> 3 * 180 - 6 * 20 = 420, so targeting loses 120 here
    assert k["profit_contact_everyone_eur"] == pytest.approx(420)
    assert k["profit_vs_everyone_eur"] == pytest.approx(-120)
    assert k["profit_contact_nobody_eur"] == 0
    assert k["customers_to_contact"] == 3
    assert k["recall_at_threshold"] == pytest.approx(2 / 3)
    assert k["precision_at_threshold"] == pytest.approx(2 / 3)
    # top 10 % of 6 rows rounds to 1 row, a churner: rate 1.0 / base 0.5 = 2
    assert k["top_decile_lift"] == pytest.approx(2.0)


def test_gates_name_the_policy_that_wins():
    k = compute_kpis(Y, P, 0.4, CFG)
    reasons = kpi_gates(k, CFG)
    assert len(reasons) == 1 and "contacting everyone (420)" in reasons[0]
    assert kpi_gates(compute_kpis(Y, P, 0.55, CFG), CFG)  # rows 0, 1: 2*180-40 = 320 < 420


def test_profit_is_zero_when_nobody_is_contacted():
    assert profit(Y, np.zeros(6, bool), CFG) == 0
