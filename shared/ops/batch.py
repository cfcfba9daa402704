"""Batch scoring: a file of records in, a file of scores out (`pilotpack score`).

The same ONNX model and feature code as the service: each chunk's records become column
arrays, the use case's `build_features` runs on them and `RecordPredictor` scores them; the
champion answers unless a registered version is named. Rows that break the schema are not
scored: they go to a rejects file with the reason, and the rest of the file is scored.

Typing and checks run by column on each chunk: a column is typed as the schema says (not as a
chunk's guessed types, which would depend on the neighbours), each distinct value of a number
column is typed once, and the schema's value checks run once per distinct value of a column;
both map back to the rows holding the value. Scores come by column too (`scored_columns`). Rejects stay row by
row, with the same reasons a row-by-row check gives. Nothing is repaired: a value that is not
what the schema says rejects its row.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.errors as pe

from shared.core.io import iter_table
from shared.core.onnx_export import make_feed
from shared.core.store import load_model
from shared.core.tracking import model_tag, stored_version
from shared.core.usecase import UseCase
from shared.core.validation import DataValidationError, Problem, ValidationReport, schema_problems
from shared.ops.scale import LocalEngine, ModelPayload
from shared.serve.factory import RecordPredictor

ROW = "row"  # the record's position in the input file (0 = first data row)
REASON = "reason"
CHUNK_ROWS = 50_000
TEXT = ("string", "empty")  # infer_dtype of an object column holding only str (and missing)
SHARED_DISTINCT = 1_000  # columns with at most this many distinct values are checked together
OUT_SUFFIXES = (".csv", ".parquet", ".pq")


@dataclass
class ScoreSummary:
    rows: int = 0
    scored: int = 0
    rejected: int = 0
    model_version: str = ""
    model_tag: str = ""
    out: Path | None = None
    rejects: Path | None = None
    seconds: float = 0.0
    engine: str = "local"
    chunks: int = 0
    reasons: dict[str, int] = field(default_factory=dict)  # rule -> rows, for the summary

    def to_dict(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Path) else v for k, v in self.__dict__.items()}


# --------------------------------------------------------------------------- checking


@cache
def scoring_schema(uc: UseCase) -> Any:
    """The raw schema as the service applies it: no target, and nullable columns may be
    absent (as a request may omit them)."""
    schema = uc.raw_schema.to_schema()
    if uc.target in schema.columns:
        schema = schema.remove_columns([uc.target])
    return schema.update_columns(
        {name: {"required": False} for name, col in schema.columns.items() if col.nullable}
    )


@cache
def _check_schema(uc: UseCase) -> Any:
    """The scoring schema's value checks without its dtype checks: `_typed` has typed every
    value already, and pandera's per-value type check of text columns costs a fifth of the
    scoring time."""
    schema = scoring_schema(uc)
    return schema.update_columns({name: {"dtype": None} for name in schema.columns})


def missing_columns(uc: UseCase, columns: list[str]) -> list[Problem]:
    """Required columns the file lacks: the whole file fails, nothing is scored."""
    schema = scoring_schema(uc)
    return [
        Problem(name, "column present in the file", 1, [f"columns read: {len(columns)}"])
        for name, col in schema.columns.items()
        if col.required and name not in columns
    ]


def check_chunk(
    uc: UseCase, chunk: pd.DataFrame, decimal: str = ".", distinct: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(valid rows typed as the schema says, rejected rows with `reason`); the index is the
    row's position in the file. A problem of the whole frame raises DataValidationError.

    `distinct=False` runs the schema's checks on every row (the reference the tests compare
    with); the default runs them once per distinct value of a column."""
    schema = scoring_schema(uc)
    missing = missing_columns(uc, list(chunk.columns))
    if missing:
        raise DataValidationError(ValidationReport(len(chunk), chunk.shape[1], missing))
    present = [n for n in schema.columns if n in chunk.columns]
    reasons: dict[int, list[str]] = {}
    typed, codes = {}, {}
    for name in present:
        col = schema.columns[name]
        typed[name], bad, codes[name] = _typed(
            chunk[name], str(col.dtype), col.nullable, decimal, find=bool(col.checks)
        )
        for row, rule in bad.items():
            reasons.setdefault(row, []).append(f"{name}: {rule} ({chunk.at[row, name]!r})")
    frame = pd.DataFrame(typed, index=chunk.index)
    clean = frame.drop(index=list(reasons)) if reasons else frame
    for name in present:  # whole numbers without missing values become int64 again
        col = schema.columns[name]
        if str(col.dtype).startswith("int") and not col.nullable:
            clean[name] = clean[name].astype("int64")
    if distinct:  # each column's distinct values as typing found them, on the clean rows
        kept = ~chunk.index.isin(list(reasons)) if reasons else slice(None)
        kept_codes = {n: c[kept] for n, c in codes.items() if c is not None}
        failures = _distinct_failures(_check_schema(uc), clean, kept_codes)
    else:
        failures = _schema_failures(_check_schema(uc), clean)
    for row, rules in failures.items():
        reasons.setdefault(row, []).extend(rules)
    # Rejected rows as read, as text: a Parquet file's typed values and a CSV's cells alike.
    rejected = chunk.loc[sorted(reasons)].astype(object)
    rejected = rejected.where(rejected.isna(), rejected.astype(str))
    rejected.insert(0, REASON, [" | ".join(reasons[r]) for r in rejected.index])
    return (clean.drop(index=list(failures)) if failures else clean), rejected


