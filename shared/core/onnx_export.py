"""ONNX export of a fitted pipeline, input feeds, and the parity check against the native model."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from shared.core.config import LightGBMParams, LogisticParams, RidgeParams
from shared.core.usecase import UseCase

logger = logging.getLogger(__name__)

TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}  # the only combination that converts LightGBM here


def _register_lightgbm() -> None:
    """skl2onnx needs onnxmltools' LightGBM converter to see LGBM inside a Pipeline."""
    from lightgbm import LGBMClassifier, LGBMRegressor
    from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    update_registered_converter(
        LGBMClassifier,
        "LightGbmLGBMClassifier",
        calculate_linear_classifier_output_shapes,
        convert_lightgbm,
        options={"nocl": [True, False], "zipmap": [True, False, "columns"]},
    )
    update_registered_converter(
        LGBMRegressor,
        "LightGbmLGBMRegressor",
        calculate_linear_regressor_output_shapes,
        convert_lightgbm,
        options={"split": None},
    )


# Every numeric column reaches the graph as one float32 input [N, F], in the order of
# `numeric`: a one-record run of remaining life's 145 per-column inputs took 73 us (their
# Concat alone most of it), the same graph fed one block 4 us. Text columns stay one string
# input [N, 1] each, as the converters one-hot them one by one.
NUMERIC_INPUT = "numeric_inputs"


def to_onnx(
    model: Any, numeric: Sequence[str], categorical: Sequence[str], classifier: bool = True
) -> bytes:
    """The fitted pipeline as one graph: the numeric columns as one input (NUMERIC_INPUT,
    float32 [N, F] in the order of `numeric`), each category as a string input [N, 1]."""
    import onnx

    if clash := {NUMERIC_INPUT}.intersection([*numeric, *categorical]):
        raise ValueError(f"a model input is named {sorted(clash)}, the graph's numeric block")
    graph = onnx.load_from_string(per_column_onnx(model, numeric, categorical, classifier))
    fused = fuse_numeric(graph, list(numeric))
    onnx.checker.check_model(fused)
    return fused.SerializeToString()


def per_column_onnx(
    model: Any, numeric: Sequence[str], categorical: Sequence[str], classifier: bool = True
) -> bytes:
    """The converters' graph: one input per column, float32 [N, 1] for numbers, string [N, 1]
    for categories (the layout of models exported before NUMERIC_INPUT; `session` runs both).

    A blend or a calibrated model (`shared.core.calibration.Combined`) becomes ONE graph: its
    pipelines converted side by side on the same inputs, the blend and calibrator appended.
    """
    from skl2onnx import convert_sklearn

    # why: the service only feeds and runs the graph (make_feed, session), never converts one
    from shared.core.calibration import Combined, combined_onnx

    if isinstance(model, Combined):
        return combined_onnx(
            model,
            list(numeric),
            list(categorical),
            lambda part: per_column_onnx(part, numeric, categorical, classifier=classifier),
            TARGET_OPSET,
        )
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    _register_lightgbm()
    inputs = [(c, FloatTensorType([None, 1])) for c in numeric]
    inputs += [(c, StringTensorType([None, 1])) for c in categorical]
    options = {id(model): {"zipmap": False}} if classifier else None
    onx = convert_sklearn(model, initial_types=inputs, target_opset=TARGET_OPSET, options=options)
    return onx.SerializeToString()


def fuse_numeric(model: Any, numeric: list[str]) -> Any:
    """A copy of the ModelProto with the per-column numeric inputs replaced by NUMERIC_INPUT.

    The converters concatenate the numeric inputs first (one Concat per pipeline, two in a
    blend); such a Concat becomes an Identity of the block. Inputs any other node reads
    come from a Split of the block, so any graph stays exact."""
    from onnx import ModelProto, TensorProto, helper

    out = ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    if not numeric:
        return out
    for node in graph.node:
        axis = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "axis"), 0)
        if node.op_type == "Concat" and list(node.input) == numeric and axis in (1, -1):
            node.CopyFrom(
                helper.make_node("Identity", [NUMERIC_INPUT], list(node.output), node.name)
            )
    names = set(numeric)
    if any(names.intersection(node.input) for node in graph.node):
        split = helper.make_node("Split", [NUMERIC_INPUT], numeric, "split_numeric", axis=1)
        graph.node.insert(0, split)
    rest = [i for i in graph.input if i.name not in names]
    block = helper.make_tensor_value_info(NUMERIC_INPUT, TensorProto.FLOAT, [None, len(numeric)])
    del graph.input[:]
    graph.input.extend([block, *rest])
    return out


