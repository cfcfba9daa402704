"""Behavioural tests of a model trained on the synthetic data: directions a maintenance
engineer would check (Made-With-ML style: directional and invariance tests)."""

import numpy as np
import pandas as pd
import pytest

from shared.core.config import LightGBMParams
from shared.core.onnx_export import model_inputs
from shared.core.usecase import get_use_case

UC = get_use_case("predictive_maintenance")


@pytest.fixture(scope="module")
def model():
    raw = UC.make_synthetic(10_000, 11)
    params = LightGBMParams(n_estimators=200, learning_rate=0.05, num_leaves=15)
    return UC.make_model(params).fit(model_inputs(UC, raw), UC.labels(raw))


def _risk(model, **changes: object) -> float:
    base = {
        "UDI": 1,
        "Product ID": "L47181",
        "Type": "L",
        "Air temperature [K]": 298.0,
        "Process temperature [K]": 309.0,
        "Rotational speed [rpm]": 1500,
        "Torque [Nm]": 40.0,
        "Tool wear [min]": 60,
        "Machine failure": 0,
        "TWF": 0,
        "HDF": 0,
        "PWF": 0,
        "OSF": 0,
        "RNF": 0,
    }
    return float(model.predict_proba(model_inputs(UC, pd.DataFrame([base | changes])))[0, 1])


def test_more_torque_and_tool_wear_raise_the_risk(model):
    calm = _risk(model)
    worn = _risk(model, **{"Torque [Nm]": 62.0, "Tool wear [min]": 210})
    assert calm < 0.1 < worn


def test_poor_heat_dissipation_at_low_speed_raises_the_risk(model):
    ok = _risk(model, **{"Rotational speed [rpm]": 1350})
    hot = _risk(model, **{"Rotational speed [rpm]": 1350, "Process temperature [K]": 306.0})
    assert hot > 5 * ok


def test_risk_does_not_fall_as_the_tool_wears(model):
    risks = [_risk(model, **{"Torque [Nm]": 55.0, "Tool wear [min]": w}) for w in (20, 120, 220)]
    # Trees are step functions: allow tiny dips, not a real fall.
    assert all(b > a - 0.01 for a, b in zip(risks, risks[1:], strict=False))
    assert risks[-1] > 10 * risks[0]


def test_ids_and_failure_mode_flags_do_not_change_the_risk(model):
    base = _risk(model)
    assert _risk(model, UDI=9999, **{"Product ID": "L99999"}) == base
    assert _risk(model, TWF=1, HDF=1, PWF=1, OSF=1, RNF=1) == base


def test_quality_variant_matters_only_through_the_overstrain_limit(model):
    # Same wear x torque (12 500 min.Nm): over the limit for L (11 000), under it for H (13 000).
    strained = {"Torque [Nm]": 62.5, "Tool wear [min]": 200}
    low = _risk(model, Type="L", **strained)
    high = _risk(model, Type="H", **{"Product ID": "H1"}, **strained)
    assert low > high and np.isfinite([low, high]).all()
