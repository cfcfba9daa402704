"""The training flow every row-per-record task shares (binary, binary_sequence, regression).

Features per row -> one split -> every candidate tuned by cross-validation on the training
part (folds follow the split kind) -> chosen on validation -> refitted on train + validation
-> every candidate scored on the untouched test part -> ONNX (the numeric columns as one
input, one per category) -> parity on the test rows. A task's training class subclasses
`TabularTraining` and its light part (shared/tasks/base.py's `TabularTask`), and fills in what
is its own: how a candidate is scored, evaluated and chosen, its gates and its report. Serving
never imports this module.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from shared.core import splits
from shared.core.calibration import Calibrator, Combined, logit
from shared.core.drift import CategoricalBins, NumericBins, psi, sample_bins
from shared.core.onnx_export import make_feed, model_inputs, parity, session, to_onnx
from shared.core.search import search_lightgbm
from shared.core.splits import cv_folds
from shared.core.usecase import UseCase
from shared.core.validation import (
    PARTS,
    DataValidationError,
    Problem,
    ValidationReport,
    duplicates_across_parts,
    label_rate_by_part,
    validate_raw,
)
from shared.tasks.base import (
    Export,
    Fit,
    Log,
    RunResult,
    TabularTask,
    numeric_profile,
    quantiles,
    time_us,
)
from shared.tasks.contract import HISTORY_CHECKS, RECORD_CHECKS


class RunStopped(ValueError):
    """A run that cannot give a meaningful model (e.g. validation AUC below chance)."""


@dataclass
class Candidate:
    """One configured model family after tuning, with its predictions on each part."""

    name: str
    model: Any
    best_params: dict[str, Any]
    cv_score: float
    valid_pred: np.ndarray
    test_pred: np.ndarray
    valid_score: float = 0.0
    threshold: float | None = None
    test_metrics: dict[str, float] = field(default_factory=dict)
    test_kpis: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    search: dict[str, Any] = field(default_factory=dict)  # what the budgeted search tried
    calibration: dict[str, Any] = field(default_factory=dict)


def row_key(uc: UseCase) -> str | tuple[str, ...] | None:
    """What identifies a row: the id, or (id, time) when rows are entity histories."""
    if uc.id_column and uc.time_column:
        return (uc.id_column, uc.time_column)
    return uc.id_column


def make_split(
    uc: UseCase, cfg: Any, raw: pd.DataFrame, y: np.ndarray, X: pd.DataFrame | None = None
) -> Any:
    """The configured split; each kind says which column it needs when it is missing.

    A stratified split of a file with no id column keeps identical rows of `X` (the model
    inputs) in one part: two customers with one profile are never one trained on, one scored.
    """

    s = cfg.split
    if s.kind == "stratified":
        if np.unique(y).size > 2:  # a numeric target: stratify on its quartiles
            y = np.searchsorted(np.quantile(y, [0.25, 0.5, 0.75]), y)
        if uc.id_column is None and X is not None:
            groups = splits.content_groups(X)
            return splits.stratified_group_split(y, groups, s.test_size, s.valid_size, s.seed)
        return splits.stratified_split(y, s.test_size, s.valid_size, s.seed)
    if s.kind == "row_order":
        return splits.row_order_split(len(raw), s.test_size, s.valid_size)
    if s.kind == "time":
        return splits.time_split(_column(uc, raw, "time_column", s.kind), s.test_size, s.valid_size)
    groups = _column(uc, raw, "id_column", s.kind)
    if s.kind == "group":
        return splits.group_split(groups, s.test_size, s.valid_size, s.seed)
    times = _column(uc, raw, "time_column", s.kind)
    return splits.group_time_split(groups, times, s.test_size, s.valid_size, s.seed)


def _column(uc: UseCase, raw: pd.DataFrame, which: str, kind: str) -> pd.Series:
    name = getattr(uc, which)
    if name is None:
        raise ValueError(f"split.kind={kind} needs the use case to declare its {which}")
    return raw[name]


def describe_split(uc: UseCase, cfg: Any, raw: pd.DataFrame, split: Any) -> dict[str, Any]:
    """Kind, sizes, and the time range of each part (what a reader needs to trust the test)."""
    out: dict[str, Any] = {"kind": cfg.split.kind} | split.sizes()
    if uc.time_column and uc.time_column in raw:
        t = raw[uc.time_column]
        for part in ("train", "valid", "test"):
            idx = getattr(split, part)
            if len(idx):
                out[f"{part}_range"] = [str(t.iloc[idx].min()), str(t.iloc[idx].max())]
    if uc.id_column and cfg.split.kind in {"group", "group_time"}:
        ids = raw[uc.id_column]
        for part in ("train", "valid", "test"):
            out[f"{part}_entities"] = int(ids.iloc[getattr(split, part)].nunique())
    return out


STRICT_DUPLICATES = "quality.max_duplicates_across_parts"


def identical_rows(uc: UseCase, X: pd.DataFrame, y: np.ndarray, split: Any) -> list[Problem]:
    """Rows of a later part identical (inputs and label) to a row of an earlier part, per pair
    of parts; none when an id column tells the rows apart."""
    if uc.id_column is not None:
        return []
    return duplicates_across_parts(X.assign(_label=y), split, [*X.columns, "_label"])


def split_problems(
    uc: UseCase,
    cfg: Any,
    X: pd.DataFrame,
    y: np.ndarray,
    split: Any,
    binary: bool,
    repeated: list[Problem] | None = None,
) -> list[Problem]:
    """What stops the run after the split: identical rows across parts above
    `quality.max_duplicates_across_parts` when that setting is configured (strict mode; else
    they are counted in the report), and a part's label rate out of bounds."""

    q = cfg.quality
    problems = []
    found = identical_rows(uc, X, y, split) if repeated is None else repeated
    strict = "max_duplicates_across_parts" in q.model_fields_set
    if strict and sum(p.failures for p in found) > q.max_duplicates_across_parts:
        limit = f"{STRICT_DUPLICATES} = {q.max_duplicates_across_parts}"
        note = f" (strict mode: {limit}; without that setting they are counted in the report)"
        problems += [replace(p, text=str(p) + note) for p in found]
    if binary and q.check_label_rate_by_part:
        problems += label_rate_by_part(y, split, q.label_rate_min, q.label_rate_max)
    return problems


