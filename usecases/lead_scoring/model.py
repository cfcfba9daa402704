"""Everything that learns from data: one scikit-learn Pipeline, converted whole to ONNX."""

from typing import Any

from shared.core.config import ModelParams
from shared.core.onnx_export import make_tabular_classifier

from .features import PASSTHROUGH_CATEGORIES

NUMERIC = (
    "visits",
    "visits_missing",
    "time_on_site_s",
    "pages_per_visit",
    "time_per_visit_s",
    "form_answers",
    "ad_channels",
)
CATEGORICAL = ("country", *PASSTHROUGH_CATEGORIES.values())

__all__ = ["CATEGORICAL", "NUMERIC", "ModelParams", "make_model"]


def make_model(params: ModelParams) -> Any:
    # ADAPT: a different model family goes here, as long as skl2onnx can convert it.
    return make_tabular_classifier(params, NUMERIC, CATEGORICAL)
