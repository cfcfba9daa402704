"""The global model: one LightGBM regressor over every series, direct multi-step.

Each training row is (origin, step h): inputs are what is known at the origin (the use case's
`build_features`, with h as an input), the target is the value h periods later divided by the
series' scale. One model and one ONNX call give all H steps: no recursion, no error feeding
back into later steps. Series with less than `min_history` observed periods get the fallback
rule instead (mean of the last `fallback_window` observed values), in backtests and serving.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from shared.core.usecase import Features
from shared.tasks.forecast.config import BacktestConfig, GlobalModelConfig, GlobalModelParams
from shared.tasks.forecast.panel import Panel
from shared.tasks.forecast.windows import Windows, panel_targets, panel_windows

OBJECTIVES = {"l1": "regression_l1", "l2": "regression", "huber": "huber"}


def make_global(
    make_model: Callable[..., Any],
    params: GlobalModelParams,
    names: Sequence[str],
    default_names: Sequence[str],
    n_jobs: int = 1,
    seed: int = 42,
) -> Any:
    """The use case's `make_model`, told its input names when it accepts `feature_names=`
    (needed when a calendar file adds inputs)."""
    import inspect

    if "feature_names" in inspect.signature(make_model).parameters:
        return make_model(params, feature_names=list(names), n_jobs=n_jobs, seed=seed)
    if list(names) != list(default_names):
        raise TypeError(
            "make_model(params, ...) must accept feature_names= when a calendar file adds "
            f"model inputs ({sorted(set(names) - set(default_names))})"
        )
    return make_model(params, n_jobs=n_jobs, seed=seed)


def make_global_regressor(
    params: GlobalModelParams, feature_names: Sequence[str], n_jobs: int = 1, seed: int = 42
) -> Any:
    """Pipeline(passthrough columns -> LGBMRegressor): one float32 ONNX input per feature.

    No scaler in the graph: trees on float32 raw values keep parity (see DESIGN.md).
    """
    from lightgbm import LGBMRegressor
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    fields = params.model_dump(exclude={"kind", "objective", "additive"})
    names = list(feature_names)
    unknown = set(params.additive) - set(names)
    if unknown:
        raise ValueError(f"model.params.additive {sorted(unknown)} are not model inputs {names}")
    if params.additive:
        alone = [names.index(a) for a in params.additive]
        rest = [i for i in range(len(names)) if i not in alone]
        fields["interaction_constraints"] = [[i] for i in alone] + [rest]
    reg = LGBMRegressor(
        objective=OBJECTIVES[params.objective],
        subsample_freq=1 if params.subsample < 1 else 0,
        random_state=seed,
        n_jobs=n_jobs,
        verbose=-1,
        **fields,
    )
    pre = ColumnTransformer([("num", "passthrough", list(feature_names))])
    return Pipeline([("features", pre), ("model", reg)])


def snap(values: np.ndarray) -> np.ndarray:
    """float32 with the mantissa rounded to 15 bits (relative precision 3e-5).

    LightGBM keeps split thresholds in float64, the ONNX graph in float32: when two input
    values are one float32 step apart, the threshold between them rounds onto one of them and
    the two runtimes disagree (seen: 6e-4 on one row in 12,000). On this coarser grid every
    threshold lies strictly between grid points in float32 too, so native and ONNX agree.
    """
    x = np.ascontiguousarray(values, dtype=np.float32)
    bits = x.view(np.uint32)
    finite = np.isfinite(x)
    rounded = ((bits + np.uint32(0x80)) & np.uint32(0xFFFFFF00)).view(np.float32)
    return np.where(finite, rounded, x)


def to_target(scaled: np.ndarray, kind: str) -> np.ndarray:
    """value / scale -> what the model learns (`model.target`): itself, or log1p of its
    positive part (returns below 0 count as 0 there: forecasts are never below 0 anyway)."""
    return np.log1p(np.maximum(scaled, 0.0)) if kind == "log" else scaled


def from_output(output: np.ndarray, kind: str) -> np.ndarray:
    """The model's output -> value / scale: the inverse of `to_target`."""
    return np.expm1(output) if kind == "log" else output


