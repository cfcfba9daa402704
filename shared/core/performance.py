"""Realised performance once outcomes arrive, against the figures the model was registered with.

Classifiers: ROC AUC (the headline), PR AUC, precision and recall at the served threshold,
Brier score and calibration (mean predicted vs observed rate, expected calibration error over
score deciles), and the use case's business KPIs on the same rows. Regression: MAE and RMSE
(the headline is MAE, lower is better).

An alert fires when the headline drops more than `monitoring.metric_drop` (5 %) relative to the
registered test figure, but only over a window that is complete enough: outcomes arrive late,
so a window where fewer than `monitoring.min_outcome_coverage` of the predictions have an
outcome, or fewer than `monitoring.min_outcomes` outcomes, says "incomplete" and never alerts.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

# headline metric per task kind and whether higher is better
HEADLINE = {"classifier": ("roc_auc", True), "regression": ("mae", False)}


def classifier_metrics(y: np.ndarray, score: np.ndarray, threshold: float) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    y = np.asarray(y, dtype=np.float64)
    score = np.asarray(score, dtype=np.float64)
    out: dict[str, float] = {"n": float(len(y)), "observed_rate": float(y.mean())}
    out["mean_score"] = float(score.mean())
    if 0 < y.sum() < len(y):
        out["roc_auc"] = float(roc_auc_score(y, score))
        out["pr_auc"] = float(average_precision_score(y, score))
    act = score >= threshold
    tp = float(np.sum(act & (y == 1)))
    out["precision"] = tp / act.sum() if act.sum() else math.nan
    out["recall"] = tp / y.sum() if y.sum() else math.nan
    out["brier"] = float(brier_score_loss(y, score))
    out["ece"] = expected_calibration_error(y, score)
    return out


def expected_calibration_error(y: np.ndarray, score: np.ndarray, bins: int = 10) -> float:
    """Mean |observed rate - mean score| over score deciles, weighted by rows."""
    if len(y) < bins:
        return math.nan
    order = np.argsort(score, kind="stable")
    total = 0.0
    for part in np.array_split(order, bins):
        total += len(part) * abs(float(y[part].mean()) - float(score[part].mean()))
    return total / len(y)


# --------------------------------------------------------------------------- before outcomes

ESTIMATE_NOTE = (
    "estimated (CBPE, from the calibrated probabilities; blind to concept drift: a changed "
    "link between inputs and outcome leaves it unmoved)"
)


def estimated_auc(score: np.ndarray) -> float | None:
    """ROC AUC expected from calibrated probabilities alone: each row counts as a positive with
    weight p and as a negative with weight 1 - p (confidence-based performance estimation)."""
    from sklearn.metrics import roc_auc_score

    p = np.clip(np.asarray(score, dtype=np.float64), 0.0, 1.0)
    p = p[np.isfinite(p)]
    if len(p) < 2 or float(np.ptp(p)) == 0.0 or not 0 < float(p.sum()) < len(p):
        return None
    y = np.concatenate([np.ones(len(p)), np.zeros(len(p))])
    weights = np.concatenate([p, 1.0 - p])
    return float(roc_auc_score(y, np.concatenate([p, p]), sample_weight=weights))


def cbpe(
    score: np.ndarray, threshold: float, kpis: Any = None, draws: int = 20, seed: int = 0
) -> dict[str, float | None]:
    """Performance expected before any outcome arrives, if the probabilities are calibrated
    on the current inputs: ROC AUC, the expected confusion matrix at `threshold` (precision,
    recall, positive rate) and, with `kpis(y, score, threshold)`, each KPI's mean over
    `draws` outcome sets drawn from the probabilities (seeded)."""
    p = np.clip(np.asarray(score, dtype=np.float64), 0.0, 1.0)
    p = p[np.isfinite(p)]
    act = p >= threshold
    tp, fp = float(p[act].sum()), float((1 - p[act]).sum())
    fn = float(p[~act].sum())
    out: dict[str, float | None] = {
        "n": float(len(p)),
        "roc_auc": estimated_auc(p),
        "expected_rate": float(p.mean()) if len(p) else None,
        "precision": tp / (tp + fp) if tp + fp > 0 else None,
        "recall": tp / (tp + fn) if tp + fn > 0 else None,
    }
    if kpis is not None and len(p):
        rng = np.random.default_rng(seed)
        sums: dict[str, list[float]] = {}
        for _ in range(draws):
            y = (rng.random(len(p)) < p).astype(np.float64)
            with contextlib.suppress(Exception):  # a KPI that needs more rows is left out
                for k, v in kpis(y, p, threshold).items():
                    sums.setdefault(k, []).append(float(v))
        out |= {f"kpi_{k}": float(np.mean(v)) for k, v in sums.items()}
    return out


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    err = np.asarray(pred, dtype=np.float64) - np.asarray(y, dtype=np.float64)
    return {
        "n": float(len(err)),
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "bias": float(np.mean(err)),
    }


def realised(
    kind: str,
    y: np.ndarray,
    score: np.ndarray,
    metadata: dict[str, Any],
    cfg: Any,
    kpis: Any = None,
) -> dict[str, Any]:
    """Realised figures of one group of (score, outcome) rows, compared with the registered ones.

    `kind` is classifier or regression; `metadata` the stored model's (metrics, threshold);
    `kpis(y, score, threshold) -> dict` adds the business KPIs when given.
    """
    registered = metadata.get("metrics") or {}
    if kind == "classifier":
        threshold = float(metadata.get("threshold", 0.5))
        figures = classifier_metrics(y, score, threshold)
        if kpis is not None and len(y):
            # a KPI that needs more rows than the window has is left out
            with contextlib.suppress(Exception):
                figures |= {f"kpi_{k}": float(v) for k, v in kpis(y, score, threshold).items()}
    else:
        figures = regression_metrics(y, score)
    name, higher = HEADLINE[kind]
    value, reference = figures.get(name), registered.get(name)
    drop = None
    if value is not None and reference:
        drop = (reference - value) / abs(reference) if higher else (value - reference) / reference
    return {
        "figures": figures,
        "headline": name,
        "registered": reference,
        "realised": value,
        "drop": drop,
    }


def judge(result: dict[str, Any], n_outcomes: int, n_predictions: int, cfg: Any) -> tuple[str, str]:
    """(status, sentence): ok | incomplete | alert, with why."""
    coverage = n_outcomes / n_predictions if n_predictions else 0.0
    result["coverage"] = coverage
    if n_outcomes < cfg.min_outcomes or coverage < cfg.min_outcome_coverage:
        return "incomplete", (
            f"incomplete: {n_outcomes} outcomes for {n_predictions} predictions "
            f"({coverage:.0%}; needs {cfg.min_outcomes} and {cfg.min_outcome_coverage:.0%}): "
            "outcomes still arriving, realised figures may change"
        )
    drop, name = result.get("drop"), result["headline"]
    if drop is None:
        return "incomplete", f"{name} cannot be computed on this window"
    if drop > cfg.metric_drop:
        return "alert", (
            f"{name} {result['realised']:.4g} is {drop:.1%} worse than the registered "
            f"{result['registered']:.4g} (alert above {cfg.metric_drop:.0%})"
        )
    return "ok", f"{name} {result['realised']:.4g} vs registered {result['registered']:.4g}"


# --------------------------------------------------------------------------- from the log


def outcome_rows(log: Any, use_case: str, since: float, ids: bool = False) -> list[tuple[Any, ...]]:
    """(variant, model_version, score, outcome, prediction time[, prediction id when `ids`]) of
    every prediction since `since` that has an outcome: by request id, else each variant's
    latest prediction of the outcome's routing key made before it (as the rollout's criteria
    join them)."""
    cols = "p.variant, p.model_version, p.score, o.value, p.ts" + (", p.id" if ids else "")
    rows = log.joined_outcomes(use_case, since, cols)
    return [(str(r[0]), str(r[1]), float(r[2]), float(r[3]), float(r[4]), *r[5:]) for r in rows]


def prediction_counts(log: Any, use_case: str, since: float) -> dict[tuple[str, str], int]:
    rows = log.query(
        "SELECT variant, model_version, count(*) FROM predictions "
        "WHERE use_case = ? AND ts >= ? AND error IS NULL GROUP BY variant, model_version",
        [use_case, since],
    )
    return {(str(v), str(m)): int(n) for v, m, n in rows}


def by_group(
    rows: Sequence[tuple[str, str, float, float, float]],
) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    """(variant, model version) -> (outcomes, scores)."""
    groups: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
    for variant, version, score, outcome, _ in rows:
        ys, ss = groups.setdefault((variant, version), ([], []))
        ys.append(outcome)
        ss.append(score)
    return {k: (np.asarray(y), np.asarray(s)) for k, (y, s) in groups.items()}
