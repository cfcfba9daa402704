"""Everything that learns from data: one scikit-learn Pipeline, converted whole to ONNX."""

from collections.abc import Sequence
from typing import Any

from shared.core.config import ModelParams
from shared.core.onnx_export import make_tabular_regressor


def make_model(params: ModelParams, numeric: Sequence[str] = ()) -> Any:
    # ADAPT: a different model family goes here, as long as skl2onnx can convert it.
    return make_tabular_regressor(params, numeric, ())
