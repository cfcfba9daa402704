"""Batch scoring: a file of records in, a file of scores out (`pilotpack score`).

The same ONNX model and feature code as the service: each chunk's records become column
arrays, the use case's `build_features` runs on them and `RecordPredictor` scores them; the
champion answers unless a registered version is named. Rows that break the schema are not
scored: they go to a rejects file with the reason, and the rest of the file is scored.

Values are typed one by one (a chunk's guessed column types would depend on its neighbours),
then checked by the use case's pandera schema. Nothing is repaired: a value that is not what
the schema says rejects its row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shared.core.usecase import UseCase
from shared.core.validation import DataValidationError, Problem, ValidationReport
from shared.ops.scale import LocalEngine, ModelPayload

ROW = "row"  # the record's position in the input file (0 = first data row)
REASON = "reason"
CHUNK_ROWS = 50_000
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
    uc: UseCase, chunk: pd.DataFrame, decimal: str = "."
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(valid rows typed as the schema says, rejected rows with `reason`); the index is the
    row's position in the file. A problem of the whole frame raises DataValidationError."""
    schema = scoring_schema(uc)
    missing = missing_columns(uc, list(chunk.columns))
    if missing:
        raise DataValidationError(ValidationReport(len(chunk), chunk.shape[1], missing))
    present = [n for n in schema.columns if n in chunk.columns]
    reasons: dict[int, list[str]] = {}
    typed = {}
    for name in present:
        col = schema.columns[name]
        typed[name], bad = _typed(chunk[name], str(col.dtype), col.nullable, decimal)
        for row, rule in bad.items():
            reasons.setdefault(row, []).append(f"{name}: {rule} ({chunk.at[row, name]!r})")
    frame = pd.DataFrame(typed, index=chunk.index)
    clean = frame.drop(index=list(reasons))
    for name in present:  # whole numbers without missing values become int64 again
        col = schema.columns[name]
        if str(col.dtype).startswith("int") and not col.nullable:
            clean[name] = clean[name].astype("int64")
    for row, rules in _schema_failures(_check_schema(uc), clean).items():
        reasons.setdefault(row, []).extend(rules)
    # Rejected rows as read, as text: a Parquet file's typed values and a CSV's cells alike.
    rejected = chunk.loc[sorted(reasons)].astype(object)
    rejected = rejected.where(rejected.isna(), rejected.astype(str))
    rejected.insert(0, REASON, [" | ".join(reasons[r]) for r in rejected.index])
    return clean.drop(index=list(reasons), errors="ignore"), rejected


def _typed(
    values: pd.Series, dtype: str, nullable: bool, decimal: str
) -> tuple[pd.Series, dict[int, str]]:
    """One column typed value by value: (typed column, {row: rule broken})."""
    present = values.notna()
    bad: dict[int, str] = {}
    if dtype.startswith(("int", "float")):
        text = values.astype(str).str.strip() if values.dtype == object else values
        if decimal != "." and values.dtype == object:
            text = text.str.replace(decimal, ".", regex=False)
        numbers = pd.to_numeric(text, errors="coerce").astype("float64")
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
    """The schema's checks (ranges, allowed values, patterns) per failing row."""
    import pandera.errors as pe

    try:
        schema.validate(frame, lazy=True)
    except (pe.SchemaErrors, pe.SchemaError) as exc:
        cases = getattr(exc, "failure_cases", None)
        if cases is None or cases["index"].isna().any():
            from shared.core.validation import schema_problems

            problems = schema_problems(frame, schema)
            raise DataValidationError(
                ValidationReport(len(frame), frame.shape[1], problems)
            ) from exc
        out: dict[int, list[str]] = {}
        for case in cases.itertuples(index=False):
            out.setdefault(int(case.index), []).append(
                f"{case.column}: {case.check} ({case.failure_case!r})"
            )
        return out
    return {}


# --------------------------------------------------------------------------- scoring


def score_chunk(
    payload: ModelPayload, chunk: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Check and score one chunk: (scores, rejects, model version). Runs wherever the engine
    puts it; the predictor is loaded once per process."""
    from shared.serve.factory import RecordPredictor

    predictor = payload.load(
        "record", lambda uc, stored, cfg: RecordPredictor.loader(uc, cfg)(stored)
    )
    uc = predictor.uc
    decimal = payload.config.get("data", {}).get("reader", {}).get("decimal", ".")
    valid, rejected = check_chunk(uc, chunk, decimal)
    rejected.insert(0, ROW, rejected.index.to_numpy(dtype=np.int64))
    return _scores(predictor, valid), rejected.reset_index(drop=True), predictor.version


def _scores(predictor: Any, valid: pd.DataFrame) -> pd.DataFrame:
    """Rows -> the service's response fields: id echo, declared outputs, model version."""
    uc, n = predictor.uc, len(valid)
    columns = {
        name: valid[name].to_numpy(dtype=object)
        if name in valid
        else np.full(n, np.nan, dtype=object)  # an absent nullable column: missing, as omitted
        for name in predictor.fields
    }
    if n:
        values = predictor.values(uc.build_features(columns))
        scored = predictor.task.scored(values, predictor.stored.metadata)
        if predictor.hooks is not None and hasattr(predictor.hooks, "enrich"):
            predictor.hooks.enrich(scored, predictor.cfg)
    else:
        scored = []
    out: dict[str, Any] = {ROW: valid.index.to_numpy(dtype=np.int64)}
    if uc.id_column:
        out[uc.id_column] = columns[uc.id_column]
    for o in uc.outputs or predictor.task.default_outputs(uc):
        if o.source.startswith("record."):
            out[o.name] = columns[o.source.removeprefix("record.")]
        else:
            out[o.name] = [s[o.source] for s in scored]
    out["model_version"] = predictor.version
    return pd.DataFrame(out)


def resolve_model(uc: UseCase, version: str | None = None) -> Any:
    """The stored model to score with: a registered version when named, else the one the
    service serves (the champion, or the PILOTPACK_MODEL_<NAME> pin)."""
    from shared.core.store import load_model

    if version:
        from shared.core.champion import stored_version

        return stored_version(uc.name, str(version))
    from shared.serve.factory import model_tag

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
    import time

    from shared.core.io import iter_table

    if uc.history:
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
    from shared.serve.factory import RecordPredictor

    predictor = payload.load("record", lambda u, s, c: RecordPredictor.loader(u, c)(s))
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
