"""Intermittent demand: classify series by ADI and CV² (Syntetos-Boylan), route intermittent
and lumpy series to the method that wins on earlier windows, and score each class apart.

- ADI: mean interval between periods with demand (observed periods / periods with y > 0).
- CV²: squared coefficient of variation of the demand sizes (y > 0).
- smooth: ADI < 1.32 and CV² < 0.49; erratic: ADI < 1.32, CV² >= 0.49; intermittent:
  ADI >= 1.32, CV² < 0.49; lumpy: both above. A history with no demand at all is lumpy-like
  and counted as intermittent. Pure numpy: the service classifies request histories too.
"""

from __future__ import annotations

import numpy as np

from shared.tasks.forecast.metrics import forecast_metrics

ADI_CUT = 1.32
CV2_CUT = 0.49
CLASSES = ("smooth", "erratic", "intermittent", "lumpy")
ROUTED = ("intermittent", "lumpy")  # the classes routed to a method of their own
ZERO = 0.5  # a forecast below half a unit is "zero": what a planner would order


def adi_cv2(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[n] ADI and CV² of each row of `y` [n, L] (NaN = not observed, skipped)."""
    seen = np.isfinite(y)
    demand = seen & (np.nan_to_num(y) > 0)
    n_seen, n_demand = seen.sum(axis=1), demand.sum(axis=1)
    adi = np.divide(n_seen, n_demand, out=np.full(len(y), np.inf), where=n_demand > 0)
    sizes = np.where(demand, y, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nanmean(np.where(n_demand[:, None] > 0, sizes, 1.0), axis=1)
        std = np.nanstd(np.where(n_demand[:, None] > 0, sizes, 1.0), axis=1)
    cv2 = np.where(n_demand > 0, (std / mean) ** 2, 0.0)
    return adi, cv2


def demand_classes(y: np.ndarray) -> np.ndarray:
    """[n] Syntetos-Boylan class of each row of `y` [n, L]."""
    adi, cv2 = adi_cv2(y)
    sporadic, variable = adi >= ADI_CUT, cv2 >= CV2_CUT
    out = np.where(sporadic, "intermittent", "smooth").astype(object)
    out[sporadic & variable] = "lumpy"
    out[~sporadic & variable] = "erratic"
    return out.astype(str)


def class_metrics(
    y: np.ndarray, f: np.ndarray, scale: np.ndarray, classes: np.ndarray
) -> dict[str, dict[str, float]]:
    """Per class: series, WAPE, MASE, bias, and the share of periods forecast as zero against
    the share that were zero."""
    out = {}
    for c in CLASSES:
        rows = classes == c
        if not rows.any():
            continue
        seen = np.isfinite(y[rows])
        out[c] = {"series": int(rows.sum())} | forecast_metrics(y[rows], f[rows], scale[rows])
        out[c]["zero_forecast_share"] = float((np.abs(f[rows][seen]) < ZERO).mean())
        out[c]["zero_actual_share"] = float((y[rows][seen] == 0).mean())
    return out
