"""Raw-data validation: pandera (lazy) plus data-quality gates, reported in one readable error.

Nothing here repairs data: a failing frame is reported, never modified. Values are judged as
the schema types them, not as pandas guessed: a number column read as text (one stray cell, a
padded number) is parsed first, a blank number cell is a missing value, and a cell that is not
a number fails the column's dtype check by itself, so the other rows' values are still checked
as numbers (`typed_column`, `typed_as_schema`).
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
    text: str = ""  # the whole line, when the column/rule/count form does not read well

    def __str__(self) -> str:
        if self.text:
            return self.text
        head = f"{self.column}: {self.rule} failed for {self.failures} row(s)"
        if not self.examples:
            return head
        return head + ", e.g. " + ", ".join(repr(e) for e in self.examples)


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


def declared_kind(dtype: Any) -> str | None:
    """ "int", "float", "bool" or "text" for a schema column's dtype; None for others (dates,
    categories), which pandera's own dtype check judges."""
    name = str(dtype).lower()
    if name.startswith(("int", "uint")):
        return "int"
    if name.startswith("float"):
        return "float"
    if name in {"bool", "boolean"}:
        return "bool"
    if name in {"str", "string", "object"}:
        return "text"
    return None


FLAG_WORDS = {"true": True, "false": False, "1": True, "0": False}


def typed_column(values: pd.Series, kind: str, decimal: str = ".") -> tuple[pd.Series, pd.Series]:
    """(the column as the schema's `kind`, a mask of the cells that are not of that kind).

    Numbers: text is stripped and parsed (`decimal` read as the point), a blank or
    whitespace-only cell is missing, and a cell that does not parse (or is not whole, for
    "int") is missing in the typed column and marked. Flags: true/false/1/0 in any case. Text:
    cells read as numbers (a Parquet column, or pandas' guess) become their text. A column of
    the right type already is returned as it is, with nothing marked.
    """
    present = values.notna()
    none = pd.Series(False, index=values.index)
    if kind in ("int", "float"):
        numbers, bad = values, none
        if values.dtype.kind not in "iuf":
            text = values[present].astype(str).str.strip()
            if decimal != ".":
                text = text.str.replace(decimal, ".", regex=False)
            text = text[text != ""]  # blank: a missing value, not a bad one
            parsed = pd.to_numeric(text, errors="coerce").astype("float64")
            numbers = parsed.reindex(values.index)
            bad = none.copy()
            bad[text.index] = parsed.isna().to_numpy()
        if kind == "int" and numbers.dtype.kind == "f":
            fractional = numbers.notna() & (numbers != np.floor(numbers))
            bad, numbers = bad | fractional, numbers.where(~fractional)
        return numbers, bad
    if kind == "bool" and values.dtype != bool:
        flags = values.astype(str).str.strip().str.lower().map(FLAG_WORDS).where(present)
        return flags, present & flags.isna()
    if kind == "text" and not _all_text(values):
        return values.where(~present, values.astype(str)).astype(object), none
    return values, none


def _all_text(values: pd.Series) -> bool:
    """Only text (and missing values) in the column."""
    if values.dtype.kind in "iufbmM":
        return False
    return pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty")


def _settled(values: pd.Series, kind: str) -> pd.Series:
    """Whole numbers without missing values as int64, flags without missing values as bool."""
    if kind == "int" and values.dtype.kind == "f" and values.notna().all():
        return values.astype("int64")
    if kind == "bool" and values.dtype == object and values.notna().all():
        return values.astype(bool)
    return values


def _columns(schema: Any) -> dict[str, Any]:
    """The schema's columns by name, for a DataFrameModel or a DataFrameSchema."""
    return (schema.to_schema() if hasattr(schema, "to_schema") else schema).columns


def typed_as_schema(frame: pd.DataFrame, schema: Any, decimal: str = ".") -> pd.DataFrame:
    """The frame with each declared column typed as the schema says (`typed_column`), when
    every cell of it is of that type; a column holding a cell that is not stays as read, for
    validation to report. The input is not modified."""
    out = frame.copy()
    for name, col in _columns(schema).items():
        kind = declared_kind(col.dtype)
        if kind is None or name not in out:
            continue
        column = out[name]
        values, bad = typed_column(column, kind, decimal)
        settled = _settled(values, kind)
        if settled is not column and not bad.any():
            out[name] = settled
    return out


