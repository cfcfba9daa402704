"""Batch forecasts for every series of a file from the stored model (`pilotpack forecast`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from shared.core.usecase import UseCase
from shared.tasks.forecast.backtest import make_panel, validate_forecast_raw
from shared.tasks.forecast.predictor import ForecastPredictor
from shared.tasks.forecast.windows import Windows, panel_windows

RunWindows = Callable[[UseCase, ForecastPredictor, Any, Windows], dict[str, Any]]
"""(use case, predictor, config, windows) -> what `ForecastPredictor.predict_windows` returns."""


def in_process(uc: UseCase, pred: ForecastPredictor, cfg: Any, w: Windows) -> dict[str, Any]:
    """Every window in this process."""
    return pred.predict_windows(w)


def batch_forecast(
    uc: UseCase,
    raw: pd.DataFrame,
    horizon: int,
    cfg: Any = None,
    run: RunWindows | None = None,
) -> pd.DataFrame:
    """Forecasts for every series from the served model (the champion), one row per series
    and step.

    Each series is forecast from its own last observed period; holiday flags after the data's
    end come from the calendar file when it lists them, else from one season earlier.
    `run` forecasts the windows: in process by default, or on groups of series on an engine's
    workers (`shared.ops.scale.windows_on(engine)`, e.g. a Dask cluster); the panel and
    windows are built here, so every engine forecasts the same windows.
    """

    cfg = cfg or uc.load_config()
    validate_forecast_raw(raw, uc, cfg)
    pred = ForecastPredictor.from_store(uc)
    if horizon > pred.max_horizon:
        raise ValueError(f"horizon {horizon} exceeds the trained maximum {pred.max_horizon}")
    panel = make_panel(uc, raw, cfg)
    w = panel_windows(
        panel,
        np.arange(panel.n_series),
        panel.last,
        pred.history_length,
        horizon,
        pred.rules.season,
        pred.scale_floor,
        uc.forecast.id_columns,  # the group `baselines.smoothing` smooths series by
        whole_history=True,  # the statistical members read it all, as in backtests
    )
    out = (run or in_process)(uc, pred, cfg, w)
    n, H = w.n, horizon
    frame: dict[str, Any] = {c: np.repeat(panel.keys[c], H) for c in uc.forecast.id_columns}
    frame[uc.time_column] = w.future_dates().reshape(-1).astype("datetime64[ns]")
    frame["step"] = np.tile(np.arange(1, H + 1), n)
    frame["forecast"] = out["forecast"].reshape(-1)
    for level, (lo, hi) in out["bounds"].items():
        frame[f"lo_{level}"] = lo.reshape(-1)
        frame[f"hi_{level}"] = hi.reshape(-1)
    frame["method"] = np.repeat(np.where(out["fallback"], "fallback", pred.method), H)
    frame["model_version"] = pred.version
    order = [*uc.forecast.id_columns, "step"]
    return pd.DataFrame(frame).sort_values(order, kind="stable").reset_index(drop=True)
