"""Behavioural tests of a trained model (Made-With-ML style): directions the business expects."""

import numpy as np
import pytest

from shared.core.usecase import get_use_case
from tests.conftest import onnx_scorer

UC = get_use_case("churn")


@pytest.fixture(scope="module")
def score():
    return onnx_scorer(UC)


def test_two_year_contract_lowers_risk(score):
    raw = UC.make_synthetic(300, 5)
    m2m = score(raw.assign(Contract="Month-to-month"))
    two = score(raw.assign(Contract="Two year"))
    assert np.mean(two < m2m) > 0.9


def test_longer_tenure_lowers_risk(score):
    raw = UC.make_synthetic(300, 6).assign(Contract="Month-to-month")
    short = score(
        raw.assign(tenure=2, TotalCharges=(raw["MonthlyCharges"] * 2).round(2).astype(str))
    )
    long = score(
        raw.assign(tenure=60, TotalCharges=(raw["MonthlyCharges"] * 60).round(2).astype(str))
    )
    assert np.mean(long < short) > 0.9


def test_customer_id_does_not_change_the_score(score):
    raw = UC.make_synthetic(50, 7)
    np.testing.assert_array_equal(score(raw), score(raw.assign(customerID="someone-else")))
