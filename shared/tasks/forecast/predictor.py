"""Serving a stored global model: request histories -> windows -> ONNX -> forecasts + intervals.

No pandas in the request path. `check_history` is what the request models call in their
validators, so bad input is a 400 naming the problem, never a 500.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np

from shared.core.onnx_export import make_feed, session
from shared.core.store import StoredModel, load_model
from shared.core.tracking import model_tag
from shared.tasks.forecast.backtest import ENSEMBLE, ensemble_forecast
from shared.tasks.forecast.baselines import stat_forecasts
from shared.tasks.forecast.calendar import (
    NAMES,
    Calendar,
    as_days,
    gap_periods,
    off_grid,
    period_index,
    shift,
)
from shared.tasks.forecast.config import BacktestConfig, BaselinesConfig
from shared.tasks.forecast.features import seasonal
from shared.tasks.forecast.intermittent import demand_classes
from shared.tasks.forecast.intervals import interval_bounds
from shared.tasks.forecast.model import combine, feature_arrays
from shared.tasks.forecast.windows import Windows, history_windows

FALLBACK_NOTE = (
    "history has {seen} observed period(s), fewer than the {need} the model needs: forecast = "
    "mean of the last {window} observed values (intervals from the model's backtest residuals)"
)


def check_history(dates: Sequence[date], freq: str = "W", max_periods: int | None = None) -> int:
    """Raise ValueError naming the first problem; return how many missing periods lie inside.

    Dates must be strictly increasing and on the grid of `freq` from the first date (a missing
    period is filled as in training); the whole span at most `max_periods` periods.
    """
    if not dates:
        raise ValueError("history is empty: send at least one period")
    grid = as_days(dates)  # converted once for every check below
    diff = np.diff(grid.astype(np.int64))
    if (diff == 0).any():
        i = int(np.flatnonzero(diff == 0)[0])
        raise ValueError(f"duplicate date {dates[i + 1]} in history")
    if (diff < 0).any():
        i = int(np.flatnonzero(diff < 0)[0])
        raise ValueError(f"history dates are not sorted: {dates[i]} is followed by {dates[i + 1]}")
    off = off_grid(grid, grid[0], freq)
    if off.any():
        i = int(np.flatnonzero(off)[0])
        raise ValueError(
            f"wrong frequency: {dates[i]} is not on the {NAMES[freq]}ly grid (data.freq={freq}) "
            f"starting {dates[0]}"
        )
    steps = gap_periods(grid, freq)
    span = int(steps.sum()) + 1
    if max_periods is not None and span > max_periods:
        raise ValueError(f"history spans {span} periods, more than the {max_periods} accepted")
    return int((steps - 1).sum())


def regular_history(
    dates: Sequence[date],
    values: Sequence[float],
    flags: Sequence[bool],
    freq: str = "W",
    gaps: str = "zero",
) -> tuple[np.ndarray, np.ndarray, np.datetime64]:
    """Validated history -> (values, flags) on a regular grid; a missing period is 0 under
    `gaps: zero`, NaN (not observed) under `gaps: missing`, as in training."""

    days = as_days(dates)
    idx = period_index(days, days[0], freq)
    y = np.zeros(idx[-1] + 1) if gaps == "zero" else np.full(idx[-1] + 1, np.nan)
    hol = np.zeros(idx[-1] + 1)
    y[idx] = np.asarray(values, dtype=np.float64)
    hol[idx] = np.asarray(flags, dtype=np.float64)
    return y, hol, days[-1]


class ForecastPredictor:
    """Loads the ONNX model once; forecasts a batch of histories."""

    def __init__(self, uc: Any, stored: StoredModel):
        md = stored.metadata
        self.uc = uc
        self.stored = stored
        self.session = session(str(stored.onnx_path))
        self.names = list(md["feature_names"])
        self.version = str(md.get("mlflow_version") or stored.tag)
        self.quantiles = {str(k): list(v) for k, v in md["interval_quantiles"].items()}
        self.history_length = int(md["history_length"])
        self.scale_floor = float(md["scale_floor"])
        self.target = str(md.get("target", "scaled"))  # older models: value / scale
        self.freq = str(md.get("freq", "W"))
        self.gaps = str(md.get("gaps", "zero"))
        self.calendar = Calendar.from_dict(md["calendar"]) if md.get("calendar") else None
        self.holiday_column = md.get("holiday_column")
        self.chosen = str(md.get("chosen_model", ""))
        self.global_model = str(md.get("global_model", "lightgbm"))
        # the ensemble's weights (global model first); older models stored one partner at 0.5
        weights = md.get("ensemble_weights") or (
            {md["global_model"]: 0.5, md["ensemble_partner"]: 0.5}
            if md.get("ensemble_partner")
            else {}
        )
        self.weights = (
            {str(k): float(v) for k, v in weights.items()} if self.chosen == ENSEMBLE else {}
        )
        routes = md.get("class_routes") or {}
        self.routes = {str(k): str(v) for k, v in routes.items()} if self.chosen == ENSEMBLE else {}
        self.baselines = BaselinesConfig.model_validate(md.get("baselines") or {})
        self.rules = BacktestConfig(
            horizon=int(md["horizon"]),
            season=int(md["season"]),
            min_history=int(md["min_history"]),
            fallback_window=int(md["fallback_window"]),
            clip_at_zero=bool(md["clip_at_zero"]),
        )
        self._build = self._inputs(uc)

    def _inputs(self, uc: Any) -> Any:
        extra = [n for n in self.names if n not in uc.forecast.feature_names]
        if not extra:
            return uc.build_features

        def build(w: Windows) -> dict[str, np.ndarray]:
            flat = {k: v.reshape(-1) for k, v in w.future_flags.items()}
            return dict(uc.build_features(w)) | {c: flat[c] for c in extra}

        return build

    @classmethod
    def from_store(cls, uc: Any) -> ForecastPredictor:
        return cls(uc, load_model(model_tag(uc)))

    @property
    def max_horizon(self) -> int:
        return self.rules.horizon

    @property
    def method(self) -> str:
        return self.chosen or "model"

    def model_output(self, w: Windows) -> np.ndarray:
        """[n * H] the ONNX model's output (target / scale)."""
        feed = make_feed(feature_arrays(self._build, w, self.names), self.names, [])
        return self.session.run(None, feed)[0][:, 0].astype(np.float64)

    def predict_windows(self, w: Windows) -> dict[str, Any]:
        """Forecast [n, H], fallback mask [n], {level: (low, high)} for a batch of windows."""
        if w.horizon > self.max_horizon:
            raise ValueError(f"horizon {w.horizon} exceeds the trained maximum {self.max_horizon}")
        f, short = combine(self.model_output(w), w, self.rules, self.target)
        stats = [m for m in self.weights if m in self.baselines.models and self.weights[m]]
        if stats:
            sm = self.baselines.smoothing
            groups = w.static.get(sm.group) if sm is not None else None
            members = stat_forecasts(
                w.members_y, w.horizon, self.baselines, self.rules.season, stats, groups
            )
            members[self.global_model] = f
            f = ensemble_forecast(members, self.weights, self.rules.clip_at_zero)
        if self.routes:
            f = self.route(w, f)
        bounds = interval_bounds(f, w.scale, self.quantiles, self.rules.clip_at_zero)
        return {"forecast": f, "fallback": short, "bounds": bounds, "observed": w.observed()}

    def route(self, w: Windows, f: np.ndarray) -> np.ndarray:
        """Intermittent and lumpy histories get the method their class was routed to."""
        classes = demand_classes(w.y)
        f = f.copy()
        for c, method in self.routes.items():
            rows = np.flatnonzero(classes == c)
            if len(rows):
                out = stat_forecasts(
                    w.members_y[rows], w.horizon, self.baselines, self.rules.season, [method]
                )
                f[rows] = np.maximum(out[method], 0.0) if self.rules.clip_at_zero else out[method]
        return f

    def windows(
        self,
        histories: Sequence[tuple[np.ndarray, np.ndarray, np.datetime64]],
        future_holidays: Sequence[np.ndarray],
        static: dict[str, np.ndarray] | None = None,
    ) -> Windows:
        """Regular histories (from `regular_history`) -> one Windows batch."""
        return history_windows(
            [h[0] for h in histories],
            [h[1] for h in histories],
            future_holidays,
            np.array([h[2] for h in histories], dtype="datetime64[D]"),
            self.history_length,
            self.rules.season,
            self.scale_floor,
            static,
            self.freq,
            self.calendar,
        )

    def future_flags(self, y_hol: np.ndarray, last: np.datetime64, horizon: int) -> np.ndarray:
        """[H] holiday flags ahead: the calendar file's when it lists the holiday column, else
        the flag of the same period in the latest past season of the history (0 before it)."""
        if self.calendar is not None and self.holiday_column in self.calendar.flags:
            dates = shift(last, np.arange(1, horizon + 1), self.freq)
            return self.calendar.lookup(dates)[self.holiday_column]
        # the seasonal naive of the flags (features.seasonal), 0 where it reaches before the history
        past = seasonal(y_hol[None, :], horizon, self.rules.season)[0]
        return np.where(np.isnan(past), 0.0, past)

    def fallback_note(self, observed: int) -> str:
        return FALLBACK_NOTE.format(
            seen=observed, need=self.rules.min_history, window=self.rules.fallback_window
        )