def _typed(
    values: pd.Series, dtype: str, nullable: bool, decimal: str, find: bool = True
) -> tuple[pd.Series, dict[int, str], np.ndarray | None]:
    """One column typed value by value: (typed column, {row: rule broken}, the code of each
    row's distinct value, -1 when missing; `pd.factorize`). Numbers: each distinct value is
    typed once (`_typed_each` on one row holding it, and on one missing row), and its
    type and rule go to every row holding it. Text that is text already is kept as read.
    `find=False` (a column without value checks): text is not split into its distinct values
    (an id column's are every row), and no codes come back."""
    text = not dtype.startswith(("int", "float")) and dtype != "bool"
    if (
        text
        and not find
        and values.dtype == object
        and pd.api.types.infer_dtype(values, skipna=True) in TEXT
    ):
        missing = values.index[values.isna()] if not nullable else []
        return values, {int(row): "missing value" for row in missing}, None
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    if not dtype.startswith(("int", "float")):
        if (
            dtype != "bool"
            and values.dtype == object
            and pd.api.types.infer_dtype(uniques, skipna=True) in TEXT
        ):
            missing = values.index[codes < 0] if not nullable else []
            return values, {int(row): "missing value" for row in missing}, codes
        # Flags, and text from other types: value by value (1 and 1.0 are one distinct value
        # to pandas, but "1" and "1.0" as text, and 1.0 is no flag).
        out, bad = _typed_each(values, dtype, nullable, decimal)
        return out, bad, pd.factorize(out, use_na_sentinel=True)[0]
    n = int(codes.max()) + 1 if len(codes) else 0
    missing = np.flatnonzero(codes < 0)
    picks = np.concatenate([_first_rows(codes, n), missing[:1]])
    typed, bad_picks = _typed_each(values.iloc[picks], dtype, nullable, decimal)
    where = np.where(codes >= 0, codes, n)  # a missing row takes the missing pick's type
    out = pd.Series(typed.to_numpy()[where], index=values.index)
    bad: dict[int, str] = {}
    if bad_picks:
        position = {row: i for i, row in enumerate(values.index[picks])}
        rows = values.index.to_numpy()
        for pick, rule in bad_picks.items():
            for row in rows[where == position[pick]]:
                bad[int(row)] = rule
        bad = dict(sorted(bad.items()))
    return out, bad, codes


