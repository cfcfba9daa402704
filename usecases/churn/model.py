"""Everything that learns from data: one scikit-learn Pipeline, converted whole to ONNX."""

from typing import Any

from shared.core.config import ModelParams
from shared.core.onnx_export import make_tabular_classifier

from .features import PASSTHROUGH_CATEGORIES

NUMERIC = (
    "tenure",
    "log_tenure",
    "MonthlyCharges",
    "TotalCharges",
    "avg_monthly_charge",
    "n_services",
)
CATEGORICAL = tuple(PASSTHROUGH_CATEGORIES)

__all__ = ["CATEGORICAL", "NUMERIC", "ModelParams", "make_model"]


def make_model(params: ModelParams) -> Any:
    # ADAPT: a different model family goes here, as long as skl2onnx can convert it.
    return make_tabular_classifier(params, NUMERIC, CATEGORICAL)
