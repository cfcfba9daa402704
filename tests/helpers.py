"""Small helpers shared by the test files."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from shared.training import TrainResult, train
from shared.usecase import UseCase

# Enough to exercise every step; the full grids run in `make demo` and the real-data tests.
FAST = ["gates.n_bootstrap=100", "model.cv_folds=2"]


def fast_overrides(uc: UseCase) -> list[str]:
    """One grid point per candidate and fewer bootstrap draws: the flow, not the tuning, is tested."""
    cfg = uc.load_config()
    if not hasattr(cfg.model, "candidates"):  # other tasks keep their (small) defaults
        return []
    out = list(FAST)
    for i, cand in enumerate(cfg.model.candidates):
        out.append(f"model.candidates.{i}.grid={{}}")
        if cand.params.kind == "lightgbm":
            out.append(f"model.candidates.{i}.params.n_estimators=100")
    return out


def train_fast(uc: UseCase, extra: list[str] | None = None, **kwargs: Any) -> TrainResult:
    overrides = fast_overrides(uc) + (extra or [])
    return train(uc, uc.load_config(overrides), overrides=overrides, **kwargs)


def onnx_scorer(uc: UseCase) -> Callable[[pd.DataFrame], np.ndarray]:
    """Train fast (untracked) and return raw frame -> probabilities from the exported ONNX graph."""
    from shared.onnx_export import make_feed, onnx_proba, session

    sess = session(train_fast(uc, track=False).onnx_bytes)

    def score(raw: pd.DataFrame) -> np.ndarray:
        feed = make_feed(uc.build_features(raw), uc.numeric_features, uc.categorical_features)
        return onnx_proba(sess, feed)

    return score