def _typed_each(
    values: pd.Series, dtype: str, nullable: bool, decimal: str
) -> tuple[pd.Series, dict[int, str]]:
    """`_typed` on every value: (typed values, {row: rule broken})."""
    present = values.notna()
    bad: dict[int, str] = {}
    if dtype.startswith(("int", "float")):
        numbers = pd.to_numeric(values, errors="coerce").astype("float64")
        retry = present & numbers.isna()
        if values.dtype == object and retry.any():  # padded or decimal-comma cells, as text
            text = values[retry].astype(str).str.strip()
            if decimal != ".":
                text = text.str.replace(decimal, ".", regex=False)
            numbers[retry] = pd.to_numeric(text, errors="coerce").astype("float64")
        for row in values.index[present & numbers.isna()]:
            bad[row] = "not a number"
        if dtype.startswith("int"):
            fractional = numbers.notna() & (numbers != np.floor(numbers))
            for row in values.index[fractional]:
                bad[row] = "not a whole number"
        out = numbers
    elif dtype == "bool":
        words = values.astype(str).str.strip().str.lower()
        out = words.map({"true": True, "false": False, "1": True, "0": False})
        for row in values.index[present & out.isna()]:
            bad[row] = "not true/false"
    else:  # text: a Parquet number or a CSV cell alike becomes its text
        out = values.where(~present, values.astype(str)).astype(object)
    if not nullable:
        for row in values.index[~present]:
            bad[row] = "missing value"
    return out, bad


def _schema_failures(schema: Any, frame: pd.DataFrame) -> dict[int, list[str]]:
    """The schema's checks (ranges, allowed values, patterns) on every row, per failing row."""
    try:
        schema.validate(frame, lazy=True)
    except (pe.SchemaErrors, pe.SchemaError) as exc:
        cases = getattr(exc, "failure_cases", None)
        if cases is None or cases["index"].isna().any():
            problems = schema_problems(frame, schema)
            raise DataValidationError(
                ValidationReport(len(frame), frame.shape[1], problems)
            ) from exc
        out: dict[int, list[str]] = {}
        for case in cases.itertuples(index=False):
            out.setdefault(int(case.index), []).append(_reason(case))
        return out
    return {}


def _reason(case: Any) -> str:
    return f"{case.column}: {case.check} ({case.failure_case!r})"


# Checks that judge each value alone: run once per distinct value, they fail the same rows.
ELEMENT_WISE = frozenset(
    {
        "isin", "notin", "in_range", "between", "equal_to", "not_equal_to", "greater_than",
        "greater_than_or_equal_to", "less_than", "less_than_or_equal_to", "str_matches",
        "str_contains", "str_startswith", "str_endswith", "str_length",
    }
)  # fmt: skip


def _per_value(col: Any) -> bool:
    """A column whose checks each judge one value (no uniqueness, no whole-column check)."""
    return not col.unique and all(c.element_wise or c.name in ELEMENT_WISE for c in col.checks)


