"""The contract every forecasting use case meets, forks included: run on each folder the
registry discovers with task="forecast" (tests/test_contract.py covers the classifiers)."""

from __future__ import annotations

import importlib

import numpy as np
import pandas as pd
import pytest

from shared.forecast.model import feature_frame
from shared.forecast.windows import panel_windows
from shared.forecasting import make_panel, validate_forecast_raw
from shared.onnx_export import make_feed, session, to_onnx
from shared.usecase import registry

FORECASTERS = [uc for uc in registry().values() if uc.task == "forecast"]
pytestmark = pytest.mark.parametrize("uc", FORECASTERS, ids=[uc.name for uc in FORECASTERS])


def small(uc):
    return uc.make_synthetic(40, 130, 7)


def test_config_loads_and_rejects_typos(uc):
    cfg = uc.load_config()
    assert "seasonal_naive" in cfg.baselines.models
    with pytest.raises(ValueError, match="extra"):
        uc.load_config(["backtest.horizn=4"])


def test_synthetic_rows_pass_schema_and_quality_gates_and_are_seeded(uc):
    cfg = uc.load_config()
    raw = uc.make_synthetic(cfg.data.n_series, cfg.data.n_weeks, cfg.data.seed)
    assert validate_forecast_raw(raw, uc, cfg).ok
    pd.testing.assert_frame_equal(small(uc), small(uc))
    assert not small(uc).equals(uc.make_synthetic(40, 130, 8))


def windows_of(uc, raw, horizon):
    cfg = uc.load_config()
    panel = make_panel(uc, raw)
    rows = np.arange(panel.n_series)
    return panel, panel_windows(
        panel,
        rows,
        panel.last,
        cfg.model.history_length,
        horizon,
        cfg.backtest.season,
        cfg.model.scale_floor,
    )


def test_features_leave_input_unchanged_and_are_the_model_inputs(uc):
    raw = small(uc)
    before = raw.copy(deep=True)
    _, w = windows_of(uc, raw, 8)
    y_before = w.y.copy()
    feats = uc.build_features(w)
    pd.testing.assert_frame_equal(raw, before)
    np.testing.assert_array_equal(w.y, y_before)
    assert tuple(feats) == tuple(uc.feature_names)
    assert all(len(v) == w.n * 8 for v in feats.values())
    assert uc.target not in feats and uc.time_column not in feats


def test_global_model_fits_and_keeps_onnx_parity(uc):
    from shared.forecast.model import training_set

    cfg = uc.load_config(["model.params.n_estimators=60"])
    panel = make_panel(uc, small(uc))
    X, y = training_set(
        panel, panel.n_periods - 1, uc.build_features, uc.feature_names, cfg.backtest, cfg.model
    )
    model = uc.make_model(cfg.model.params).fit(X, y)
    _, w = windows_of(uc, small(uc), cfg.backtest.horizon)
    Xw = feature_frame(uc.build_features, w, uc.feature_names)
    names = list(uc.feature_names)
    onnx = session(to_onnx(model, names, [], classifier=False)).run(
        None, make_feed({c: Xw[c].to_numpy() for c in names}, names, [])
    )[0][:, 0]
    assert np.max(np.abs(onnx - model.predict(Xw))) <= cfg.gates.max_parity_diff


def test_kpis_are_finite_and_zero_error_costs_nothing(uc):
    cfg = uc.load_config()
    rng = np.random.default_rng(0)
    y = rng.uniform(0, 100, (20, 8))
    kpis = uc.compute_kpis(y, y * 1.1, y * 0.8, cfg.kpi)
    assert kpis and all(np.isfinite(v) for v in kpis.values())
    perfect = uc.compute_kpis(y, y, y, cfg.kpi)
    assert min(abs(v) for k, v in perfect.items() if k.endswith(("_usd", "_eur"))) == 0.0
    assert isinstance(uc.kpi_gates(kpis, cfg.kpi), list)


def test_service_has_route_payload_and_raw_fields(uc):
    module = importlib.import_module(uc.service.partition(":")[0])
    service = getattr(module, uc.service.partition(":")[2])
    api = next(a for a in service.apis.values() if a.route == module.ROUTE)
    payload = module.example_payload(2)
    items = getattr(api.input_spec.model_validate(payload), next(iter(payload)))
    assert len(items) == 2
    history_fields = set(type(items[0].history[0]).model_fields)
    # ids + the history's fields are the raw schema's columns: the same names in and out
    assert set(uc.id_columns) | history_fields == set(uc.raw_schema.to_schema().columns)
