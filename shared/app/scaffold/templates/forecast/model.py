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
    "same_period_last_season",
    "period_before_last_season",
    "period_after_last_season",
    "same_period_two_seasons_ago",
    "growth_8",
    "last_season_with_growth",
    "week_of_year",
    "holiday",
    "holiday_last_season",
    "log_scale",
    "periods_observed",
    "zero_share_season",
    "negative_share_season",
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