# A part's label rate this many times another's (either way) is a shift worth a warning.
LABEL_SHIFT_RATIO = 1.5
# PSI at or above this between train and test: the parts are different populations.
PSI_DRIFT = 0.25
# A single input ranking the training labels this well (ROC AUC) is likely known only after.
LEAK_AUC = 0.97
TIME_ORDERED = ("time", "row_order", "group_time")


def feature_psi(X: pd.DataFrame, reference: np.ndarray, current: np.ndarray) -> dict[str, float]:
    """PSI of each input, `current` rows against `reference` rows (the pack's one PSI); text
    inputs by level, numbers by the reference deciles."""
    out = {}
    for c in X.columns:
        ref, cur = X[c].to_numpy()[reference], X[c].to_numpy()[current]
        if not pd.api.types.is_numeric_dtype(X[c]):
            shares = pd.Series(ref).value_counts(normalize=True).to_dict()
            out[c] = psi(CategoricalBins.from_shares(shares), cur)
        elif np.isfinite(ref.astype(float)).any():
            # Deciles cannot say how a mass of tied values splits: count the reference shares
            # in the reference rows themselves (as drift's `reference_bins` does with a sample).
            deciles = sample_bins(ref)
            out[c] = psi(NumericBins(deciles.edges, deciles.shares(ref)), cur)
    return out


def rate_shift(rates: dict[str, float]) -> float:
    """Largest ratio between two parts' label rates (inf when one part has no positive)."""
    values = [r for r in rates.values() if np.isfinite(r)]
    if not values or max(values) == 0:
        return 1.0
    return float("inf") if min(values) == 0 else max(values) / min(values)