def session(model_bytes_or_path: bytes | str) -> Any:
    """An onnxruntime session pinned to one intra-op thread (one per worker, not one per core)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(model_bytes_or_path, opts, providers=["CPUExecutionProvider"])
    # `run` checks the feed against the graph's inputs by searching a list for each of them:
    # quadratic in the inputs, 83 of the 152 us of a one-record run with remaining life's 145.
    # The same check against a set; a feed that misses an input still fails before the run.
    inputs = sess.get_inputs()
    required = frozenset(i.name for i in inputs if not i.type.startswith("optional"))
    sess._validate_input = partial(check_feed, required)
    columns = [i.name for i in inputs if i.type == "tensor(float)"]
    if columns and NUMERIC_INPUT not in required:  # exported before NUMERIC_INPUT: split it
        logger.warning(
            "%s takes one ONNX input per numeric column (%d), as models exported before the "
            "numeric block did: it is served, splitting the block, but each run is slower "
            "(remaining life: 105 us against 4); retrain (`pilotpack train <use case>`) to "
            "export the block",
            model_bytes_or_path if isinstance(model_bytes_or_path, str) else "the graph",
            len(columns),
        )
        sess.run = partial(run_per_column, sess.run, columns)
    return sess


def run_per_column(
    run: Callable[..., Any], columns: list[str], outputs: Any, feed: dict[str, Any], *args: Any
) -> Any:
    """`run` of a graph with one float input per numeric column, given make_feed's block."""
    if NUMERIC_INPUT in feed:
        feed = dict(feed)
        block = np.ascontiguousarray(feed.pop(NUMERIC_INPUT).T)  # [F, N]: each row one column
        feed |= {c: block[i].reshape(-1, 1) for i, c in enumerate(columns)}
    return run(outputs, feed, *args)


def check_feed(required: frozenset[str], names: Sequence[str]) -> None:
    """ValueError naming the graph inputs that `names` (a feed's keys) lacks."""
    if missing := required.difference(names):
        raise ValueError(
            f"Required inputs ({sorted(missing)}) are missing from input feed ({names})."
        )


def snap(values: np.ndarray) -> np.ndarray:
    """float32 values with the last 2 mantissa bits cleared (relative step below 5e-7: 0.004 at
    9,000, so two-decimal readings stay distinct).

    The ONNX graph sees float32 inputs and float32 split thresholds; LightGBM trains in float64
    and puts each threshold halfway between two distinct training values. When those two are
    adjacent float32 values, the float32 threshold lands on one of them and native and ONNX
    send that value different ways (seen: 0.025 in probability for sensor values near 9,000,
    4.3 cycles of remaining life). On this grid distinct values are at least 4 float32 steps
    apart, so every halfway point is a float32 value strictly between them. Training and
    serving both feed numbers through here (`make_feed`).
    """
    x = np.ascontiguousarray(values, dtype=np.float32)
    bits = x.view(np.uint32)
    rounded = ((bits + np.uint32(0x2)) & np.uint32(0xFFFFFFFC)).view(np.float32)
    return np.where(np.isfinite(x), rounded, x)


