"""Raw-data validation: pandera (lazy) plus data-quality gates, reported in one readable error.

Nothing here repairs data: a failing frame is reported, never modified.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from shared.core.config import QualityConfig, SliceRule
from shared.core.splits import Split

PARTS = ("train", "valid", "test")


@dataclass
class Problem:
    column: str
    rule: str
    failures: int
    examples: list[Any]

    def __str__(self) -> str:
        shown = ", ".join(repr(e) for e in self.examples)
        return f"{self.column}: {self.rule} failed for {self.failures} row(s), e.g. {shown}"


@dataclass
class ValidationReport:
    rows: int
    columns: int
    problems: list[Problem] = field(default_factory=list)
    stats: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "rows": self.rows,
            "columns": self.columns,
            "stats": self.stats,
            "problems": [
                p.__dict__ | {"examples": [str(e) for e in p.examples]} for p in self.problems
            ],
        }

    def to_text(self) -> str:
        head = f"{self.rows} rows x {self.columns} columns: "
        if self.ok:
            return head + "all checks passed"
        lines = [head + f"{len(self.problems)} problem(s)"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


class DataValidationError(ValueError):
    """Raised with the whole report: every problem at once, not the first one."""

    def __init__(self, report: ValidationReport):
        self.report = report
        super().__init__("data validation failed\n" + report.to_text())


def schema_problems(raw: pd.DataFrame, schema: Any, max_examples: int = 5) -> list[Problem]:
    """Run the pandera schema lazily and turn its failure cases into one Problem per column+rule."""
    import pandera.errors as pe

    try:
        schema.validate(raw, lazy=True)
    except (pe.SchemaErrors, pe.SchemaError) as exc:  # coercion/strictness raise SchemaErrors too
        cases = getattr(exc, "failure_cases", None)
        if cases is None:
            return [Problem(str(getattr(exc, "schema", "frame")), str(exc), 1, [])]
        return _group_failures(cases, max_examples)
    return []


def _group_failures(cases: pd.DataFrame, max_examples: int) -> list[Problem]:
    cases = cases.copy()
    cases["column"] = cases["column"].fillna("<frame>").astype(str)
    cases["check"] = cases["check"].astype(str)
    out = []
    for (column, check), group in cases.groupby(["column", "check"], sort=True):
        values = group["failure_case"].drop_duplicates().head(max_examples).tolist()
        out.append(Problem(column, check, len(group), values))
    return out


def quality_problems(
    raw: pd.DataFrame,
    y: np.ndarray | None,
    id_column: str | Sequence[str] | None,
    cfg: QualityConfig,
) -> list[Problem]:
    """Data-quality gates: volume, label rate, duplicate ids, required edge-case slices.

    `id_column` may be several columns (e.g. entity and time) that together identify a row.
    """
    problems = []
    if len(raw) < cfg.min_rows:
        problems.append(Problem("<frame>", f"at least {cfg.min_rows} rows", 1, [len(raw)]))
    if y is not None and len(y):
        rate = float(np.mean(y))
        if not cfg.label_rate_min <= rate <= cfg.label_rate_max:
            rule = f"label rate within [{cfg.label_rate_min}, {cfg.label_rate_max}]"
            problems.append(Problem("<target>", rule, 1, [round(rate, 4)]))
    key = [id_column] if isinstance(id_column, str) else list(id_column or [])
    if key and all(k in raw for k in key):
        ids = (
            raw[key[0]]
            if len(key) == 1
            else pd.Series(list(zip(*(raw[k] for k in key), strict=True)))
        )
        dup = ids[ids.duplicated(keep=False).to_numpy()]
        if dup.nunique() > cfg.max_duplicate_ids:
            rule = f"at most {cfg.max_duplicate_ids} duplicated ids"
            problems.append(
                Problem(" + ".join(key), rule, int(dup.nunique()), dup.unique()[:5].tolist())
            )
    for rule in cfg.required_slices:
        n = int(slice_mask(raw, rule).sum()) if rule.column in raw else 0
        if n < rule.min_rows:
            text = f"edge case '{rule.name}' ({rule.column} {rule.op} {rule.value!r}) >= {rule.min_rows} rows"
            problems.append(Problem(rule.column, text, 1, [n]))
    return problems


def slice_mask(raw: pd.DataFrame, rule: SliceRule) -> pd.Series:
    col = raw[rule.column]
    if rule.op == "eq":
        return col == rule.value
    if rule.op == "le":
        return col <= rule.value
    if rule.op == "ge":
        return col >= rule.value
    return col.isin(rule.value)


def validate_raw(
    raw: pd.DataFrame,
    schema: Any,
    cfg: QualityConfig,
    id_column: str | Sequence[str] | None = None,
    labels: Callable[[pd.DataFrame], np.ndarray] | None = None,
) -> ValidationReport:
    """Schema + quality gates; raises DataValidationError listing every problem."""
    report = ValidationReport(rows=len(raw), columns=raw.shape[1])
    report.problems = schema_problems(raw, schema)
    y = None
    # Labels and quality gates only make sense on a frame that passed the schema.
    if not report.problems:
        y = labels(raw) if labels else None
        report.problems = quality_problems(raw, y, id_column, cfg)
    if y is not None and len(y):
        report.stats["label_rate"] = float(np.mean(y))
    if not report.ok:
        raise DataValidationError(report)
    return report


def duplicates_across_parts(
    frame: pd.DataFrame,
    split: Split,
    columns: Sequence[str],
    allowed: int = 0,
    max_examples: int = 5,
) -> list[Problem]:
    """Identical rows (over `columns`) in two parts: the model is scored on rows it has seen.

    A later part's row counts once per earlier part that holds the same values; one Problem per
    pair of parts when the total is above `allowed`. Examples are (earlier, later) row labels.
    """
    if not columns:
        raise ValueError("duplicates_across_parts needs at least one column to compare")
    # ngroup gives equal values one code, exactly (no hashing) and with missing values equal.
    codes = frame.groupby(list(columns), dropna=False, sort=False).ngroup().to_numpy()
    problems = []
    for i, early in enumerate(PARTS):
        early_rows = getattr(split, early)
        # Sorted distinct codes of the earlier part and, for each, its first row.
        seen, first = np.unique(codes[early_rows], return_index=True)
        for late in PARTS[i + 1 :]:
            rows = getattr(split, late)
            leaked = rows[np.isin(codes[rows], seen)]
            if len(leaked):
                shown = leaked[:max_examples]
                matches = early_rows[first[np.searchsorted(seen, codes[shown])]]
                # tolist() gives plain Python labels, which print cleanly in the report.
                pairs = zip(frame.index[matches].tolist(), frame.index[shown].tolist(), strict=True)
                examples = list(pairs)
                rule = f"no identical rows in both {early} and {late} (over {len(columns)} columns)"
                problems.append(Problem("<rows>", rule, len(leaked), examples))
    return problems if sum(p.failures for p in problems) > allowed else []


def label_rate_by_part(y: np.ndarray, split: Split, low: float, high: float) -> list[Problem]:
    """Each part needs a positive and a label rate within [low, high], or its metrics mislead."""
    y = np.asarray(y, dtype=float)
    problems = []
    for name in PARTS:
        part = y[getattr(split, name)]
        positives = int(np.sum(part))
        if positives == 0:
            rule = f"at least one positive label in the {name} part"
            problems.append(Problem("<label>", rule, 1, [f"0 of {len(part)} rows"]))
            continue
        rate = positives / len(part)
        if not low <= rate <= high:
            rule = f"label rate of the {name} part within [{low}, {high}]"
            problems.append(Problem("<label>", rule, 1, [round(rate, 4)]))
    return problems
