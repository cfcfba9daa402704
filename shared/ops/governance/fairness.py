"""Fairness by sensitive column on the untouched test part (fairlearn's MetricFrame).

Per group: n, selection rate at the trained threshold, TPR, FPR and ROC AUC; across groups:
demographic parity difference and ratio, and equalized odds difference. Groups smaller than
`fairness.min_group_size` are reported but left out of the gate (their rates are noise).
Numeric sensitive columns with many values (age) are cut into bands: the configured edges,
else quartiles. The gate warns by default; `fairness.gate: fail` makes a breach fail the run.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def groups_of(values: pd.Series, cfg: Any) -> np.ndarray:
    """Group label per row: bands for a numeric column with many values, else the value
    itself; missing -> 'missing', values beyond the `max_groups - 1` commonest -> 'other'."""
    if pd.api.types.is_numeric_dtype(values) and values.nunique() > cfg.max_groups:
        v = values.astype(float)
        edges = cfg.bands.get(str(values.name)) or sorted(set(np.nanquantile(v, [0.25, 0.5, 0.75])))
        cuts = [-np.inf, *edges, np.inf]
        labels = [_band(lo, hi) for lo, hi in zip(cuts[:-1], cuts[1:], strict=True)]
        out = pd.cut(v, cuts, labels=labels, right=False).astype(object)
        return out.where(v.notna(), "missing").astype(str).to_numpy()
    text = values.astype(object).where(values.notna(), "missing").astype(str)
    keep = set(text.value_counts().index[: cfg.max_groups - 1])
    return text.where(text.isin(keep), "other").to_numpy()


def _band(lo: float, hi: float) -> str:
    if not np.isfinite(lo):
        return f"< {hi:g}"
    if not np.isfinite(hi):
        return f">= {lo:g}"
    return f"{lo:g} to < {hi:g}"


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s)) if len(np.unique(y)) == 2 else float("nan")


def assess_fairness(
    raw_test: pd.DataFrame,
    columns: list[str],
    y: np.ndarray,
    score: np.ndarray,
    threshold: float | None,
    cfg: Any,
) -> dict[str, Any]:
    """One entry per sensitive column present; `reasons` lists every breach of the limits."""
    from fairlearn.metrics import (
        MetricFrame,
        count,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )

    out: dict[str, Any] = {"gate": cfg.gate, "by_column": {}, "reasons": []}
    if threshold is None:  # a regressor: no decision to compare across groups
        out["note"] = "no decision threshold (not a classifier): fairness gate not applicable"
        return out
    decision = (score >= threshold).astype(int)
    y = np.asarray(y).astype(int)
    for col in columns:
        if col not in raw_test:
            continue
        groups = groups_of(raw_test[col].reset_index(drop=True), cfg)
        frame = MetricFrame(
            metrics={
                "n": count,
                "selection_rate": selection_rate,
                "tpr": true_positive_rate,
                "fpr": false_positive_rate,
            },
            y_true=y,
            y_pred=decision,
            sensitive_features=pd.Series(groups, name=col),
        )
        auc = MetricFrame(
            metrics=_auc, y_true=y, y_pred=score, sensitive_features=pd.Series(groups, name=col)
        )
        table = frame.by_group.assign(roc_auc=auc.by_group)
        table["n"] = table["n"].astype(int)
        big = table[table["n"] >= cfg.min_group_size]
        sr = big["selection_rate"]
        summary = {
            "demographic_parity_difference": float(sr.max() - sr.min()) if len(big) > 1 else 0.0,
            "demographic_parity_ratio": float(sr.min() / sr.max())
            if len(big) > 1 and sr.max() > 0
            else 1.0,
            "equalized_odds_difference": float(
                max(big["tpr"].max() - big["tpr"].min(), big["fpr"].max() - big["fpr"].min())
            )
            if len(big) > 1
            else 0.0,
            "groups_in_gate": int(len(big)),
        }
        groups_rows = [
            {"group": str(g)} | {k: _num(v) for k, v in row.items()} | {"n": int(row["n"])}
            for g, row in table.sort_values("n", ascending=False).iterrows()
        ]
        out["by_column"][col] = {"groups": groups_rows, **summary}
        out["reasons"] += _breaches(col, summary, cfg)
    out["passed"] = not out["reasons"]
    return out


def _num(v: Any) -> float | int | None:
    if isinstance(v, int | np.integer):
        return int(v)
    v = float(v)
    return round(v, 6) if np.isfinite(v) else None


def _breaches(col: str, s: dict[str, float], cfg: Any) -> list[str]:
    out = []
    if s["demographic_parity_difference"] > cfg.max_demographic_parity_difference:
        out.append(
            f"fairness: selection rates by {col} differ by {s['demographic_parity_difference']:.3f}"
            f" (limit {cfg.max_demographic_parity_difference})"
        )
    if s["demographic_parity_ratio"] < cfg.min_demographic_parity_ratio:
        out.append(
            f"fairness: selection-rate ratio by {col} is {s['demographic_parity_ratio']:.3f}"
            f" (floor {cfg.min_demographic_parity_ratio})"
        )
    if s["equalized_odds_difference"] > cfg.max_equalized_odds_difference:
        out.append(
            f"fairness: TPR/FPR by {col} differ by {s['equalized_odds_difference']:.3f}"
            f" (limit {cfg.max_equalized_odds_difference})"
        )
    return out