def _distinct_failures(
    schema: Any, frame: pd.DataFrame, codes: dict[str, np.ndarray] | None = None
) -> dict[int, list[str]]:
    """`_schema_failures`, with each per-value column checked once per distinct value (a chunk
    of 50,000 rows holds a few hundred distinct values): the failures of a value are those of
    every row holding it. Other columns, and checks of the whole frame, run on every row.
    `codes`: each row's distinct value per column (`_typed`'s codes), else found here."""
    if schema.checks:  # checks across columns: every row, as the reference does
        return _schema_failures(schema, frame)
    columns = [n for n in schema.columns if n in frame.columns]
    per_value = [n for n in columns if _per_value(schema.columns[n])]
    whole = [n for n in columns if n not in per_value]
    by_column: dict[str, dict[int, list[str]]] = {n: {} for n in columns}
    if whole:
        subset = _subset(schema, tuple(whole))
        for row, rules in _schema_failures(subset, frame[whole]).items():
            for rule in rules:
                by_column[rule.split(":", 1)[0]].setdefault(row, []).append(rule)
    per_value = [n for n in per_value if schema.columns[n].checks]  # typed already: no more
    if per_value:
        codes = {
            n: _dense(codes[n]) if codes and n in codes else pd.factorize(frame[n])[0]
            for n in per_value
        }
        firsts = {n: _first_rows(c, int(c.max()) + 1 if len(c) else 0) for n, c in codes.items()}
        # Columns of few distinct values share one frame (each repeated to the longest's
        # length, which keeps its type); a column of many (prices, free text) has its own,
        # so the others are not repeated to its length.
        # A column of missing values only has no value to check.
        few = tuple(n for n in per_value if 0 < len(firsts[n]) <= SHARED_DISTINCT)
        groups = [few] if few else []
        groups += [(n,) for n in per_value if len(firsts[n]) > SHARED_DISTINCT]
        rows = frame.index.to_numpy()
        for group in groups:
            longest = max(len(firsts[n]) for n in group)
            distinct = pd.DataFrame(
                {n: frame[n].iloc[np.resize(firsts[n], longest)].to_numpy() for n in group}
            )
            failed = _failures_by_column(_subset(schema, group), distinct)
            for name, by_code in failed.items():
                for code, rules in by_code.items():
                    if code < len(firsts[name]):  # a repeat stands for the same value
                        for row in rows[codes[name] == code]:
                            by_column[name][int(row)] = rules
    out: dict[int, list[str]] = {}
    for name in columns:  # reasons in schema column order, as one validation reports them
        for row, rules in by_column[name].items():
            out.setdefault(row, []).extend(rules)
    return dict(sorted(out.items()))


def _failures_by_column(schema: Any, frame: pd.DataFrame) -> dict[str, dict[int, list[str]]]:
    """{column: {row: reasons}} of one validation."""
    out: dict[str, dict[int, list[str]]] = {}
    for row, rules in _schema_failures(schema, frame).items():
        for rule in rules:
            out.setdefault(rule.split(":", 1)[0], {}).setdefault(row, []).append(rule)
    return out


_SUBSETS: dict[tuple[int, tuple[str, ...]], Any] = {}


def _subset(schema: Any, names: tuple[str, ...]) -> Any:
    """The schema restricted to some columns, made once (pandera copies the whole schema)."""
    key = (id(schema), names)
    if key not in _SUBSETS:
        _SUBSETS[key] = schema.select_columns(list(names))
    return _SUBSETS[key]


def _dense(codes: np.ndarray) -> np.ndarray:
    """Codes renumbered 0..k-1 over the values still present (-1, missing, stays)."""
    seen = codes >= 0
    out = np.full(len(codes), -1, dtype=np.int64)
    out[seen] = pd.factorize(codes[seen])[0]
    return out


def _first_rows(codes: np.ndarray, n: int) -> np.ndarray:
    """The position of each distinct value's first row (codes from pd.factorize)."""
    first = np.full(n, -1, dtype=np.int64)
    seen = codes >= 0
    positions = np.flatnonzero(seen)[::-1]
    first[codes[seen][::-1]] = positions  # the last write wins: the first row
    return first


# --------------------------------------------------------------------------- scoring


