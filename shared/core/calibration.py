"""Blends and calibrated probabilities that live in the ONNX graph, the same maths natively.

A `Combined` model is a weighted sum of fitted pipelines' outputs: for classifiers in
log-odds (`logit(p_k)`), then a calibrator turns the sum into a probability; for
regressors the predictions themselves. Both sides compute it the same way: natively in
numpy (float64), in the graph as plain ONNX ops appended to the converted pipelines
(`combined_onnx`), so the usual parity check covers model + blend + calibrator.

Why not `CalibratedClassifierCV`: around LGBMClassifier it converts without error and gives
wrong probabilities (see DESIGN.md). Why log-odds: Platt scaling and a log-odds blend are
linear in the models' raw scores, so per-input explanations stay exact.

Calibrators are fitted on the validation part (predictions of the models fitted on the
training part) and chosen by cross-validated log loss on that part: a method is applied only
when it beats the uncalibrated probabilities out of fold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

EPS = 1e-15  # probabilities are clipped to [EPS, 1 - EPS] before the log-odds, both sides
MIN_GAIN = 1e-4  # out-of-fold log loss a calibrator must save to be applied (not noise)
KNOT_GAP = 0.05  # isotonic knots at least this far apart in log-odds: bounded slopes keep
# float32 (ONNX) and float64 (native) inputs within 1e-5 of each other after calibration


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


@dataclass
class Calibrator:
    """log-odds -> probability: `identity` (sigmoid), `platt` (sigmoid(a z + b)) or
    `isotonic` (monotone piecewise-linear on knots in log-odds)."""

    method: str = "identity"
    a: float = 1.0
    b: float = 0.0
    knots_x: list[float] = field(default_factory=list)
    knots_y: list[float] = field(default_factory=list)

    def __call__(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, dtype=np.float64)
        if self.method == "isotonic":
            return np.interp(z, self.knots_x, self.knots_y)
        return 1.0 / (1.0 + np.exp(-(self.a * z + self.b)))

    @property
    def linear(self) -> bool:
        """True when the calibrated log-odds are a*z + b (explanations stay additive)."""
        return self.method != "isotonic"

    def describe(self) -> dict[str, Any]:
        if self.method == "isotonic":
            return {"method": "isotonic", "knots": len(self.knots_x)}
        return {"method": self.method, "a": round(self.a, 6), "b": round(self.b, 6)}


def fit_calibrator(method: str, z: np.ndarray, y: np.ndarray) -> Calibrator:
    """Fit one calibrator on log-odds `z` and 0/1 labels `y`."""
    z = np.asarray(z, dtype=np.float64)
    if method == "identity":
        return Calibrator()
    if method == "platt":
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=1e6, max_iter=1000).fit(z.reshape(-1, 1), y)
        return Calibrator("platt", float(lr.coef_[0, 0]), float(lr.intercept_[0]))
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=1e-4, y_max=1 - 1e-4, out_of_bounds="clip").fit(z, y)
        xs, ys = np.asarray(iso.X_thresholds_), np.asarray(iso.y_thresholds_)
        keep = [0]
        for i in range(1, len(xs)):
            if xs[i] - xs[keep[-1]] >= KNOT_GAP:
                keep.append(i)
        if keep[-1] != len(xs) - 1:
            keep[-1] = len(xs) - 1  # the last knot fixes the top plateau
        if len(keep) < 2:
            return Calibrator("platt", *_platt_fallback(z, y))
        return Calibrator("isotonic", knots_x=xs[keep].tolist(), knots_y=ys[keep].tolist())
    raise ValueError(f"unknown calibration method {method!r}: use platt or isotonic")


def _platt_fallback(z: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    c = fit_calibrator("platt", z, y)
    return c.a, c.b


def choose_calibrator(
    z: np.ndarray, y: np.ndarray, methods: list[str], folds: int = 5, seed: int = 0
) -> tuple[Calibrator, dict[str, float]]:
    """The method with the lowest out-of-fold log loss on (z, y) among `identity` and
    `methods`, refitted on all of (z, y); and each method's out-of-fold log loss and Brier."""
    from sklearn.metrics import brier_score_loss, log_loss
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(y)
    scores: dict[str, float] = {}
    candidates = ["identity", *methods]
    n_pos = int(y.sum())
    if min(n_pos, len(y) - n_pos) < folds:  # too few of one class to calibrate on
        candidates = ["identity"]
    best, best_loss = "identity", np.inf
    for m in candidates:
        oof = np.empty(len(y))
        if m == "identity":
            oof = Calibrator()(z)
        else:
            for tr, te in StratifiedKFold(folds, shuffle=True, random_state=seed).split(z, y):
                oof[te] = fit_calibrator(m, z[tr], y[tr])(z[te])
        loss = float(log_loss(y, np.clip(oof, 1e-7, 1 - 1e-7), labels=[0, 1]))
        scores[f"{m}_log_loss"] = round(loss, 6)
        scores[f"{m}_brier"] = round(float(brier_score_loss(y, oof)), 6)
        if loss < best_loss - MIN_GAIN:
            best, best_loss = m, loss
    return fit_calibrator(best, z, y), scores