def schema_problems(
    raw: pd.DataFrame, schema: Any, max_examples: int = 5, decimal: str = "."
) -> list[Problem]:
    """Run the pandera schema lazily on the frame as the schema types it, one Problem per
    column+rule.

    A cell that is not of its column's type counts once, under the column's dtype rule, with
    the cell as read among the examples; the column's other checks judge the other cells.
    """
    import pandera.errors as pe

    columns = _columns(schema)
    checked, typed, bad_rows, problems = raw.copy(), [], {}, []
    for name, col in columns.items():
        kind = declared_kind(col.dtype)
        if kind is None or name not in raw:
            continue
        values, bad = typed_column(raw[name], kind, decimal)
        checked[name] = _settled(values, kind)
        typed.append(name)
        if bad.any():
            failing = raw[name][bad]
            examples = failing.drop_duplicates().head(max_examples).tolist()
            problems.append(Problem(name, f"dtype('{col.dtype}')", int(bad.sum()), examples))
            bad_rows[name] = set(failing.index.tolist())
    if typed:  # typed above: pandera's dtype check would judge pandas' guess again
        schema = (schema.to_schema() if hasattr(schema, "to_schema") else schema).update_columns(
            {name: {"dtype": None} for name in typed}
        )
    try:
        schema.validate(checked, lazy=True)
    except (pe.SchemaErrors, pe.SchemaError) as exc:  # coercion/strictness raise SchemaErrors too
        cases = getattr(exc, "failure_cases", None)
        if cases is None:
            return [Problem(str(getattr(exc, "schema", "frame")), str(exc), 1, [])]
        problems += _group_failures(_without(cases, bad_rows, exc), max_examples)
    return sorted(problems, key=lambda p: (p.column, p.rule))


def _without(cases: pd.DataFrame, bad_rows: dict[str, set[Any]], exc: Exception) -> pd.DataFrame:
    """Failure cases less those of cells already counted as not of their type (now missing);
    a check that raised keeps its row but not the exception's text."""
    keep = [
        not (c in bad_rows and i in bad_rows[c])
        for c, i in zip(cases["column"], cases["index"], strict=True)
    ]
    cases = cases[keep].copy()
    errors = {
        (str(getattr(e.schema, "name", "")), str(e.failure_cases))
        for e in getattr(exc, "schema_errors", [])
        if str(getattr(e.reason_code, "value", "")) == "check_error"
    }
    cases["raised"] = [
        (str(c), str(f)) in errors
        for c, f in zip(cases["column"], cases["failure_case"], strict=True)
    ]
    return cases


def _group_failures(cases: pd.DataFrame, max_examples: int) -> list[Problem]:
    cases = cases.copy()
    cases["column"] = cases["column"].fillna("<frame>").astype(str)
    cases["check"] = cases["check"].astype(str)
    out = []
    for (column, check), group in cases.groupby(["column", "check"], sort=True):
        if "raised" in group and group["raised"].all():  # the reason is the rule, not a traceback
            out.append(Problem(column, f"{check} (could not run on these values)", len(group), []))
            continue
        # A missing value shows no example: the rule (not_nullable) says it already.
        values = group["failure_case"].dropna().drop_duplicates().head(max_examples).tolist()
        out.append(Problem(column, check, len(group), values))
    return out


def quality_problems(
    raw: pd.DataFrame,
    y: np.ndarray | None,
    id_column: str | Sequence[str] | None,
    cfg: QualityConfig,
) -> list[Problem]:
    """Data-quality gates: volume, label rate, duplicate ids, required edge-case slices; a frame
    with too few rows gets that problem alone.

    `id_column` may be several columns (e.g. entity and time) that together identify a row.
    """
    problems = too_few_rows(len(raw), cfg.min_rows)
    if problems:  # the other gates would judge a sample too small to mean anything
        return problems
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


def too_few_rows(rows: int, min_rows: int) -> list[Problem]:
    """The volume gate: a file too small to train on says so, whatever else is wrong with it."""
    if rows >= min_rows:
        return []
    text = f"too few rows: {rows}, at least {min_rows}"
    return [Problem("<frame>", f"at least {min_rows} rows", 1, [rows], text)]


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
    decimal: str = ".",
) -> ValidationReport:
    """Schema + quality gates; raises DataValidationError listing every problem.

    Too few rows is reported first, whatever else fails; the values are judged as the schema
    types them (`schema_problems`).
    """
    report = ValidationReport(rows=len(raw), columns=raw.shape[1])
    report.problems = schema_problems(raw, schema, decimal=decimal)
    y = None
    # Labels and the other quality gates only make sense on a frame that passed the schema.
    if not report.problems:
        typed = typed_as_schema(raw, schema, decimal)
        y = labels(typed) if labels else None
        report.problems = quality_problems(typed, y, id_column, cfg)
    else:
        report.problems = too_few_rows(len(raw), cfg.min_rows) + report.problems
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