def forecast_histories(
    predictor: ForecastPredictor,
    histories: Sequence[tuple[Sequence[date], Sequence[float], Sequence[bool]]],
    horizons: Sequence[int],
    future_holidays: Sequence[Sequence[bool] | None],
    static: dict[str, np.ndarray] | None = None,
) -> list[dict[str, Any]]:
    """Validated request histories -> per series: method, note, filled periods and, per step,
    date, point forecast and interval bounds. Future holiday flags default to the calendar
    file's, else to the flag one season earlier in the history. `static`: id column -> [n]
    values (the group `baselines.smoothing` smooths the request's series by)."""
    regular = [regular_history(d, v, f, predictor.freq, predictor.gaps) for d, v, f in histories]
    H = max(horizons)
    flags = []
    for (_, hol, last), fut in zip(regular, future_holidays, strict=True):
        if fut is not None:
            flags.append(np.pad(np.asarray(fut, dtype=np.float64), (0, H - len(fut))))
        else:
            flags.append(predictor.future_flags(hol, last, H))
    w = predictor.windows(regular, flags, static)
    out = predictor.predict_windows(w)
    dates = w.future_dates().astype(object)
    results = []
    for i, h in enumerate(horizons):
        steps = []
        for s in range(h):
            step = {"step": s + 1, "date": dates[i, s], "forecast": float(out["forecast"][i, s])}
            for level, (lo, hi) in out["bounds"].items():
                step[f"lo_{level}"] = float(lo[i, s])
                step[f"hi_{level}"] = float(hi[i, s])
            steps.append(step)
        fallback = bool(out["fallback"][i])
        results.append(
            {
                "method": "fallback" if fallback else "model",
                "note": predictor.fallback_note(int(out["observed"][i])) if fallback else None,
                "filled_periods": int(len(regular[i][0]) - len(histories[i][0])),
                "steps": steps,
                "model_version": predictor.version,
            }
        )
    return results