def feature_arrays(
    build_features: Callable[[Windows], Features], w: Windows, names: Sequence[str]
) -> dict[str, np.ndarray]:
    """build_features -> snapped float32 arrays, one per model input: the serving path, no pandas."""
    feats = build_features(w)
    missing = set(names) - set(feats)
    if missing:
        raise KeyError(f"build_features did not return {sorted(missing)}")
    # one array and one snap for every input (24 snaps were a tenth of a one-series request)
    block = snap(np.array([feats[c] for c in names], dtype=np.float32))
    return dict(zip(names, block, strict=True))


def feature_frame(
    build_features: Callable[[Windows], Features], w: Windows, names: Sequence[str]
) -> pd.DataFrame:
    """The same values as `feature_arrays`, as the frame the native model is fitted on."""
    return pd.DataFrame(feature_arrays(build_features, w, names))


def training_origins(
    panel: Panel, cutoff: int, horizon: int, min_history: int, max_origins: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(series rows, origin indices) whose history has >= min_history observed periods and whose
    first target lies on or before `cutoff` (later targets are masked by the caller); a seeded
    uniform sample of at most `max_origins`."""
    lo = panel.first + min_history - 1
    hi = np.minimum(cutoff - 1, panel.last - 1)
    counts = np.clip(hi - lo + 1, 0, None)
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    pick = np.arange(total)
    if total > max_origins:
        pick = np.sort(np.random.default_rng(seed).choice(total, max_origins, replace=False))
    ends = np.cumsum(counts)
    rows = np.searchsorted(ends, pick, side="right")
    offset = pick - (ends[rows] - counts[rows])
    return rows.astype(np.int64), (lo[rows] + offset).astype(np.int64)


def training_set(
    panel: Panel,
    cutoff: int,
    build_features: Callable[[Windows], Features],
    names: Sequence[str],
    bt: BacktestConfig,
    mc: GlobalModelConfig,
    static_keys: Sequence[str] = (),
) -> tuple[pd.DataFrame, np.ndarray]:
    """Inputs and scaled targets from origins before `cutoff`; no target after `cutoff` is read."""
    H = bt.horizon
    rows, origins = training_origins(
        panel, cutoff, H, bt.min_history, max(mc.max_train_rows // H, 1), mc.seed
    )
    w = panel_windows(
        panel, rows, origins, mc.history_length, H, bt.season, mc.scale_floor, static_keys
    )
    y = panel_targets(panel, rows, origins, H)
    target_idx = origins[:, None] + 1 + np.arange(H)[None, :]
    y = np.where(target_idx <= cutoff, y, np.nan)  # the future of the cut-off stays unseen
    X = feature_frame(build_features, w, names)
    target = to_target((y / w.scale[:, None]).reshape(-1), mc.target)
    keep = np.isfinite(target)
    return X[keep].reset_index(drop=True), target[keep]


def fallback(w: Windows, window: int) -> np.ndarray:
    """[n, H] the documented rule for short histories: mean of the last `window` observed values."""
    out = np.zeros(w.n)
    for i, row in enumerate(w.y):
        seen = row[~np.isnan(row)][-window:]
        out[i] = float(seen.mean()) if len(seen) else 0.0
    return np.repeat(out[:, None], w.horizon, axis=1)


def combine(
    output: np.ndarray, w: Windows, bt: BacktestConfig, target: str = "scaled"
) -> tuple[np.ndarray, np.ndarray]:
    """Model output ([n * H], of `model.target` kind) -> forecasts [n, H] in sales units, with
    the fallback rule for short histories and the zero floor; returns (forecast, used_fallback [n])."""
    f = from_output(output, target).reshape(w.n, w.horizon) * w.scale[:, None]
    short = w.observed() < bt.min_history
    if short.any():
        f[short] = fallback(w, bt.fallback_window)[short]
    if bt.clip_at_zero:
        f = np.maximum(f, 0.0)
    return f, short