def make_feed(
    features: dict[str, np.ndarray], numeric: Sequence[str], categorical: Sequence[str]
) -> dict[str, np.ndarray]:
    """Feature arrays (one per column, the same length) -> onnxruntime feed: the numeric columns
    as one float32 block [N, F] (NUMERIC_INPUT), each category as str [N, 1]."""
    # One array and one snap for all numeric columns: on a one-record request the cost is per
    # numpy call, not per value (three calls per column were 150 us of remaining life's 145).
    feed: dict[str, np.ndarray] = {}
    if numeric:
        columns = [features[c] for c in numeric]
        try:
            block = np.array(columns, dtype=np.float32)
        except ValueError:  # columns shaped [N] and [N, 1] together: flatten each first
            block = np.array([np.asarray(v, dtype=np.float32).reshape(-1) for v in columns])
        feed[NUMERIC_INPUT] = snap(block.reshape(len(numeric), -1).T)
    for c in categorical:
        values = features[c]
        if isinstance(values, np.ndarray) and values.dtype.kind == "U":  # text already
            feed[c] = values.reshape(-1, 1)
        else:
            feed[c] = np.asarray(values, dtype=object).astype(str).reshape(-1, 1)
    return feed


def features_frame(
    features: dict[str, np.ndarray], numeric: Sequence[str], categorical: Sequence[str]
) -> pd.DataFrame:
    """The same values the ONNX graph sees, as the frame the native pipeline is fitted on."""
    feed = make_feed(features, numeric, categorical)
    block = feed.get(NUMERIC_INPUT)
    numbers = {c: block[:, i] for i, c in enumerate(numeric)} if block is not None else {}
    return pd.DataFrame(numbers | {c: feed[c][:, 0] for c in categorical})


def model_inputs(uc: UseCase, raw: pd.DataFrame | dict[str, Any]) -> pd.DataFrame:
    """build_features -> the typed frame the pipeline is fitted on (float32 numbers, str
    categories): exactly what the ONNX graph will be fed, so native and ONNX agree."""
    return features_frame(uc.build_features(raw), uc.numeric_features, uc.categorical_features)


def onnx_proba(sess: Any, feed: dict[str, np.ndarray]) -> np.ndarray:
    """Positive-class probability from a zipmap=False classifier graph."""
    return sess.run(["probabilities"], feed)[0][:, 1]


@dataclass
class ParityResult:
    max_abs_diff: float
    rows_checked: int
    decision_mismatches: list[int]
    worst_rows: list[dict[str, float]]
    tolerance: float

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= self.tolerance and not self.decision_mismatches

    def describe(self) -> str:
        state = "ok" if self.ok else "FAILED"
        text = (
            f"ONNX parity {state}: max |onnx - native| = {self.max_abs_diff:.2e} "
            f"(tolerance {self.tolerance:.0e}) on {self.rows_checked} rows"
        )
        if self.decision_mismatches:
            text += f"; decisions differ on rows {self.decision_mismatches[:20]}"
        if not self.ok:
            text += f"; worst rows: {self.worst_rows}"
        return text


def parity(
    native: np.ndarray,
    onnx: np.ndarray,
    threshold: float | None,
    tolerance: float,
    index: np.ndarray,
) -> ParityResult:
    """Compare probabilities row by row and the decisions they give at `threshold`."""
    diff = np.abs(native - onnx)
    worst = np.argsort(-diff)[:5]
    # A regressor has no decision: only the size of the difference counts. Decisions are
    # compared at float32, the graph's output precision: a native probability of exactly 0.7
    # at threshold 0.7 is 0.69999999 from ONNX, a "mismatch" 2e-8 wide that failed parity
    # although the model is exported faithfully (a step of an isotonic or tree model's output
    # can land on the 0.01 threshold grid).
    if threshold is not None:
        t = np.float32(threshold)
        mismatch = (native.astype(np.float32) >= t) != (onnx.astype(np.float32) >= t)
    else:
        mismatch = np.zeros(len(diff), bool)
    return ParityResult(
        max_abs_diff=float(diff.max()) if len(diff) else 0.0,
        rows_checked=len(diff),
        decision_mismatches=[int(i) for i in index[mismatch]],
        worst_rows=[
            {"row": int(index[i]), "native": float(native[i]), "onnx": float(onnx[i])}
            for i in worst
        ],
        tolerance=tolerance,
    )


# --------------------------------------------------------------------------- model pipelines (what is exported)


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
