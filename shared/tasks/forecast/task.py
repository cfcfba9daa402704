"""Task `forecast`: many series on one calendar (daily, weekly, monthly), H periods ahead.

Candidates are statsforecast baselines, a LightGBM global model (direct multi-step, ONNX) and
the ensemble (a weighted mean of the global model and baselines, weights chosen on earlier
windows; intermittent classes routed to a Croston-type method when it won before), all
scored in rolling-origin backtests. The chosen candidate (global model or ensemble, lowest
MASE) must beat the reference baseline (`gates.baseline`: the best one by default) by the
WAPE margin or a paired test, and on MASE, and pass the use case's KPI gates; otherwise the
best baseline is reported as chosen and nothing is served.
The pieces live in shared/tasks/forecast/. This file is the light part (what the forecast
service and a use case's wiring need); shared/tasks/forecast/training.py wires the pieces into
the run skeleton, reached through `TASK.training`.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from shared.core.usecase import UseCase
from shared.tasks.forecast.config import forecast_config_model

if TYPE_CHECKING:
    from shared.tasks.forecast.training import ForecastTraining


class ForecastTask:
    name = "forecast"
    route = "/forecast"
    monitoring = "forecast"
    live_drift = False  # drift is of series features over the history: `pilotpack monitor`
    realised_metric = "wape"
    serves = "series"
    explainable = False
    batch_scorable = False  # `pilotpack forecast` writes forecasts for a file of histories
    batch_forecasts = True
    classifier = False
    repeat_metrics: tuple[str, ...] = ()  # no repeated-split evaluation: the backtest is it

    # --------------------------------------------------------------------- config + data

    def config_model(self, uc: UseCase) -> type:
        return forecast_config_model(uc.name, uc.kpi_config)

    def labels(self, uc: UseCase, raw: pd.DataFrame) -> np.ndarray:
        return raw[uc.target].to_numpy(dtype=np.float64)

    def labelled(self, uc: UseCase, raw: pd.DataFrame) -> np.ndarray:
        return np.isfinite(self.labels(uc, raw))

    @cached_property
    def training(self) -> ForecastTraining:
        """Backtests, export, gates, report, batch forecasts and benchmark of this task."""
        # why: serving never loads the training stack
        from shared.tasks.forecast.training import ForecastTraining

        return ForecastTraining(self)


TASK = ForecastTask()