class Combined:
    """sum_k w_k * output_k of fitted pipelines; a classifier's outputs are log-odds, then
    calibrated. One part with weight 1 and the identity calibrator is the part itself."""

    def __init__(
        self,
        parts: list[Any],
        weights: list[float],
        calibrator: Calibrator | None = None,
        classifier: bool = True,
    ) -> None:
        self.parts, self.weights = list(parts), [float(w) for w in weights]
        self.calibrator = calibrator or Calibrator()
        self.classifier = classifier

    def score(self, X: Any) -> np.ndarray:
        """The weighted sum before calibration (log-odds, or the prediction)."""
        out = np.zeros(len(X))
        for w, m in zip(self.weights, self.parts, strict=True):
            out += w * (logit(m.predict_proba(X)[:, 1]) if self.classifier else m.predict(X))
        return out

    def predict_proba(self, X: Any) -> np.ndarray:
        p = self.calibrator(self.score(X))
        return np.column_stack([1 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        if self.classifier:
            return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)
        return self.score(X)

    def linear_parts(self) -> tuple[list[tuple[float, Any]], float, float]:
        """(weight, pipeline) pairs and the calibrated output's (scale, shift) in log-odds:
        output = shift + scale * sum_k w_k raw_k. A TypeError when that is not linear."""
        if not self.calibrator.linear:
            raise TypeError("isotonic calibration is not additive in the inputs")
        pairs = list(zip(self.weights, self.parts, strict=True))
        return pairs, self.calibrator.a, self.calibrator.b


# --------------------------------------------------------------------------- ONNX


def combined_onnx(
    model: Combined,
    numeric: list[str],
    categorical: list[str],
    convert: Any,
    opset: dict[str, int],
) -> bytes:
    """One graph: every part converted (`convert(pipeline) -> bytes`), renamed apart, sharing
    the inputs; then the weighted sum and the calibrator as plain ONNX ops (in float64), at
    least at `opset` (the exporter's target, passed in: the exporter is the caller).
    Outputs keep the names of a converted pipeline: `label` + `probabilities` [N, 2], or
    `variable` [N, 1]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes: list[Any] = []
    inits: list[Any] = []
    inputs = None
    opsets: dict[str, int] = dict(opset)
    terms = []
    D = TensorProto.DOUBLE

    def const(name: str, value: Any, dtype: Any = np.float64) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    for k, (w, part) in enumerate(zip(model.weights, model.parts, strict=True)):
        g = onnx.load_from_string(convert(part))
        for op in g.opset_import:
            opsets[op.domain] = max(opsets.get(op.domain, 1), op.version)
        graph = _renamed(g.graph, f"p{k}_")
        inputs = inputs or list(g.graph.input)
        nodes += list(graph.node)
        inits += list(graph.initializer)
        out = f"p{k}_{'probabilities' if model.classifier else 'variable'}"
        cast = f"p{k}_out64"
        nodes.append(helper.make_node("Cast", [out], [cast], to=D))
        if model.classifier:  # log-odds of the positive class, [N]
            p1 = f"p{k}_p1"
            nodes.append(
                helper.make_node("Gather", [cast, const(f"p{k}_one", 1, np.int64)], [p1], axis=1)
            )
            z = _logit_nodes(nodes, p1, f"p{k}_", const)
        else:
            z = f"p{k}_flat"
            nodes.append(
                helper.make_node("Reshape", [cast, const(f"p{k}_shape", [-1], np.int64)], [z])
            )
        weighted = f"p{k}_weighted"
        nodes.append(helper.make_node("Mul", [z, const(f"p{k}_w", w)], [weighted]))
        terms.append(weighted)
    nodes.append(helper.make_node("Sum", terms, ["score"]))
    if model.classifier:
        p = _calibrator_nodes(nodes, "score", model.calibrator, const)
        nodes += [
            helper.make_node("Sub", [const("one", 1.0), p], ["p0"]),
            helper.make_node("Unsqueeze", ["p0", const("axis1", [1], np.int64)], ["p0_col"]),
            helper.make_node("Unsqueeze", [p, "axis1"], ["p1_col"]),
            helper.make_node("Concat", ["p0_col", "p1_col"], ["probabilities"], axis=1),
            helper.make_node("GreaterOrEqual", [p, const("half", 0.5)], ["label_bool"]),
            helper.make_node("Cast", ["label_bool"], ["label"], to=TensorProto.INT64),
        ]
        outputs = [
            helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
            helper.make_tensor_value_info("probabilities", D, [None, 2]),
        ]
    else:
        nodes.append(
            helper.make_node(
                "Reshape", ["score", const("shape_n1", [-1, 1], np.int64)], ["variable"]
            )
        )
        outputs = [helper.make_tensor_value_info("variable", D, [None, 1])]
    graph = helper.make_graph(nodes, "combined", inputs, outputs, inits)
    out_model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets.items()]
    )
    out_model.ir_version = 8
    onnx.checker.check_model(out_model)
    return out_model.SerializeToString()


def _logit_nodes(nodes: list[Any], p: str, prefix: str, const: Any) -> str:
    from onnx import helper

    c, q, lp, lq, z = (f"{prefix}{s}" for s in ("clip", "q", "logp", "logq", "z"))
    nodes += [
        helper.make_node(
            "Clip", [p, const(f"{prefix}lo", EPS), const(f"{prefix}hi", 1 - EPS)], [c]
        ),
        helper.make_node("Sub", [const(f"{prefix}1", 1.0), c], [q]),
        helper.make_node("Log", [c], [lp]),
        helper.make_node("Log", [q], [lq]),
        helper.make_node("Sub", [lp, lq], [z]),
    ]
    return z


def _calibrator_nodes(nodes: list[Any], z: str, cal: Calibrator, const: Any) -> str:
    from onnx import TensorProto, helper

    if cal.method != "isotonic":
        nodes += [
            helper.make_node("Mul", [z, const("cal_a", cal.a)], ["cal_az"]),
            helper.make_node("Add", ["cal_az", const("cal_b", cal.b)], ["cal_logit"]),
            helper.make_node("Sigmoid", ["cal_logit"], ["cal_p"]),
        ]
        return "cal_p"
    xs, ys = np.asarray(cal.knots_x), np.asarray(cal.knots_y)
    slopes = np.diff(ys) / np.diff(xs)
    nodes += [  # segment i = number of inner knots <= z; y_i + (z - x_i) * slope_i
        helper.make_node("Clip", [z, const("iso_lo", xs[0]), const("iso_hi", xs[-1])], ["iso_z"]),
        helper.make_node("Unsqueeze", ["iso_z", const("iso_ax", [1], np.int64)], ["iso_col"]),
        helper.make_node(
            "GreaterOrEqual", ["iso_col", const("iso_inner", xs[1:-1].reshape(1, -1))], ["iso_ge"]
        ),
        helper.make_node("Cast", ["iso_ge"], ["iso_ge64"], to=TensorProto.INT64),
        helper.make_node("ReduceSum", ["iso_ge64", "iso_ax"], ["iso_seg"], keepdims=0),
        helper.make_node("Gather", [const("iso_x", xs[:-1]), "iso_seg"], ["iso_x0"]),
        helper.make_node("Gather", [const("iso_y", ys[:-1]), "iso_seg"], ["iso_y0"]),
        helper.make_node("Gather", [const("iso_s", slopes), "iso_seg"], ["iso_s0"]),
        helper.make_node("Sub", ["iso_z", "iso_x0"], ["iso_dx"]),
        helper.make_node("Mul", ["iso_dx", "iso_s0"], ["iso_dy"]),
        helper.make_node("Add", ["iso_y0", "iso_dy"], ["cal_p"]),
    ]
    return "cal_p"


def _renamed(graph: Any, prefix: str) -> Any:
    """A copy of `graph` with every node, edge and initializer prefixed, graph inputs kept."""
    from onnx import GraphProto

    g = GraphProto()
    g.CopyFrom(graph)
    keep = {i.name for i in g.input}

    def rn(name: str) -> str:
        return name if (not name or name in keep) else prefix + name

    for n in g.node:
        n.name = prefix + n.name
        n.input[:] = [rn(x) for x in n.input]
        n.output[:] = [rn(x) for x in n.output]
    for t in g.initializer:
        t.name = rn(t.name)
    for v in [*g.output, *g.value_info]:
        v.name = rn(v.name)
    return g