def score_chunk(
    payload: ModelPayload, chunk: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Check and score one chunk: (scores, rejects, model version). Runs wherever the engine
    puts it; the predictor is loaded once per process."""
    predictor = payload.load("record", _predictor)
    uc = predictor.uc
    decimal = payload.config.get("data", {}).get("reader", {}).get("decimal", ".")
    valid, rejected = check_chunk(uc, chunk, decimal)
    rejected.insert(0, ROW, rejected.index.to_numpy(dtype=np.int64))
    return _scores(predictor, valid), rejected.reset_index(drop=True), predictor.version


def _predictor(uc: UseCase, stored: Any, cfg: Any) -> RecordPredictor:
    return RecordPredictor.loader(uc, cfg)(stored)


def model_values(predictor: Any, features: dict[str, np.ndarray]) -> np.ndarray:
    """The model's output per row, as `RecordPredictor.values` computes it, without the
    service's per-request metrics and live drift window (a file is not live traffic)."""
    feed = make_feed(features, predictor.uc.numeric_features, predictor.uc.categorical_features)
    out = predictor.session.run([predictor.output], feed)[0]
    flat = out[:, 1] if out.ndim == 2 and out.shape[1] == 2 else out.reshape(-1)
    return flat.astype(np.float64)


def _column(valid: pd.DataFrame, name: str, n: int) -> np.ndarray:
    """A typed column as the feature code reads it: numbers as numbers, text as objects; an
    absent nullable column is missing throughout, as when a request omits it."""
    if name not in valid:
        return np.full(n, np.nan, dtype=object)
    values = valid[name]
    return values.to_numpy() if values.dtype.kind in "fiub" else values.to_numpy(dtype=object)


def _scores(predictor: Any, valid: pd.DataFrame) -> pd.DataFrame:
    """Rows -> the service's response fields: id echo, declared outputs, model version."""
    uc, n = predictor.uc, len(valid)
    columns = {name: _column(valid, name, n) for name in predictor.fields}
    scored: dict[str, Any] = {}
    if n:
        values = model_values(predictor, uc.build_features(columns))
        if predictor.hooks is not None and hasattr(predictor.hooks, "enrich"):
            # The use case adds fields record by record (as its service does): rows it is.
            rows = predictor.task.scored(values, predictor.stored.metadata)
            predictor.hooks.enrich(rows, predictor.cfg)
            scored = {key: [r[key] for r in rows] for key in rows[0]}
        else:
            scored = predictor.task.scored_columns(values, predictor.stored.metadata)
    out: dict[str, Any] = {ROW: valid.index.to_numpy(dtype=np.int64)}
    if uc.id_column:
        out[uc.id_column] = columns[uc.id_column]
    for o in uc.outputs or predictor.task.default_outputs(uc):
        if o.source.startswith("record."):
            out[o.name] = columns[o.source.removeprefix("record.")]
        else:
            out[o.name] = scored.get(o.source, [])
    out["model_version"] = predictor.version
    return pd.DataFrame(out)


def resolve_model(uc: UseCase, version: str | None = None) -> Any:
    """The stored model to score with: a registered version when named, else the one the
    service serves (the champion, or the PILOTPACK_MODEL_<NAME> pin)."""
    if version:
        return stored_version(uc.name, str(version))
    return load_model(model_tag(uc))


def default_rejects(out: Path) -> Path:
    """scores.csv -> scores.rejects.csv, next to the scores and in the same format."""
    return out.with_name(f"{out.stem}.rejects{out.suffix}")


def score_file(
    uc: UseCase,
    data: Path,
    out: Path,
    rejects: Path | None = None,
    version: str | None = None,
    engine: Any = None,
    chunk_rows: int = CHUNK_ROWS,
    on_chunk: Callable[[int, int], None] | None = None,
) -> ScoreSummary:
    """Score every row of `data` into `out` (CSV or Parquet by suffix), chunk by chunk, and
    the rows that break the schema into `rejects` (default: next to `out`).

    `on_chunk(rows, rejected)` is called after each chunk (a progress bar). Raises
    DataValidationError for a problem of the whole file (a required column missing),
    ModelNotFound when there is no model to score with.
    """
    if why := uc.load_config().governance.prohibited():  # EU AI Act Art. 5, as train and serve
        raise ValueError(f"{why}; scoring refused")
    if not uc.task.batch_scorable:
        raise ValueError(
            f"{uc.name}'s task does not score files of records: `pilotpack forecast` writes "
            "forecasts for a file of histories"
        )
    if uc.history:  # features read each entity's past records: a row alone is not scorable
        raise ValueError(
            f"{uc.name} scores an entity from its history of records; `pilotpack score` scores "
            "one row at a time: send histories to the service's /predict instead"
        )
    for path in (out, rejects):
        if path is not None and path.suffix.lower() not in OUT_SUFFIXES:
            raise ValueError(f"{path.name}: write .csv or .parquet")
    rejects = rejects or default_rejects(out)
    cfg = uc.load_config()
    start = time.perf_counter()
    stored = resolve_model(uc, version)
    payload = ModelPayload.of(uc, stored, cfg)
    engine = engine or LocalEngine()
    summary = ScoreSummary(model_tag=stored.tag, out=out, rejects=rejects, engine=engine.name)
    chunks = _checked_chunks(uc, iter_table(data, cfg.data.reader, chunk_rows))
    with _Writer(out) as scores_out, _Writer(rejects) as rejects_out:
        for scored, rejected, model_version in engine.map(score_chunk, payload, chunks):
            scores_out.write(scored)
            rejects_out.write(rejected)
            summary.model_version = model_version
            summary.chunks += 1
            summary.scored += len(scored)
            summary.rejected += len(rejected)
            for reason in rejected[REASON]:
                for rule in reason.split(" | "):
                    key = rule.split(" (")[0]
                    summary.reasons[key] = summary.reasons.get(key, 0) + 1
            if on_chunk:
                on_chunk(len(scored) + len(rejected), len(rejected))
        if not scores_out.started:  # nothing scored: the header alone
            scores_out.write(_scores_header(uc, payload), header_only=True)
        if not summary.rejected:
            rejects_out.discard()
    summary.rows = summary.scored + summary.rejected
    summary.model_version = summary.model_version or str(
        stored.metadata.get("mlflow_version") or stored.tag
    )
    if not summary.rejected:
        summary.rejects = None
    summary.seconds = time.perf_counter() - start
    return summary


def _checked_chunks(uc: UseCase, chunks: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """Fail on the first chunk when a required column is missing, before any work is sent."""
    for i, chunk in enumerate(chunks):
        if i == 0 and (missing := missing_columns(uc, list(chunk.columns))):
            raise DataValidationError(ValidationReport(len(chunk), chunk.shape[1], missing))
        yield chunk


def _scores_header(uc: UseCase, payload: ModelPayload) -> pd.DataFrame:
    predictor = payload.load("record", _predictor)
    return _scores(predictor, pd.DataFrame(columns=list(scoring_schema(uc).columns)))


class _Writer:
    """Appends frames to one CSV or Parquet file. Parquet columns take their type from the
    first frame written, a column with no value yet becomes text."""

    def __init__(self, path: Path):
        self.path, self.parquet, self.started = path, path.suffix.lower() != ".csv", False
        self._writer: Any = None
        self._schema: Any = None

    def __enter__(self) -> _Writer:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return self

    def write(self, frame: pd.DataFrame, header_only: bool = False) -> None:
        if frame.empty and not header_only:
            return
        if not self.parquet:
            mode, header = ("a", False) if self.started else ("w", True)
            frame.to_csv(self.path, mode=mode, header=header, index=False)
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            if self._writer is None:
                inferred = pa.Schema.from_pandas(frame, preserve_index=False)
                self._schema = pa.schema(
                    [f.with_type(pa.string()) if pa.types.is_null(f.type) else f for f in inferred]
                )
                self._writer = pq.ParquetWriter(self.path, self._schema)
            table = pa.Table.from_pandas(frame, schema=self._schema, preserve_index=False)
            self._writer.write_table(table)
        self.started = True

    def discard(self) -> None:
        """Nothing to keep: no file at all (and none left from an earlier run)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self.started = False
        self.path.unlink(missing_ok=True)

    def __exit__(self, *exc: object) -> None:
        if self._writer is not None:
            self._writer.close()
