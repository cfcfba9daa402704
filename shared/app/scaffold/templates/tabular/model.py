"""Everything that learns from data: one scikit-learn Pipeline, converted whole to ONNX."""

from typing import Any

from shared.core.config import ModelParams
from shared.core.onnx_export import make_tabular_classifier, make_tabular_regressor
from shared.tasks import get_task

from .wiring import CATEGORICAL_COLUMNS, NUMERIC_COLUMNS, TASK

NUMERIC = tuple(NUMERIC_COLUMNS.values())
CATEGORICAL = tuple(CATEGORICAL_COLUMNS.values())


def make_model(params: ModelParams) -> Any:
    # ADAPT: a different model family goes here, as long as skl2onnx can convert it.
    make = make_tabular_classifier if get_task(TASK).classifier else make_tabular_regressor
    return make(params, NUMERIC, CATEGORICAL)
