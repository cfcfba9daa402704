"""Tabular classifier pipelines whose every learned step converts to ONNX."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared.config import LightGBMParams, LogisticParams


def make_tabular_classifier(
    params: LightGBMParams | LogisticParams,
    numeric: Sequence[str],
    categorical: Sequence[str],
    seed: int = 42,
) -> Any:
    """ColumnTransformer (one-hot for categories) + LightGBM or logistic regression.

    Trees get raw numbers: a float32 StandardScaler in front of splits moves values across
    thresholds and breaks ONNX parity. The linear model needs the scaler and is immune to that.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    onehot = OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype="float32")
    if isinstance(params, LightGBMParams):
        from lightgbm import LGBMClassifier

        numeric_step: Any = "passthrough"
        fields = params.model_dump(exclude={"kind"})
        clf = LGBMClassifier(**fields, random_state=seed, n_jobs=1, verbose=-1)
    else:
        from sklearn.linear_model import LogisticRegression

        numeric_step = StandardScaler()
        clf = LogisticRegression(C=params.C, max_iter=params.max_iter)
    pre = ColumnTransformer(
        [("num", numeric_step, list(numeric)), ("cat", onehot, list(categorical))],
        sparse_threshold=0.0,
    )
    return Pipeline([("features", pre), ("model", clf)])
