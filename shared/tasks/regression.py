"""Task `regression`: one row per record (or per reading of an asset), a number to predict.

This is the light part (what a service and a use case's wiring need); candidates, tuning,
gates and report are its training part, shared/tasks/regression_training.py, reached through
`TASK.training`.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from shared.core.config import RegressionGatesConfig
from shared.core.usecase import Output, UseCase
from shared.tasks.base import TabularTask

if TYPE_CHECKING:
    from shared.tasks.regression_training import RegressionTraining


def phm08_scores(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """PHM08 score per row, d = predicted - true: exp(-d/13) - 1 when early (d < 0),
    exp(d/10) - 1 when late: a late remaining-life estimate risks a failure, so it costs more."""
    d = np.asarray(y_pred, dtype=np.float64) - np.asarray(y_true, dtype=np.float64)
    return np.where(d < 0, np.expm1(-d / 13.0), np.expm1(d / 10.0))


class RegressionTask(TabularTask):
    name = "regression"
    monitoring = "regression"
    realised_metric = "mae"
    classifier = False
    repeat_metrics = ("rmse", "mae")

    def gates_model(self) -> type:
        return RegressionGatesConfig

    def labels(self, uc: UseCase, raw: pd.DataFrame) -> np.ndarray:
        """The target as float (a derived target, e.g. capped, when the use case makes one)."""
        if uc.make_labels is not None:
            return np.asarray(uc.make_labels(raw), dtype=np.float64)
        return raw[uc.target].to_numpy(dtype=np.float64)

    def labelled(self, uc: UseCase, raw: pd.DataFrame) -> np.ndarray:
        return np.isfinite(self.labels(uc, raw))

    @cached_property
    def training(self) -> RegressionTraining:
        """Candidates, evaluation, export, gates and report of this task."""
        # why: serving never loads the training stack
        from shared.tasks.regression_training import RegressionTraining

        return RegressionTraining(self)

    # --------------------------------------------------------------------- serving

    def default_outputs(self, uc: UseCase) -> tuple[Output, ...]:
        return (Output("prediction", "prediction", f"predicted {uc.target}"),)

    def scored(self, values: np.ndarray, metadata: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"prediction": float(v)} for v in values]

    def scored_columns(self, values: np.ndarray, metadata: dict[str, Any]) -> dict[str, np.ndarray]:
        """`scored` by column, for a file of records."""
        return {"prediction": np.asarray(values, dtype=np.float64)}


TASK = RegressionTask()
