"""Everything that learns from data: one LightGBM regressor over all series, converted to ONNX."""

from collections.abc import Sequence
from typing import Any

from shared.tasks.forecast.config import GlobalModelParams as ModelParams
from shared.tasks.forecast.model import make_global_regressor

from .features import LAGS, MEANS

# The columns build_features returns, in the order of the ONNX inputs.
FEATURES = (
    "step",
    *(f"lag_{k}" for k in LAGS),
    *(f"mean_{k}" for k in MEANS),
    "std_13",
    "same_week_last_year",
    "week_before_last_year",
    "week_after_last_year",
    "same_week_two_years_ago",
    "growth_8",
    "last_year_with_growth",
    "week_of_year",
    "month_start_day",
    "month_start_day_last_year",
    "holiday",
    "holiday_last_year",
    "log_scale",
    "weeks_observed",
    "zero_share_52",
    "negative_share_52",
)

__all__ = ["FEATURES", "ModelParams", "make_model"]


def make_model(
    params: ModelParams,
    feature_names: Sequence[str] = FEATURES,
    n_jobs: int = 1,
    seed: int = 42,
) -> Any:
    """`feature_names`: FEATURES plus one input per flag of a calendar file (config data.calendar)."""
    # ADAPT: another regressor goes here, as long as skl2onnx can convert it.
    return make_global_regressor(params, feature_names, n_jobs=n_jobs, seed=seed)
