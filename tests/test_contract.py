"""The contract every classification use case meets, forks included (like sklearn's
parametrize_with_checks): run on each folder the registry discovers."""

from __future__ import annotations

import importlib

import numpy as np
import pandas as pd
import pytest

from shared.onnx_export import make_feed, onnx_proba, session, to_onnx
from shared.training import model_inputs
from shared.usecase import registry
from shared.validation import validate_raw

CLASSIFIERS = [uc for uc in registry().values() if uc.task == "binary"]
ids = [uc.name for uc in CLASSIFIERS]
pytestmark = pytest.mark.parametrize("uc", CLASSIFIERS, ids=ids)


@pytest.fixture(scope="module")
def samples() -> dict[str, pd.DataFrame]:
    return {uc.name: uc.make_synthetic(2000, 7) for uc in CLASSIFIERS}


def test_config_loads_and_rejects_typos(uc):
    cfg = uc.load_config()
    assert cfg.model.baseline in [c.name for c in cfg.model.candidates]
    with pytest.raises(ValueError, match="extra"):
        uc.load_config(["split.tset_size=0.3"])


def test_synthetic_rows_pass_schema_and_quality_gates(uc):
    cfg = uc.load_config()
    raw = uc.make_synthetic(cfg.data.synthetic_rows, cfg.data.seed)
    report = validate_raw(raw, uc.raw_schema, cfg.quality, uc.id_column, uc.labels)
    assert report.ok and report.rows == cfg.data.synthetic_rows


def test_synthetic_is_seeded(uc):
    pd.testing.assert_frame_equal(uc.make_synthetic(300, 3), uc.make_synthetic(300, 3))
    assert not uc.make_synthetic(300, 3).equals(uc.make_synthetic(300, 4))


def test_features_leave_input_unchanged_and_cover_model_inputs(uc, samples):
    raw = samples[uc.name]
    before = raw.copy(deep=True)
    feats = uc.build_features(raw)
    pd.testing.assert_frame_equal(raw, before)
    assert set(uc.model_inputs) <= set(feats)
    assert all(len(np.asarray(feats[c])) == len(raw) for c in uc.model_inputs)


def test_features_are_row_wise(uc, samples):
    """A row's features do not depend on the other rows in the batch (same in serving)."""
    raw = samples[uc.name]
    whole = model_inputs(uc, raw)
    rows = [5, 17, 1500]
    part = model_inputs(uc, raw.iloc[rows].reset_index(drop=True))
    pd.testing.assert_frame_equal(whole.iloc[rows].reset_index(drop=True), part)


def test_leaky_columns_are_in_schema_but_never_model_inputs(uc):
    schema_columns = set(uc.raw_schema.to_schema().columns)
    assert set(uc.leaky_columns) <= schema_columns
    assert uc.target in schema_columns
    for leaky in (*uc.leaky_columns, uc.target, uc.id_column):
        assert leaky not in uc.model_inputs


@pytest.mark.parametrize("candidate", [0, 1])
def test_every_candidate_fits_and_keeps_onnx_parity(uc, samples, candidate):
    cfg = uc.load_config()
    if candidate >= len(cfg.model.candidates):
        pytest.skip("fewer candidates")
    raw = samples[uc.name]
    X, y = model_inputs(uc, raw), uc.labels(raw)
    model = uc.make_model(cfg.model.candidates[candidate].params).fit(X, y)
    native = model.predict_proba(X)[:, 1]
    feed = make_feed(
        {c: X[c].to_numpy() for c in X.columns}, uc.numeric_features, uc.categorical_features
    )
    onnx = onnx_proba(session(to_onnx(model, uc.numeric_features, uc.categorical_features)), feed)
    assert np.max(np.abs(native - onnx)) <= cfg.gates.max_parity_diff


def test_kpis_are_finite_and_profit_matches(uc, samples):
    cfg = uc.load_config()
    raw = samples[uc.name]
    y = uc.labels(raw)
    p = np.random.default_rng(0).random(len(y))
    kpis = uc.compute_kpis(y, p, 0.5, cfg.kpi)
    assert kpis and all(np.isfinite(v) for v in kpis.values())
    assert uc.profit(y, np.zeros(len(y), bool), cfg.kpi) == 0.0
    assert isinstance(uc.kpi_gates(kpis, cfg.kpi), list)


def test_service_request_fields_are_raw_schema_minus_target(uc):
    module = importlib.import_module(uc.service.partition(":")[0])
    service = getattr(module, uc.service.partition(":")[2])
    api = service.apis["predict"]
    record_model = api.input_spec.model_fields["records"].annotation.__args__[0]
    fields = {f.alias or n for n, f in record_model.model_fields.items()}
    expected = set(uc.raw_schema.to_schema().columns) - {uc.target}
    assert fields == expected
    payload = module.example_payload(2)
    assert len(api.input_spec.model_validate(payload).records) == 2