def pct(v: float) -> str:
    """A share as the report writes it: 0.048 -> '4.8 %'."""
    return f"{100 * v:.1f} %"


def part_checks(
    uc: UseCase,
    cfg: Any,
    X: pd.DataFrame,
    y: np.ndarray,
    split: Any,
    classifier: bool,
    repeated: list[Problem],
) -> dict[str, Any]:
    """What the report says about the parts: label rate (classifiers) or target mean per part,
    the 5 inputs that drift most from train to test (PSI), identical rows across parts, and
    warnings (a time-ordered split whose test label rate moved away from train's). Without an
    id column: rows whose inputs repeat an earlier row's, and how many of them the split put
    in a later part than their twin (identical rows across parts)."""
    rates = {p: float(np.mean(y[getattr(split, p)])) for p in PARTS}
    drift = feature_psi(X, split.train, split.test)
    top = sorted(drift.items(), key=lambda kv: -kv[1])[:5]
    out: dict[str, Any] = {
        "label_rate" if classifier else "target_mean": {p: round(r, 6) for p, r in rates.items()},
        "psi_train_test_top5": {k: round(v, 4) for k, v in top},
        "warnings": [],
    }
    if uc.id_column is None:  # with ids, rows are told apart: nothing to count
        out["repeated_input_rows"] = int(len(X) - len(np.unique(splits.content_groups(X))))
        out["identical_rows_across_parts"] = int(sum(p.failures for p in repeated))
    if out.get("identical_rows_across_parts"):
        out["warnings"].append(
            f"{out['identical_rows_across_parts']} row(s) of a later part repeat a row of an "
            f"earlier part (the {cfg.split.kind} split keeps them where they fall); "
            f"set {STRICT_DUPLICATES} to stop on them"
        )
    if classifier and cfg.split.kind in TIME_ORDERED:
        lo, hi = sorted([rates["train"], rates["test"]])
        if hi > 0 and (lo == 0 or hi / lo >= LABEL_SHIFT_RATIO):
            out["warnings"].append(
                f"label rate moves from {pct(rates['train'])} (train) to {pct(rates['test'])} "
                f"(test) under the {cfg.split.kind} split: the test part is another population"
                " (drift); its figures say how the model ages, not how well it ranks today"
            )
    return out


def single_input_auc(X: pd.DataFrame, y: np.ndarray) -> dict[str, float]:
    """ROC AUC of each input alone on these rows (either direction; a text input scores by
    its level's label rate here): near 1 means one column gives the label away."""
    from sklearn.metrics import roc_auc_score

    out = {}
    for c in X.columns:
        x = X[c]
        if not pd.api.types.is_numeric_dtype(x):
            score = x.map(pd.Series(y, index=x.index).groupby(x).mean()).to_numpy(dtype=float)
        else:
            score = x.to_numpy(dtype=float)
            score = np.where(np.isfinite(score), score, np.nanmedian(score))
        if np.isfinite(score).all() and np.unique(score).size > 1:
            auc = float(roc_auc_score(y, score))
            out[c] = max(auc, 1 - auc)
    return out


