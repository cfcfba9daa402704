import re

import numpy as np
import pandas as pd
import pytest

from shared.core.config import LightGBMParams
from shared.core.onnx_export import NUMERIC_INPUT, model_inputs, per_column_onnx, session, to_onnx
from shared.core.usecase import get_use_case
from usecases.predictive_maintenance.features import build_features, snake
from usecases.predictive_maintenance.model import CATEGORICAL, NUMERIC, make_model
from usecases.predictive_maintenance.schema import LEAKY_COLUMNS, RawSchema
from usecases.predictive_maintenance.synthetic import make_synthetic

UC = get_use_case("predictive_maintenance")


def _row(**changes: object) -> pd.DataFrame:
    base = {
        "UDI": 1,
        "Product ID": "M14860",
        "Type": "M",
        "Air temperature [K]": 298.1,
        "Process temperature [K]": 308.6,
        "Rotational speed [rpm]": 1551,
        "Torque [Nm]": 42.8,
        "Tool wear [min]": 10,
        "Machine failure": 0,
        "TWF": 0,
        "HDF": 0,
        "PWF": 0,
        "OSF": 0,
        "RNF": 0,
    }
    return pd.DataFrame([base | changes])


def test_physical_features_by_hand():
    f = build_features(_row())
    assert f["temperature_difference_k"][0] == pytest.approx(10.5)
    # 42.8 Nm * 1551 rpm * 2 pi / 60 = 6951.6 W
    assert f["power_w"][0] == pytest.approx(6951.6, abs=0.1)
    assert f["tool_wear_torque_min_nm"][0] == pytest.approx(428.0)
    assert f["type"][0] == "M"


def test_edge_cases_stopped_spindle_and_fresh_tool():
    f = build_features(_row(**{"Rotational speed [rpm]": 0, "Tool wear [min]": 0}))
    assert f["power_w"][0] == 0 and f["tool_wear_torque_min_nm"][0] == 0
    assert all(np.isfinite(f[c][0]) for c in NUMERIC)


def test_model_input_names_are_sanitized_for_lightgbm_and_onnx():
    assert snake("Air temperature [K]") == "air_temperature_k"
    assert snake("Tool wear [min]") == "tool_wear_min"
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", c) for c in (*NUMERIC, *CATEGORICAL))
    raw = make_synthetic(600, 1)
    X = model_inputs(UC, raw)
    model = make_model(LightGBMParams(n_estimators=20)).fit(X, UC.labels(raw))
    per_column = session(per_column_onnx(model, NUMERIC, CATEGORICAL))  # the converter's names
    assert [i.name for i in per_column.get_inputs()] == [*NUMERIC, *CATEGORICAL]
    sess = session(to_onnx(model, NUMERIC, CATEGORICAL))
    assert [i.name for i in sess.get_inputs()] == [NUMERIC_INPUT, *CATEGORICAL]


def test_request_columns_give_the_same_features_as_a_frame():
    raw = make_synthetic(50, 2)
    as_columns = {c: np.array(raw[c].tolist(), dtype=object) for c in raw.columns}  # as in serving
    a, b = build_features(raw), build_features(as_columns)
    for c in (*NUMERIC, *CATEGORICAL):
        np.testing.assert_array_equal(a[c], b[c])


def test_failure_mode_flags_are_leaky_and_never_features():
    columns = RawSchema.to_schema().columns
    assert set(LEAKY_COLUMNS) == {"TWF", "HDF", "PWF", "OSF", "RNF"}
    assert all(columns[c].nullable for c in LEAKY_COLUMNS)  # optional in requests
    feats = build_features(_row())
    assert not {snake(c) for c in LEAKY_COLUMNS} & set(feats)


def test_schema_reports_every_problem_at_once():
    from shared.core.validation import schema_problems

    bad = pd.concat([_row(Type="X"), _row(**{"Torque [Nm]": -1.0, "Product ID": "Q1"})])
    problems = {p.column for p in schema_problems(bad.reset_index(drop=True), RawSchema)}
    assert {"Type", "Torque [Nm]", "Product ID"} <= problems
