import numpy as np
import pandas as pd

from usecases.churn.features import SERVICES, build_features, parse_total_charges
from usecases.churn.synthetic import make_synthetic


def test_blank_total_charges_is_zero_not_missing():
    assert parse_total_charges(np.array([" ", "", "29.85", " 10 "])).tolist() == [
        0.0,
        0.0,
        29.85,
        10.0,
    ]


def test_first_month_customer_gets_todays_bill_as_average():
    raw = make_synthetic(50, 0).iloc[:1].assign(tenure=0, TotalCharges=" ", MonthlyCharges=55.5)
    f = build_features(raw)
    assert f["TotalCharges"][0] == 0.0
    assert f["avg_monthly_charge"][0] == 55.5


def test_service_count_and_dict_input_give_the_same_features():
    raw = make_synthetic(20, 1)
    from_frame = build_features(raw)
    from_dict = build_features({c: raw[c].to_numpy(dtype=object) for c in raw.columns})
    for name, values in from_frame.items():
        np.testing.assert_array_equal(values, from_dict[name])
    expected = sum((raw[c] == "Yes").astype(float) for c in SERVICES)
    np.testing.assert_array_equal(from_frame["n_services"], expected.to_numpy())
    assert isinstance(raw, pd.DataFrame)
