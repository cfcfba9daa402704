"""Tests of this remaining-life use case (written by `pilotpack new --rul`)."""

from pathlib import Path

import numpy as np

from shared.core.usecase import get_use_case
from shared.ops.training import train

from ..features import Settings
from ..usecase import USE_CASE

UC = get_use_case(Path(__file__).parents[1].name)
FAST = ["gates.n_bootstrap=100", "model.cv_folds=2", "data.synthetic_rows=4000"]


def test_registered_from_its_folder():
    assert UC.task.name == USE_CASE.task.name == "regression"
    assert UC.id_column == Settings().entity_column and UC.history


def test_synthetic_histories_validate_and_labels_are_capped():
    cfg = UC.load_config(FAST)
    raw, _ = UC.task.training.synthetic(UC, cfg)
    assert UC.task.training.validate(UC, cfg, raw).ok
    y = UC.task.labels(UC, raw)
    assert np.nanmax(y) <= Settings().cap and np.nanmin(y) == 0


def test_trains_on_synthetic_histories_with_onnx_parity():
    n = len(UC.load_config().model.candidates)
    overrides = FAST + [f"model.candidates.{i}.grid={{}}" for i in range(n)]
    result = train(UC, UC.load_config(overrides), overrides=overrides, track=False)
    assert result.parity.ok
    assert np.isfinite(result.metrics["rmse"])