def below_chance_diagnosis(
    parts: dict[str, Any], single_auc: dict[str, float], kind: str
) -> tuple[str, str]:
    """(cause, advice) when validation ranks below chance: label (a part has no positive, or
    no negative), leakage (one input gives the training label away), drift (the label rate
    or the inputs move across parts), else unknown."""
    rates = parts["label_rate"]
    shown = " / ".join(pct(rates[p]) for p in PARTS)
    empty = [p for p, r in rates.items() if r in (0.0, 1.0)]
    if empty:
        return "label", (
            f"the {', '.join(empty)} part(s) hold one class only (label rate {shown} across "
            "train / valid / test): check the target column and the positive label"
        )
    leaks = sorted(((a, c) for c, a in single_auc.items() if a >= LEAK_AUC), reverse=True)
    if leaks:
        named = ", ".join(f"{c} (AUC {a:.3f} alone)" for a, c in leaks[:3])
        return "leakage", (
            f"{named} give(s) the training label away: a column known only after the outcome? "
            "declare it leaky"
        )
    top = parts["psi_train_test_top5"]
    shift = rate_shift(rates)
    drifting = [f"{c} {v:.2f}" for c, v in top.items() if v >= PSI_DRIFT]
    if shift >= LABEL_SHIFT_RATIO or drifting:
        inputs = f"; PSI train to test: {', '.join(drifting)}" if drifting else ""
        advice = (
            "try a stratified split (--set split.kind=stratified) to check the model ranks, "
            "then train on recent rows"
            if kind in TIME_ORDERED
            else "the parts are different populations: check how the file was put together"
        )
        return "drift", f"label rate {shown} across train / valid / test{inputs}: {advice}"
    return "unknown", (
        f"label rate {shown}, no input drifts (PSI < {PSI_DRIFT}) and none gives the label "
        "away: check the target column and positive label, and for a shuffled file"
    )


def fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.4f}" if abs(v) < 10 else f"{v:,.0f}"
    return str(v)


def kpi_table(result: RunResult, title: str) -> Any:
    """The business KPIs of the chosen model on the test part, for the terminal."""
    from rich.table import Table

    t = Table("KPI (test part)", "value", title=f"{result.use_case}: {title}")
    for name, v in result.kpis.items():
        t.add_row(name, fmt(v))
    return t


def candidates_heading(intro: str, columns: list[str]) -> list[str]:
    """The report's candidates section, up to its rows."""
    return [
        intro,
        "",
        "## Candidates (same test part)",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]


def kpi_markdown(kpis: dict[str, float]) -> list[str]:
    return ["", "## KPIs (test part)", "", "| KPI | value |", "|---|---|"] + [
        f"| {k} | {fmt(v)} |" for k, v in kpis.items()
    ]


def repeat_config(cfg: Any, i: int) -> Any:
    """Split i of a repeated evaluation: the split seed + i (seeded kinds)."""
    split = cfg.split.model_copy(update={"seed": cfg.split.seed + i})
    return cfg.model_copy(update={"split": split})


def repeat_rows(uc: UseCase, cfg: Any, raw: pd.DataFrame, i: int, k: int) -> pd.DataFrame:
    """Time-ordered kinds have no seed: split i ends i/k of a test part earlier (rolling origin)."""
    if cfg.split.kind not in ("time", "row_order") or i == 0:
        return raw
    n = len(raw)
    order = (
        np.argsort(pd.to_datetime(raw[uc.time_column]).to_numpy(), kind="stable")
        if cfg.split.kind == "time"
        else np.arange(n)
    )
    drop = int(round(n * cfg.split.test_size * i / k))
    return raw.iloc[np.sort(order[: n - drop])].reset_index(drop=True)


def summarise_repeats(
    per_split: list[dict[str, dict[str, float]]], metrics: tuple[str, ...], baseline: str
) -> dict[str, Any]:
    """Mean and sd per candidate and metric over the splits, and the paired differences
    between the chosen model (whichever it was on each split) and the baseline."""
    names = list(dict.fromkeys(n for s in per_split for n in s))
    out: dict[str, Any] = {"splits": len(per_split), "candidates": {}, "paired": {}}
    for name in names:
        rows = [s[name] for s in per_split if name in s]
        out["candidates"][name] = {
            m: {
                "mean": float(np.mean([r[m] for r in rows])),
                "sd": float(np.std([r[m] for r in rows], ddof=1)) if len(rows) > 1 else 0.0,
                "n": len(rows),
            }
            for m in metrics
        }
    for m in metrics:
        d = np.array([s["chosen"][m] - s[baseline][m] for s in per_split])
        out["paired"][m] = {
            "mean_diff": float(d.mean()),
            "sd_diff": float(d.std(ddof=1)) if len(d) > 1 else 0.0,
            "chosen_better": int(np.sum(d > 0)),
        }
    return out


