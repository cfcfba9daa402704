"""Tabular pipelines whose every learned step converts to ONNX: classifiers and regressors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from shared.core.config import LightGBMParams, LogisticParams, RidgeParams


def preprocessor(numeric: Sequence[str], categorical: Sequence[str], scale: bool) -> Any:
    """Numbers passed through (or standardised for a linear model), categories one-hot.

    Trees get raw numbers: a float32 StandardScaler in front of splits moves values across
    thresholds and breaks ONNX parity. The linear model needs the scaler and is immune to that.
    """
    from skl2onnx.sklapi import CastTransformer
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    # The linear model's graph computes in float64 from the float32 inputs on: in float32,
    # centring values near 2,388 with std 0.15 is off by 1e-3 std (0.015 cycles of predicted
    # life); in float64 native and ONNX agree to 1e-12. The cast is a no-op natively.
    # Trees route missing numbers themselves; the linear model gets the training median.
    scaler = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median")),  # ONNX's Imputer takes float32 only
            ("float64", CastTransformer(dtype=np.float64)),
            ("scale", StandardScaler()),
        ]
    )
    steps: list[tuple[str, Any, list[str]]] = [
        ("num", scaler if scale else "passthrough", list(numeric))
    ]
    if categorical:
        onehot = OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype="float32")
        steps.append(("cat", onehot, list(categorical)))
    return ColumnTransformer(steps, sparse_threshold=0.0)


def _lightgbm(params: LightGBMParams, seed: int, regressor: bool) -> Any:
    from lightgbm import LGBMClassifier, LGBMRegressor

    cls = LGBMRegressor if regressor else LGBMClassifier
    return cls(
        **params.model_dump(exclude={"kind"}),
        # LightGBM ignores `subsample` unless rows are re-drawn every `subsample_freq` trees.
        subsample_freq=1 if params.subsample < 1 else 0,
        random_state=seed,
        deterministic=True,
        force_row_wise=True,  # `deterministic` asks for a fixed histogram layout
        n_jobs=1,  # LightGBM's OpenMP threads spin on a busy 2-core machine (70x slower seen)
        verbose=-1,
    )


def make_tabular_classifier(
    params: LightGBMParams | LogisticParams,
    numeric: Sequence[str],
    categorical: Sequence[str],
    seed: int = 42,
) -> Any:
    """Preprocessing + LightGBM or logistic regression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    linear = not isinstance(params, LightGBMParams)
    model = (
        LogisticRegression(C=params.C, max_iter=params.max_iter)
        if linear
        else _lightgbm(params, seed, regressor=False)
    )
    return Pipeline([("features", preprocessor(numeric, categorical, linear)), ("model", model)])


def make_tabular_regressor(
    params: LightGBMParams | RidgeParams,
    numeric: Sequence[str],
    categorical: Sequence[str] = (),
    seed: int = 42,
) -> Any:
    """Preprocessing + LightGBM or ridge regression."""
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import Pipeline

    linear = not isinstance(params, LightGBMParams)
    model = Ridge(alpha=params.alpha) if linear else _lightgbm(params, seed, regressor=True)
    return Pipeline([("features", preprocessor(numeric, categorical, linear)), ("model", model)])
