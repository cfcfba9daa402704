"""Contract checks every forecasting use case passes, forks included (`ForecastTask.contract_checks`).

Each check is a plain function of the use case that raises on failure; the contract suite runs
every check on every registered use case whose task is "forecast".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shared.core.usecase import UseCase
from shared.tasks.forecast.backtest import (
    fit_global,
    latest_inputs,
    latest_windows,
    make_panel,
    onnx_parity,
)
from shared.tasks.forecast.model import feature_frame


def _small(uc: UseCase, seed: int = 7) -> pd.DataFrame:
    return uc.make_synthetic(40, 130, seed)


def check_config_loads_and_rejects_typos(uc: UseCase) -> None:
    import pytest

    cfg = uc.load_config()
    assert cfg.baselines.models and cfg.backtest.horizon >= 1
    with pytest.raises(ValueError, match="extra"):
        uc.load_config(["backtest.horizn=4"])


def check_synthetic_passes_validation_and_is_seeded(uc: UseCase) -> None:
    cfg = uc.load_config()
    raw, _ = uc.task.training.synthetic(uc, cfg)
    assert uc.task.training.validate(uc, cfg, raw).ok
    pd.testing.assert_frame_equal(_small(uc), _small(uc))
    assert not _small(uc).equals(_small(uc, 8))


def _latest_windows(uc: UseCase, raw: pd.DataFrame, horizon: int):  # noqa: ANN202

    cfg = uc.load_config()
    panel = make_panel(uc, raw, cfg)
    return panel, latest_windows(panel, np.arange(panel.n_series), panel.last, cfg, horizon)


def check_features_are_the_model_inputs_and_leave_input_unchanged(uc: UseCase) -> None:
    raw = _small(uc)
    before = raw.copy(deep=True)
    H = uc.load_config().backtest.horizon
    _, w = _latest_windows(uc, raw, H)
    y_before = w.y.copy()
    feats = uc.build_features(w)
    pd.testing.assert_frame_equal(raw, before)
    np.testing.assert_array_equal(w.y, y_before)
    assert tuple(feats) == tuple(uc.forecast.feature_names)
    assert all(len(v) == w.n * H for v in feats.values())
    assert uc.target not in feats and uc.time_column not in feats


def check_features_do_not_read_the_future(uc: UseCase) -> None:
    """Poison every value after an origin: the features built at that origin do not change."""

    cfg = uc.load_config()
    panel = make_panel(uc, _small(uc), cfg)
    cutoff = panel.n_periods - 1 - cfg.backtest.horizon
    rows = np.flatnonzero(panel.first <= cutoff)
    H = cfg.backtest.horizon

    def frame() -> pd.DataFrame:
        w = latest_windows(panel, rows, np.full(len(rows), cutoff), cfg, H)
        return feature_frame(uc.build_features, w, uc.forecast.feature_names)

    before = frame()
    panel.y[:, cutoff + 1 :] = np.where(np.isnan(panel.y[:, cutoff + 1 :]), np.nan, 1e9)
    pd.testing.assert_frame_equal(before, frame())


def check_global_model_keeps_onnx_parity(uc: UseCase) -> None:
    cfg = uc.load_config(["model.params.n_estimators=60"])
    panel = make_panel(uc, _small(uc), cfg)
    model = fit_global(uc, panel, panel.n_periods - 1, cfg)
    X, native, scale = latest_inputs(uc, model, panel, cfg)
    _, par = onnx_parity(model, X, native, scale, cfg.gates.max_parity_diff)
    assert par.ok, par.describe()


def check_kpis_are_finite_and_zero_error_costs_nothing(uc: UseCase) -> None:
    cfg = uc.load_config()
    rng = np.random.default_rng(0)
    y = rng.uniform(0, 100, (20, 8))
    y[0, 0] = np.nan  # a period not observed is skipped, not a NaN KPI
    kpis = uc.compute_kpis(y, y * 1.1, y * 0.8, cfg.kpi)
    assert kpis and all(np.isfinite(v) for v in kpis.values()), kpis
    perfect = uc.compute_kpis(y, y, y, cfg.kpi)
    money = [abs(v) for k, v in perfect.items() if k.endswith(("_usd", "_eur"))]
    assert not money or min(money) == 0.0
    assert isinstance(uc.kpi_gates(kpis, cfg.kpi), list)


CHECKS = (
    check_config_loads_and_rejects_typos,
    check_synthetic_passes_validation_and_is_seeded,
    check_features_are_the_model_inputs_and_leave_input_unchanged,
    check_features_do_not_read_the_future,
    check_global_model_keeps_onnx_parity,
    check_kpis_are_finite_and_zero_error_costs_nothing,
)  # the service's checks: shared/serve/contract.py
