"""Training of task `binary` (and `binary_sequence`): the light part is shared/tasks/binary.py.

Candidates are tuned on ROC AUC, the decision threshold maximises the use case's profit on
validation, every figure comes from the untouched test part; the chosen model must clear
an AUC floor, the KPI gates, and not be significantly worse than the baseline.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from shared.core import evaluation as ev
from shared.core.calibration import Combined, choose_calibrator, logit
from shared.core.onnx_export import features_frame, make_tabular_classifier, onnx_proba
from shared.core.usecase import UseCase
from shared.tasks.base import Export, Fit, RunResult
from shared.tasks.contract import HISTORY_CHECKS
from shared.tasks.tabular import (
    Candidate,
    RunStopped,
    TabularTraining,
    below_chance_diagnosis,
    fmt,
    kpi_markdown,
    single_input_auc,
)


class BinaryTraining(TabularTraining):
    """The training part of `binary` (shared/tasks/binary.py's `BinaryTask.training`)."""

    scoring = "roc_auc"

    def predict(self, model: Any, X: pd.DataFrame) -> np.ndarray:
        return model.predict_proba(X)[:, 1]

    def onnx_output(self, sess: Any, feed: dict[str, np.ndarray]) -> np.ndarray:
        return onnx_proba(sess, feed)

    def calibrate(
        self,
        uc: UseCase,
        c: Candidate,
        X_test: pd.DataFrame,
        y_valid: np.ndarray,
        y_test: np.ndarray,
        cfg: Any,
    ) -> None:
        """Platt / isotonic on the validation part, chosen by out-of-fold log loss there and
        applied inside the model (and so inside its ONNX graph); the expected profit on the
        test part at the validation-optimal threshold, before and after."""

        if not cfg.model.calibration:
            return
        # Chosen on the validation AUC before calibration: the calibrator is fitted on these
        # rows, and an isotonic one scored on them flatters its own candidate.
        c.valid_score = ev._auc(y_valid, c.valid_pred)
        cal, scores = choose_calibrator(
            logit(c.valid_pred), y_valid, list(cfg.model.calibration), seed=cfg.split.seed
        )
        profit = partial(uc.profit, cfg=cfg.kpi)
        before = ev.best_threshold(y_valid, c.valid_pred, profit)[0]
        c.calibration = {"method": cal.method} | scores
        c.calibration["test_profit_before"] = float(profit(y_test, c.test_pred >= before))
        if cal.method == "identity":
            c.calibration["method"] = "none"
            return
        if isinstance(c.model, Combined):
            c.model = Combined(c.model.parts, c.model.weights, cal)
        else:
            c.model = Combined([c.model], [1.0], cal)
        c.calibration |= cal.describe()
        c.valid_pred = cal(logit(c.valid_pred))
        c.test_pred = self.predict(c.model, X_test)

    def evaluate_candidate(
        self, uc: UseCase, c: Candidate, y_valid: np.ndarray, y_test: np.ndarray, cfg: Any
    ) -> None:
        """Threshold from validation profit, every figure from the test part."""
        profit = partial(uc.profit, cfg=cfg.kpi)
        if not c.calibration:  # else set by `calibrate`, before the calibrator
            c.valid_score = ev._auc(y_valid, c.valid_pred)
        c.threshold, _ = ev.best_threshold(y_valid, c.valid_pred, profit)
        c.test_metrics = ev.classification_metrics(
            y_test, c.test_pred, cfg.gates.n_bootstrap, cfg.split.seed
        )
        c.test_kpis = uc.compute_kpis(y_test, c.test_pred, c.threshold, cfg.kpi)
        if c.calibration:
            c.calibration["test_profit_after"] = float(profit(y_test, c.test_pred >= c.threshold))

    def check_chosen(
        self,
        chosen: Candidate,
        parts: dict[str, Any],
        X_train: pd.DataFrame,
        y_train: np.ndarray,
        kind: str,
    ) -> None:
        """Below chance on validation stops the run, saying whether drift, leakage or the
        label is the likely cause (the single-input AUCs are computed only then)."""
        if chosen.valid_score >= 0.5:
            return
        cause, advice = below_chance_diagnosis(parts, single_input_auc(X_train, y_train), kind)
        raise RunStopped(
            f"the best candidate ({chosen.name}) has validation ROC AUC "
            f"{chosen.valid_score:.3f}, below chance (0.5); likely cause: {cause}: {advice}"
        )

    def sensitive_variants(
        self, uc: UseCase, cfg: Any, fit: Fit, columns: list[str]
    ) -> dict[str, dict[str, Any]]:
        """The chosen recipe (family and tuned parameters, no search, no calibration) fitted
        on the training part without the sensitive columns (key ""), then once more with each
        of `columns` added, and (two or more) with all of them (key "a + b");
        threshold from validation profit, figures on the test part."""
        X, split, raw = fit.state["X"], fit.state["split"], fit.state["raw"]
        y = uc.labels(raw)
        params = chosen_params(cfg, fit.state["chosen"], fit.state["candidates"])
        num, cat = list(uc.numeric_features), list(uc.categorical_features)
        out = {"": self.variant(uc, cfg, X, y, split, params, num, cat)}
        sets = [[c] for c in columns] + ([columns] if len(columns) > 1 else [])
        for added in sets:
            X2, n2, c2 = with_columns(X, raw, added, num, cat)
            out[" + ".join(added)] = self.variant(uc, cfg, X2, y, split, params, n2, c2)
        return out

    def variant(
        self,
        uc: UseCase,
        cfg: Any,
        X: pd.DataFrame,
        y: np.ndarray,
        split: Any,
        params: Any,
        num: list[str],
        cat: list[str],
    ) -> dict[str, Any]:
        """One fit on the training part: threshold on validation, ROC AUC and KPIs on test."""
        model = make_tabular_classifier(params, num, cat).fit(X.iloc[split.train], y[split.train])
        p_valid = self.predict(model, X.iloc[split.valid])
        p_test = self.predict(model, X.iloc[split.test])
        threshold, _ = ev.best_threshold(y[split.valid], p_valid, partial(uc.profit, cfg=cfg.kpi))
        y_test = y[split.test]
        return {
            "roc_auc": ev._auc(y_test, p_test),
            "pr_auc": ev._pr_auc(y_test, p_test),
            "threshold": threshold,
            "kpis": uc.compute_kpis(y_test, p_test, threshold, cfg.kpi),
            "test_pred": p_test,
        }

    def candidate_row(self, c: Candidate) -> dict[str, Any]:
        m = c.test_metrics
        return {
            "name": c.name,
            "best_params": c.best_params,
            "cv_roc_auc": round(c.cv_score, 4),
            "valid_roc_auc": round(c.valid_score, 4),
            "threshold": c.threshold,
            "test_roc_auc": m["roc_auc"],
            "test_roc_auc_ci": [m["roc_auc_ci_low"], m["roc_auc_ci_high"]],
            "test_pr_auc": m["pr_auc"],
            "test_brier": m["brier"],
            "test_kpis": c.test_kpis,
            "fit_seconds": round(c.seconds, 2),
        } | self.extras(c)

    def details(
        self, uc: UseCase, cfg: Any, chosen: Candidate, baseline: Candidate, y_test: np.ndarray
    ) -> dict[str, Any]:
        g = cfg.gates
        cmp = ev.paired_bootstrap_auc(
            y_test, chosen.test_pred, baseline.test_pred, g.n_bootstrap, cfg.split.seed
        )
        return {
            "threshold": chosen.threshold,
            "calibration_applied": chosen.calibration,
            "baseline": baseline.name,
            "baseline_comparison": cmp,
            "calibration": ev.calibration_table(y_test, chosen.test_pred),
            "lift": ev.lift_table(y_test, chosen.test_pred),
        }

    def gates(self, uc: UseCase, cfg: Any, fit: Fit, export: Export) -> list[str]:
        g = cfg.gates
        reasons = []
        auc = fit.metrics["roc_auc"]
        if auc < g.min_roc_auc:
            reasons.append(f"test ROC AUC {auc:.3f} is below the floor {g.min_roc_auc}")
        reasons += uc.kpi_gates(fit.kpis, cfg.kpi)
        cmp, base = fit.details["baseline_comparison"], fit.details["baseline"]
        if fit.chosen != base and cmp["p_worse"] > 1 - g.baseline_alpha:
            reasons.append(
                f"{fit.chosen} is significantly worse than the baseline {base} "
                f"(AUC difference {cmp['auc_diff']:+.3f}, P(worse) = {cmp['p_worse']:.2f})"
            )
        return reasons

    def params(self, cfg: Any, fit: Fit) -> dict[str, Any]:
        return super().params(cfg, fit) | {"threshold": fit.details["threshold"]}

    # --------------------------------------------------------------------- report

    candidate_columns = (
        "candidate",
        "CV AUC",
        "valid AUC",
        "test AUC (95 % CI)",
        "PR AUC",
        "Brier",
        "profit at its threshold",
    )

    def candidate_cells(self, c: dict[str, Any]) -> list[str]:
        lo, hi = c["test_roc_auc_ci"]
        money = next((k for k in c["test_kpis"] if k.endswith(("_eur", "_usd"))), None)
        return [
            c["name"],
            fmt(c["cv_roc_auc"]),
            fmt(c["valid_roc_auc"]),
            f"{c['test_roc_auc']:.3f} ({lo:.3f}-{hi:.3f})",
            fmt(c["test_pr_auc"]),
            fmt(c["test_brier"]),
            fmt(c["test_kpis"][money]) if money else "",
        ]

    def kpi_title(self, result: RunResult) -> str:
        return f"business KPIs at threshold {result.threshold}"

    def headline(self, result: RunResult) -> tuple[str, str]:
        return f"ROC AUC {result.metrics['roc_auc']:.3f}", f"PR AUC {result.metrics['pr_auc']:.3f}"

    def markdown(self, result: RunResult) -> list[str]:
        lines = self.candidates_markdown(
            result, f"Decision threshold (profit-optimal on validation): {result.threshold}."
        )
        lines += kpi_markdown(result.kpis)
        lines += calibrator_markdown(result.details.get("calibration_applied") or {})
        lines += [
            "",
            "## Lift by decile (test part)",
            "",
            "| decile | rate | lift | cumulative gain |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {r['decile']} | {r['rate']:.3f} | {r['lift']:.2f} | {r['cumulative_gain']:.2f} |"
            for r in result.lift
        ]
        lines += [
            "",
            "## Calibration (test part)",
            "",
            "| bin | n | mean predicted | observed |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {r['bin_low']:.1f}-{r['bin_high']:.1f} | {r['n']} | {r['mean_predicted']:.3f} "
            f"| {r['observed_rate']:.3f} |"
            for r in result.calibration
        ]
        return lines


def calibrator_markdown(cal: dict[str, Any]) -> list[str]:
    """The chosen model's calibrator: each method's validation scores, and the profit it moved."""
    if not cal:
        return []
    lines = [
        "",
        "## Calibrator of the chosen model",
        "",
        f"Applied: **{cal['method']}** (fitted on validation; kept only when it lowers the "
        "out-of-fold log loss there; inside the ONNX graph).",
        "",
        "| method | log loss (validation) | Brier (validation) |",
        "|---|---|---|",
    ]
    for m in ("identity", "platt", "isotonic"):
        if f"{m}_log_loss" in cal:
            name = "none" if m == "identity" else m
            lines.append(f"| {name} | {cal[f'{m}_log_loss']:.4f} | {cal[f'{m}_brier']:.4f} |")
    if "test_profit_after" in cal:
        lines += [
            "",
            f"Expected profit on the test part at the profit-optimal threshold: "
            f"{fmt(cal['test_profit_before'])} before calibration, "
            f"{fmt(cal['test_profit_after'])} after.",
        ]
    return lines


class BinarySequenceTraining(BinaryTraining):
    """`binary_sequence`'s: `binary`'s, with the history use cases' contract checks."""

    def contract_checks(self, uc: UseCase) -> list[Callable[[UseCase], None]]:
        return list(HISTORY_CHECKS)


def chosen_params(cfg: Any, chosen: Candidate, candidates: list[Candidate]) -> Any:
    """The chosen candidate's configured parameters with its tuned ones (a blend: its first
    part's, the family the comparison refits)."""
    name = cfg.model.blend[0] if chosen.name == "blend" else chosen.name
    tuned = next(c for c in candidates if c.name == name).best_params
    configured = next(c for c in cfg.model.candidates if c.name == name).params
    return type(configured).model_validate(configured.model_dump() | tuned)


def with_columns(
    X: pd.DataFrame, raw: pd.DataFrame, columns: list[str], num: list[str], cat: list[str]
) -> tuple[pd.DataFrame, list[str], list[str]]:
    """The model inputs with raw `columns` added (numbers as numbers, anything else as text,
    missing as a level of its own), and the new numeric and categorical input lists."""
    added: dict[str, np.ndarray] = {}
    num, cat = list(num), list(cat)
    for col in columns:
        values = raw[col]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            num.append(col)
        else:
            values = values.astype(object).where(values.notna(), "missing").astype(str)
            cat.append(col)
        added[col] = values.to_numpy()
    return features_frame({**{c: X[c].to_numpy() for c in X}, **added}, num, cat), num, cat
