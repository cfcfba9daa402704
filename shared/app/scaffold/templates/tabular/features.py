"""Model inputs from raw rows: row-wise, no fitting, no I/O; the same code in training and
serving. The columns are wiring.json's."""

import numpy as np

from shared.core.usecase import Columns, Features

from .wiring import CATEGORICAL_COLUMNS, NUMERIC_COLUMNS

MISSING = "missing"


def to_number(values: object) -> np.ndarray:
    """Numbers, or text holding numbers -> float; blanks and other text become NaN."""
    arr = np.asarray(values, dtype=object)
    try:
        return arr.astype(np.float64)
    except (TypeError, ValueError):
        return np.array([_number(v) for v in arr], dtype=np.float64)


def _number(v: object) -> float:
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")


def to_category(values: object) -> np.ndarray:
    """Text categories; missing values become their own category (ONNX cannot impute text)."""
    return np.array(
        [MISSING if v is None or (isinstance(v, float) and v != v) else str(v) for v in values],
        dtype=object,
    )


def build_features(raw: Columns) -> Features:
    """One array per model input; the input is not modified."""
    out: Features = {name: to_number(raw[c]) for c, name in NUMERIC_COLUMNS.items()}
    out |= {name: to_category(raw[c]) for c, name in CATEGORICAL_COLUMNS.items()}
    return out