class TabularTraining:
    """The shared training flow of a row-per-record task's light part (`task`, a
    shared/tasks/base.py `TabularTask`); each task's training class (e.g. `BinaryTraining`)
    fills in the evaluation methods."""

    scoring = "roc_auc"  # scikit-learn scorer used to tune candidates

    def __init__(self, task: TabularTask) -> None:
        self.task = task

    @property
    def classifier(self) -> bool:
        return self.task.classifier

    @property
    def repeat_metrics(self) -> tuple[str, ...]:
        return self.task.repeat_metrics

    # --------------------------------------------------------------------- data

    def synthetic(self, uc: UseCase, cfg: Any) -> tuple[pd.DataFrame, str]:
        d = cfg.data
        return uc.make_synthetic(
            d.synthetic_rows, d.seed
        ), f"synthetic(n={d.synthetic_rows}, seed={d.seed})"

    def label_rate(self, uc: UseCase) -> Any:
        """What the label-rate gate reads (None: no such gate for this task)."""
        return lambda r: uc.labels(r)[uc.labelled(r)]

    def validate(self, uc: UseCase, cfg: Any, raw: pd.DataFrame) -> Any:
        return validate_raw(raw, uc.raw_schema, cfg.quality, row_key(uc), self.label_rate(uc))

    # --------------------------------------------------------------------- fit

    def fit(self, uc: UseCase, cfg: Any, raw: pd.DataFrame, log: Log) -> Fit:
        y = uc.labels(raw)
        X = model_inputs(uc, raw)
        known = uc.labelled(raw)
        if not known.all():  # features saw every row (histories); only known labels are learned
            raw, X, y = raw[known].reset_index(drop=True), X[known].reset_index(drop=True), y[known]
        split = make_split(uc, cfg, raw, y, X)
        repeated = identical_rows(uc, X, y, split)
        problems = split_problems(uc, cfg, X, y, split, self.classifier, repeated)
        if problems:
            raise DataValidationError(ValidationReport(len(raw), raw.shape[1], problems))
        parts = part_checks(uc, cfg, X, y, split, self.classifier, repeated)
        for warning in parts["warnings"]:
            log(f"warning: {warning}")
        cands = []
        for c in cfg.model.candidates:
            log(f"tuning {c.name} ...")
            cands.append(self.fit_candidate(uc, c, X, y, split, cfg, raw))
        if cfg.model.blend:
            cands.append(self.blend([c for c in cands if c.name in cfg.model.blend]))
        y_valid, y_test = y[split.valid], y[split.test]
        for c in cands:
            self.calibrate(uc, c, X.iloc[split.test], y_valid, y_test, cfg)
            self.evaluate_candidate(uc, c, y_valid, y_test, cfg)
        chosen = self.choose(cands)
        self.check_chosen(chosen, parts, X.iloc[split.train], y[split.train], cfg.split.kind)
        baseline = next(c for c in cands if c.name == cfg.model.baseline)
        train_pred = self.predict(chosen.model, X.iloc[split.train])
        sizes = split.sizes() | ({"unlabelled": int((~known).sum())} if not known.all() else {})
        return Fit(
            chosen=chosen.name,
            model=chosen.model,
            metrics=chosen.test_metrics | {f"valid_{self.scoring}": chosen.valid_score},
            kpis=chosen.test_kpis,
            candidates=[self.candidate_row(c) for c in cands],
            split=describe_split(uc, cfg, raw, split) | sizes,
            profile=self.reference_profile(uc, X.iloc[split.train], train_pred),
            details=self.details(uc, cfg, chosen, baseline, y_test) | {"parts": parts},
            state={
                "X": X,
                "raw": raw,
                "split": split,
                "chosen": chosen,
                "baseline": baseline,
                "candidates": cands,
            },
            train_inputs=X.iloc[split.train],
            score=partial(self.predict, chosen.model),
        )

    def repeated_splits(
        self, uc: UseCase, cfg: Any, raw: pd.DataFrame, k: int, log: Log
    ) -> dict[str, Any]:
        """`train --repeats K`: the whole fit (search, blend, calibration, choice) on K splits
        (seed, seed + 1, ...; time-ordered kinds: K rolling origins); each candidate's test
        metrics as mean and sd, and the chosen model paired with the baseline."""
        per_split = []
        for i in range(k):
            log(f"split {i + 1} of {k} ...")
            cfg_i = repeat_config(cfg, i)
            fit = self.fit(uc, cfg_i, repeat_rows(uc, cfg, raw, i, k), log)
            row = {c.name: c.test_metrics for c in fit.state["candidates"]}
            per_split.append(row | {"chosen": fit.state["chosen"].test_metrics})
        out = summarise_repeats(per_split, self.repeat_metrics, cfg.model.baseline)
        return out | {"kind": cfg.split.kind, "baseline": cfg.model.baseline}

    def fit_candidate(
        self,
        uc: UseCase,
        cand: Any,
        X: pd.DataFrame,
        y: np.ndarray,
        split: Any,
        cfg: Any,
        raw: pd.DataFrame,
    ) -> Candidate:
        """Grid search by cross-validation on the training part only; folds follow the split
        kind (time-ordered under a time or row-order split, by entity under a group split).

        Validation scores come from the model fitted on the training part; with `model.refit`
        the final model is then refitted on training + validation before it sees the test part.
        """
        from sklearn.base import clone
        from sklearn.model_selection import GridSearchCV

        tr = split.train
        groups = raw[uc.id_column].to_numpy()[tr] if uc.id_column else None
        times = raw[uc.time_column].to_numpy()[tr] if uc.time_column else None
        folds = cv_folds(cfg.split.kind, cfg.model.cv_folds, cfg.split.seed, y[tr], groups, times)
        start = time.perf_counter()
        searched: dict[str, Any] = {}
        if cand.search:
            best, best_params, cv_score, searched = self._search(uc, cand, X, y, tr, folds, cfg)
        else:
            grid = {f"model__{k}": v for k, v in cand.grid.items()}
            gs = GridSearchCV(
                uc.make_model(cand.params), grid or {}, scoring=self.scoring, cv=folds, n_jobs=1
            )
            gs.fit(X.iloc[tr], y[tr])
            best, cv_score = gs.best_estimator_, float(gs.best_score_)
            best_params = {k.removeprefix("model__"): v for k, v in gs.best_params_.items()}
        valid_pred = self.predict(best, X.iloc[split.valid])
        model = best
        if (
            cfg.model.refit
        ):  # selection and threshold used validation; the test part stays untouched
            seen = np.concatenate([split.train, split.valid])
            model = clone(best).fit(X.iloc[seen], y[seen])
        return Candidate(
            name=cand.name,
            model=model,
            best_params=best_params,
            cv_score=cv_score,
            valid_pred=valid_pred,
            test_pred=self.predict(model, X.iloc[split.test]),
            seconds=time.perf_counter() - start,
            search=searched,
        )

    def _search(
        self,
        uc: UseCase,
        cand: Any,
        X: pd.DataFrame,
        y: np.ndarray,
        tr: np.ndarray,
        folds: list[Any],
        cfg: Any,
    ) -> tuple[Any, dict[str, Any], float, dict[str, Any]]:
        """The budgeted search (shared/core/search.py) on the preprocessed training part; the
        pipeline with the best parameters fitted on the training part."""
        from sklearn.base import clone

        pre = clone(uc.make_model(cand.params).named_steps["features"])
        design = np.asarray(pre.fit_transform(X.iloc[tr]))
        res = search_lightgbm(design, y[tr], folds, cand.params, cfg.model.search, self.classifier)
        best = uc.make_model(res.params).fit(X.iloc[tr], y[tr])
        info = {
            "trials": res.trials,
            "seconds": round(res.seconds, 1),
            "best": res.source,
            f"cv_{self.scoring}_lightgbm_defaults": round(res.defaults_score, 4),
            f"cv_{self.scoring}_configured": round(res.configured_score, 4),
        }
        return best, res.params.model_dump(exclude={"kind"}), res.cv_score, info

    def blend(self, parts: list[Candidate]) -> Candidate:
        """The parts averaged with equal weights (classifiers: in log-odds), as one model."""

        w = [1.0 / len(parts)] * len(parts)
        model = Combined([c.model for c in parts], w, classifier=self.classifier)

        def mix(preds: list[np.ndarray]) -> np.ndarray:
            if not self.classifier:
                return sum(wi * p for wi, p in zip(w, preds, strict=True))
            return Calibrator()(sum(wi * logit(p) for wi, p in zip(w, preds, strict=True)))

        return Candidate(
            name="blend",
            model=model,
            best_params={"parts": [c.name for c in parts], "weights": w},
            cv_score=float("nan"),
            valid_pred=mix([c.valid_pred for c in parts]),
            test_pred=mix([c.test_pred for c in parts]),
            seconds=sum(c.seconds for c in parts),
        )

    def calibrate(
        self,
        uc: UseCase,
        c: Candidate,
        X_test: pd.DataFrame,
        y_valid: np.ndarray,
        y_test: np.ndarray,
        cfg: Any,
    ) -> None:
        """Classifiers fit a calibrator on the validation part (see BinaryTask)."""

    def reference_profile(self, uc: UseCase, X: pd.DataFrame, pred: np.ndarray) -> dict[str, Any]:
        """Training distribution of every model input and of the output, for drift checks."""
        categorical = {
            c: X[c].value_counts(normalize=True).round(6).to_dict() for c in uc.categorical_features
        }
        return {
            "rows": len(X),
            "numeric": numeric_profile(X, uc.numeric_features),
            "categorical": categorical,
            "output_quantiles": quantiles(pred),
        }

    # --------------------------------------------------------------------- export + gates

    def onnx_output(self, sess: Any, feed: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def export(self, uc: UseCase, cfg: Any, fit: Fit) -> Export:
        X, split, chosen = fit.state["X"], fit.state["split"], fit.state["chosen"]
        num, cat = list(uc.numeric_features), list(uc.categorical_features)
        onnx_bytes = to_onnx(chosen.model, num, cat, classifier=self.classifier)
        X_test = X.iloc[split.test]
        feed = make_feed({c: X_test[c].to_numpy() for c in X_test.columns}, num, cat)
        out = self.onnx_output(session(onnx_bytes), feed)
        par = parity(chosen.test_pred, out, chosen.threshold, cfg.gates.max_parity_diff, split.test)
        metadata: dict[str, Any] = {
            "inputs": {c: "float32" for c in num} | {c: "string" for c in cat},
            "categories": {c: sorted(X[c].unique().tolist()) for c in cat},
        }
        if chosen.threshold is not None:
            metadata["threshold"] = chosen.threshold
        if uc.settings_model is not None:  # the service checks it applies the same settings
            metadata["settings"] = cfg.settings.model_dump(mode="json", exclude_none=True)
        output = ("probabilities", 2) if self.classifier else ("variable", 1)
        return Export(onnx_bytes, par, num, cat, output, metadata)

    def params(self, cfg: Any, fit: Fit) -> dict[str, Any]:
        chosen_row = next(c for c in fit.candidates if c["name"] == fit.chosen)
        return {"split_kind": cfg.split.kind} | {
            f"param_{k}": v for k, v in chosen_row["best_params"].items()
        }

    # --------------------------------------------------------------------- serving + bench

    def offline_benchmark(self, uc: UseCase, quick: bool) -> dict[str, float]:
        """The first configured candidate, fitted on synthetic data, timed native vs ONNX."""

        cfg = uc.load_config()
        uc = uc.with_config(cfg)
        raw = uc.make_synthetic(3000, 0)
        known = uc.labelled(raw)
        X = model_inputs(uc, raw)[known]
        model = uc.make_model(cfg.model.candidates[0].params).fit(X, uc.labels(raw)[known])
        num, cat = uc.numeric_features, uc.categorical_features
        sess = session(to_onnx(model, num, cat, classifier=self.classifier))
        repeats = 50 if quick else 300
        out: dict[str, float] = {}
        for label, n in (("row", 1), ("1000_rows", 1000)):
            Xn = X.iloc[np.arange(n) % len(X)]
            feed = make_feed({c: Xn[c].to_numpy() for c in Xn.columns}, num, cat)
            out[f"onnx_{label}_us"] = time_us(lambda f=feed: sess.run(None, f), repeats)
            out[f"native_{label}_us"] = time_us(
                lambda x=Xn: self.predict(model, x), max(10, repeats // 5)
            )
        out["onnx_speedup_row"] = out["native_row_us"] / out["onnx_row_us"]
        out["onnx_speedup_1000_rows"] = out["native_1000_rows_us"] / out["onnx_1000_rows_us"]
        return out

    def contract_checks(self, uc: UseCase) -> list[Any]:
        return list(HISTORY_CHECKS if uc.history else RECORD_CHECKS)

    # --------------------------------------------------------------------- per task

    def predict(self, model: Any, X: pd.DataFrame) -> np.ndarray:
        raise NotImplementedError

    def evaluate_candidate(
        self, uc: UseCase, c: Candidate, y_valid: np.ndarray, y_test: np.ndarray, cfg: Any
    ) -> None:
        raise NotImplementedError

    def choose(self, cands: list[Candidate]) -> Candidate:
        """Best validation score (higher is better); on a tie the earlier candidate wins."""
        return cands[int(np.argmax([c.valid_score for c in cands]))]

    def check_chosen(
        self,
        chosen: Candidate,
        parts: dict[str, Any],
        X_train: pd.DataFrame,
        y_train: np.ndarray,
        kind: str,
    ) -> None:
        """Stop the run when the best candidate is meaningless (with a diagnosis of why)."""

    def extras(self, c: Candidate) -> dict[str, Any]:
        """What a candidate row carries beyond its scores: the search and the calibration."""
        return {k: v for k, v in (("search", c.search), ("calibration", c.calibration)) if v}

    def candidate_row(self, c: Candidate) -> dict[str, Any]:
        return {
            "name": c.name,
            "best_params": c.best_params,
            f"cv_{self.scoring}": round(c.cv_score, 4),
            f"valid_{self.scoring}": round(c.valid_score, 4),
            "test_metrics": c.test_metrics,
            "test_kpis": c.test_kpis,
            "fit_seconds": round(c.seconds, 2),
        }

    def details(
        self, uc: UseCase, cfg: Any, chosen: Candidate, baseline: Candidate, y_test: np.ndarray
    ) -> dict[str, Any]:
        return {}

    def headline(self, result: RunResult) -> tuple[str, str]:
        raise NotImplementedError

    # --------------------------------------------------------------------- report

    candidate_columns: tuple[str, ...] = ()

    def candidate_cells(self, c: dict[str, Any]) -> list[str]:
        """One candidate's row of the report, in `candidate_columns` order."""
        raise NotImplementedError

    def kpi_title(self, result: RunResult) -> str:
        return "business KPIs"

    def report_tables(self, result: RunResult) -> list[Any]:
        from rich.table import Table

        title = f"{result.use_case}: candidates on the same test part (chosen: {result.chosen})"
        t = Table(*self.candidate_columns, title=title)
        for c in result.candidates:
            t.add_row(*self.candidate_cells(c))
        return [t, kpi_table(result, self.kpi_title(result))]

    def candidates_markdown(self, result: RunResult, intro: str) -> list[str]:
        return candidates_heading(intro, list(self.candidate_columns)) + [
            "| " + " | ".join(self.candidate_cells(c)) + " |" for c in result.candidates
        ]
