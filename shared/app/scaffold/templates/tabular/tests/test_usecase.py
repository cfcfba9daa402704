"""Tests of this use case (written by `pilotpack new`; add domain tests here)."""

from pathlib import Path

import numpy as np

from shared.core.usecase import get_use_case
from shared.ops.training import train

from ..schema import TARGET
from ..usecase import USE_CASE

UC = get_use_case(Path(__file__).parents[1].name)
# The flow, not the tuning: fewer draws, folds and rows, and a searched LightGBM tries only its
# two fixed trials (its defaults and the configured params).
FAST = [
    "gates.n_bootstrap=100",
    "model.cv_folds=2",
    "data.synthetic_rows=2000",
    "model.search.trials=2",
]


def test_registered_from_its_folder():
    assert UC.task is USE_CASE.task and UC.target == TARGET
    assert UC.folder == Path(__file__).parents[1]


def test_synthetic_rows_validate():
    cfg = UC.load_config(FAST)
    raw = UC.make_synthetic(cfg.data.synthetic_rows, cfg.data.seed)
    assert UC.task.training.validate(UC, cfg, raw).ok


def test_trains_on_synthetic_rows_with_onnx_parity():
    n = len(UC.load_config().model.candidates)
    overrides = FAST + [f"model.candidates.{i}.grid={{}}" for i in range(n)]
    result = train(UC, UC.load_config(overrides), overrides=overrides, track=False)
    assert result.parity.ok
    metric = "roc_auc" if UC.task.classifier else "rmse"
    assert np.isfinite(result.metrics[metric])
