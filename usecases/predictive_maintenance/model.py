"""Everything that learns from data: one scikit-learn Pipeline, converted whole to ONNX."""

from collections.abc import Sequence
from typing import Any

from shared.core.config import ModelParams
from shared.core.onnx_export import make_tabular_classifier, make_tabular_regressor

from .features import SNAPSHOT_CATEGORICAL, SNAPSHOT_NUMERIC

NUMERIC = SNAPSHOT_NUMERIC
CATEGORICAL = SNAPSHOT_CATEGORICAL

__all__ = [
    "CATEGORICAL",
    "NUMERIC",
    "ModelParams",
    "make_model",
    "make_fleet_model",
    "make_rul_model",
]


def make_model(params: ModelParams) -> Any:
    # ADAPT: a different model family goes here, as long as skl2onnx can convert it.
    return make_tabular_classifier(params, NUMERIC, CATEGORICAL)


def make_fleet_model(params: ModelParams, numeric: Sequence[str]) -> Any:
    """Fleet mode: all inputs are numbers; which ones follows from the configured windows."""
    return make_tabular_classifier(params, numeric, ())


def make_rul_model(params: ModelParams, numeric: Sequence[str]) -> Any:
    """Remaining useful life (cycles): LightGBM or ridge on the rolling sensor features."""
    # ADAPT: objective "huber" or "regression_l1" if a few labels are badly wrong.
    return make_tabular_regressor(params, numeric, ())
