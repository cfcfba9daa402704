"""Contract checks every row-per-record use case passes, forks included.

Like scikit-learn's `parametrize_with_checks`: each task lists its checks
(`Task.contract_checks`), and tests/test_contract.py runs every check on every registered
use case and variant. A check is a plain function of the use case that raises on failure.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from shared.core.onnx_export import make_feed, model_inputs, session, to_onnx
from shared.core.usecase import UseCase

SAMPLE_ROWS = 2000


def _config(uc: UseCase) -> tuple[UseCase, Any]:
    cfg = uc.load_config()
    return uc.with_config(cfg), cfg


def _sample(uc: UseCase) -> pd.DataFrame:
    return uc.make_synthetic(SAMPLE_ROWS, 7)


def check_config_loads_and_rejects_typos(uc: UseCase) -> None:
    import pytest

    cfg = uc.load_config()
    assert cfg.model.baseline in [c.name for c in cfg.model.candidates]
    with pytest.raises(ValueError, match="extra"):
        uc.load_config(["split.tset_size=0.3"])


def check_synthetic_passes_schema_and_quality_gates(uc: UseCase) -> None:
    uc, cfg = _config(uc)
    raw = uc.make_synthetic(cfg.data.synthetic_rows, cfg.data.seed)
    report = uc.task.training.validate(uc, cfg, raw)
    assert report.ok and report.rows == cfg.data.synthetic_rows


def check_synthetic_is_seeded(uc: UseCase) -> None:
    pd.testing.assert_frame_equal(uc.make_synthetic(300, 3), uc.make_synthetic(300, 3))
    assert not uc.make_synthetic(300, 3).equals(uc.make_synthetic(300, 4))


def check_features_leave_input_unchanged_and_cover_model_inputs(uc: UseCase) -> None:
    uc, _ = _config(uc)
    raw = _sample(uc)
    before = raw.copy(deep=True)
    feats = uc.build_features(raw)
    pd.testing.assert_frame_equal(raw, before)
    assert set(uc.model_inputs) <= set(feats), set(uc.model_inputs) - set(feats)
    assert all(len(np.asarray(feats[c])) == len(raw) for c in uc.model_inputs)


def check_features_are_row_wise(uc: UseCase) -> None:
    """A row's features do not depend on the other rows in the batch (same in serving)."""

    uc, _ = _config(uc)
    raw = _sample(uc)
    rows = [5, 17, len(raw) - 3]
    whole = model_inputs(uc, raw)
    part = model_inputs(uc, raw.iloc[rows].reset_index(drop=True))
    pd.testing.assert_frame_equal(whole.iloc[rows].reset_index(drop=True), part)


def check_features_look_only_backwards(uc: UseCase) -> None:
    """An entity's features at time t are the same whether or not later records exist:
    what the service sees (history up to now) is what training saw."""

    uc, _ = _config(uc)
    raw = _sample(uc)
    t = raw[uc.time_column]
    cut = t.quantile(0.5)
    past = raw[t <= cut].reset_index(drop=True)
    whole = model_inputs(uc, raw)[(t <= cut).to_numpy()].reset_index(drop=True)
    pd.testing.assert_frame_equal(whole, model_inputs(uc, past))


def check_features_at_rows_are_those_rows_of_every_row(uc: UseCase) -> None:
    """What the service builds for the records it scores (`UseCase.features_at`: each entity's
    latest, in any order) equals what training builds for every row, at those rows, bit for bit."""
    uc, _ = _config(uc)
    raw = _sample(uc).sample(frac=1.0, random_state=3).reset_index(drop=True)  # any order
    t = raw[uc.time_column].to_numpy()
    latest = raw.groupby(uc.id_column, sort=False)[uc.time_column].idxmax().to_numpy()
    rows = np.concatenate([latest[::-1], np.flatnonzero(t == np.median(t))[:3], latest[:1]])
    whole, part = uc.build_features(raw), uc.features_at(raw, rows)
    assert list(part) == list(whole)
    for name, values in whole.items():
        np.testing.assert_array_equal(np.asarray(part[name]), np.asarray(values)[rows], name)


def check_history_declares_entity_and_time(uc: UseCase) -> None:
    assert uc.history, f"{uc.name}: task {uc.task.name} needs `history=True`"
    columns = set(uc.raw_schema.to_schema().columns)
    assert uc.id_column in columns and uc.time_column in columns


def check_leaky_columns_are_in_schema_but_never_model_inputs(uc: UseCase) -> None:
    uc, _ = _config(uc)
    schema_columns = set(uc.raw_schema.to_schema().columns)
    assert set(uc.leaky_columns) <= schema_columns
    assert uc.target in schema_columns
    for leaky in (*uc.leaky_columns, uc.target, uc.id_column):
        assert leaky not in uc.model_inputs, leaky


def check_every_candidate_fits_and_keeps_onnx_parity(uc: UseCase) -> None:
    uc, cfg = _config(uc)
    task = uc.task.training
    raw = _sample(uc)
    known = uc.labelled(raw)
    X, y = model_inputs(uc, raw)[known], uc.labels(raw)[known]
    num, cat = uc.numeric_features, uc.categorical_features
    feed = make_feed({c: X[c].to_numpy() for c in X.columns}, num, cat)
    for cand in cfg.model.candidates:
        model = uc.make_model(cand.params).fit(X, y)
        sess = session(to_onnx(model, num, cat, classifier=task.classifier))
        diff = np.abs(task.predict(model, X) - task.onnx_output(sess, feed))
        assert diff.max() <= cfg.gates.max_parity_diff, (cand.name, float(diff.max()))


def check_kpis_are_finite(uc: UseCase) -> None:
    uc, cfg = _config(uc)
    raw = _sample(uc)
    known = uc.labelled(raw)
    y = uc.labels(raw)[known]
    task = uc.task
    rng = np.random.default_rng(0)
    if task.classifier:
        kpis = uc.compute_kpis(y, rng.random(len(y)), 0.5, cfg.kpi)
        assert uc.profit(y, np.zeros(len(y), bool), cfg.kpi) == 0.0
    else:
        kpis = uc.compute_kpis(y, y + rng.normal(0, 1, len(y)), cfg.kpi)
    assert kpis and all(np.isfinite(v) for v in kpis.values()), kpis
    assert isinstance(uc.kpi_gates(kpis, cfg.kpi), list)


COMMON = (
    check_config_loads_and_rejects_typos,
    check_synthetic_passes_schema_and_quality_gates,
    check_synthetic_is_seeded,
    check_features_leave_input_unchanged_and_cover_model_inputs,
    check_leaky_columns_are_in_schema_but_never_model_inputs,
    check_every_candidate_fits_and_keeps_onnx_parity,
    check_kpis_are_finite,
)  # the service's checks: shared/serve/contract.py
RECORD_CHECKS = (*COMMON, check_features_are_row_wise)
HISTORY_CHECKS = (
    *COMMON,
    check_history_declares_entity_and_time,
    check_features_look_only_backwards,
    check_features_at_rows_are_those_rows_of_every_row,
)
