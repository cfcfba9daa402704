"""Profile a team's file into a FileSpec, and write the pandera RawSchema source from it.

The profile is what a generated use-case folder keeps (profile.json): kinds, ranges, shares,
quantiles and value shapes, never whole records. Columns that look personal keep no values.
"""

from __future__ import annotations

import json
import keyword
import math
import re
from collections import Counter
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
from pandas.tseries.api import guess_datetime_format

from shared.core.lookalike.spec import (
    CHAR_CLASSES,
    NUMERIC_KINDS,
    QUANTILE_LEVELS,
    ColumnSpec,
    FileSpec,
    Value,
    format_number,
    parse_piece,
)

# A text column counts as numeric when this share of its non-empty cells are numbers; the rest
# are blank-like tokens (Telco's TotalCharges holds " " in 11 of 7,043 rows).

# A regression fork's model and gates (`new --task regression` and `new --rul`): LightGBM against
# a ridge baseline with a small grid, written into the fork's config.yaml for the team to tune.
REGRESSION_MODEL: dict[str, Any] = {
    "baseline": "ridge",
    "cv_folds": 3,
    "candidates": [
        {
            "name": "lightgbm",
            "params": {
                "kind": "lightgbm",
                "n_estimators": 300,
                "learning_rate": 0.05,
                "num_leaves": 15,
                "min_child_samples": 20,
            },
            "grid": {"num_leaves": [7, 15]},
        },
        {"name": "ridge", "params": {"kind": "ridge", "alpha": 1.0}},
    ],
}
REGRESSION_GATES: dict[str, Any] = {
    "baseline_alpha": 0.05,
    "n_bootstrap": 300,
    "max_parity_diff": 1.0e-3,
}

NUMERIC_TEXT_SHARE = 0.99
# Integer columns holding only values 0..INT_CODE_MAX are read as codes (1 = primary, 2 = ...)
# rather than quantities; the schema keeps the closed list and an ADAPT line asks a human which.
INT_CODE_MAX = 10
# More distinct shapes than this and a text column is free-form: no pattern is checked.
MAX_SHAPES = 3

_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
# The schema shows the simplest form every number in the file matches (churn's TotalCharges style).
_NUMBER_FORMS = (r"\d+(\.\d*)?", r"-?\d+(\.\d*)?", _NUMBER.pattern)
_DATE_LIKE = re.compile(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}")
_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_FINE_RUNS = re.compile(r"[0-9]+|[A-Za-z]+|.", re.S)
_COARSE_RUNS = re.compile(r"[0-9A-Za-z]+|.", re.S)
_REGEX_SPECIAL = set(r".^$*+?{}[]\|()")


# Short words must be whole words of the name ("Page Views" and "Usage" hold "age", "Trace"
# holds "race"); longer ones may start or end a word ("DateOfBirth", "ethnicity", "username").
_SENSITIVE_WORDS = ("age", "ages", "sex", "race", "dob")
_SENSITIVE_PARTS = (
    "gender",
    "birth",
    "nationality",
    "ethnic",
    "religio",
    "marital",
    "disab",
    "senior",
)
_PII_WORDS = ("id", "ids", "uuid", "guid", "zip", "ssn")
_PII_PARTS = ("name", "email", "phone", "address", "postcode", "postal", "zipcode", "iban")
_ID_WORDS = ("id", "ids", "uuid", "guid", "key", "code", "number", "no", "nr", "num", "ref")

_DATE_PIECES = {
    "Y": r"\d{4}",
    "y": r"\d{2}",
    "m": r"\d{2}",
    "d": r"\d{2}",
    "H": r"\d{2}",
    "I": r"\d{2}",
    "M": r"\d{2}",
    "S": r"\d{2}",
    "f": r"\d{6}",
    "j": r"\d{3}",
    "b": "[A-Za-z]{3}",
    "a": "[A-Za-z]{3}",
    "B": "[A-Za-z]+",
    "A": "[A-Za-z]+",
    "p": "[AaPp][Mm]",
}
# Files often drop leading zeros ("1/2/2012"); the generator writes them, so both must pass.
_DATE_PIECES_UNPADDED = {
    **_DATE_PIECES,
    **{d: r"\d{1,2}" for d in "mdHIMS"},
    "f": r"\d{1,6}",
    "j": r"\d{1,3}",
}
_SCHEMA_TYPES = {
    "int": "int",
    "float": "float",
    "str": "str",
    "bool": "bool",
    "datetime": "pd.Timestamp",
}
LEAKY_REASON = "known only after the outcome (pilotpack new --leaky)"
_MODULE_NAMES = ("TARGET", "POSITIVE_LABEL", "ID_COLUMN", "TIME_COLUMN", "LEAKY_COLUMNS")


def infer_spec(
    frame: pd.DataFrame,
    target: str,
    id_column: str | None = None,
    time_column: str | None = None,
    max_categories: int = 30,
    margin: float = 0.5,
    decisions: Decisions | None = None,
) -> FileSpec:
    """Profile `frame`, as read from the team's file, into a FileSpec; `decisions` are the
    team's own (leaky, dropped and sensitive columns, the positive label)."""
    decided = decisions or Decisions()
    _check_frame(frame, target, id_column, time_column)
    _check_decisions(frame, target, decided)
    task, positive = _task(frame[target], target)
    if decided.positive is not None:
        positive = _positive(frame[target], decided.positive)
    roles = {target: "target", id_column: "id", time_column: "time"}
    columns = [
        _profile(frame[name], roles.get(name), max_categories, margin) for name in frame.columns
    ]
    sensitive = set(decided.sensitive) | set(decided.use_sensitive)
    columns = [replace(c, sensitive_hint=True) if c.name in sensitive else c for c in columns]
    return FileSpec(
        leaky=list(decided.leaky),
        dropped=list(decided.drop),
        columns=columns,
        rows=len(frame),
        target=target,
        id_column=id_column,
        time_column=time_column,
        positive_label=positive,
        task_hint=task,
        margin=margin,
    )


@dataclass(frozen=True)
class Decisions:
    """What a team decided about its columns (`pilotpack new` flags)."""

    leaky: tuple[str, ...] = ()  # known only after the outcome: never an input
    drop: tuple[str, ...] = ()  # not an input, for any other reason
    sensitive: tuple[str, ...] = ()  # protected attributes beyond the ones the names suggest
    use_sensitive: tuple[str, ...] = ()  # sensitive, and the model may read them
    positive: str | None = None  # the positive label, as written in the file


def _check_decisions(frame: pd.DataFrame, target: str, decided: Decisions) -> None:
    """Raise ValueError naming a decided column the file does not have, or a clash of roles."""
    for flag, names in (
        ("--leaky", decided.leaky),
        ("--drop", decided.drop),
        ("--sensitive", decided.sensitive),
        ("--use-sensitive", decided.use_sensitive),
    ):
        missing = [n for n in names if n not in frame.columns]
        if missing:
            raise ValueError(f"{flag}: {missing} not in the file; it has {list(frame.columns)}")
        if target in names:
            raise ValueError(f"{flag}: {target!r} is the target")
    both = sorted(set(decided.leaky + decided.drop) & set(decided.use_sensitive))
    if both:
        raise ValueError(f"--use-sensitive {both}: also given as --leaky or --drop")


def _positive(series: pd.Series, text: str) -> Value:
    """The target's value written as `text` (`--positive yes`, `--positive 1`)."""
    values = [_py(v) for v in series.dropna().unique()]
    found = [v for v in values if str(v) == text or (isinstance(v, float) and str(int(v)) == text)]
    if len(values) != 2 or not found:
        raise ValueError(
            f"--positive {text!r}: target {series.name!r} has values "
            f"{sorted(map(str, values))[:10]}; give one of two"
        )
    return found[0]


def _check_frame(
    frame: pd.DataFrame, target: str, id_column: str | None, time_column: str | None
) -> None:
    """Raise ValueError on a frame or role this profiler cannot take."""
    if frame.empty:
        raise ValueError("the file has no rows")
    if not all(isinstance(name, str) for name in frame.columns):
        raise ValueError("column names must be text: read the file with its header row")
    if frame.columns.duplicated().any():
        raise ValueError(
            f"duplicated column names: {sorted(frame.columns[frame.columns.duplicated()])}"
        )
    for role, name in (("target", target), ("id", id_column), ("time", time_column)):
        if name is not None and name not in frame.columns:
            raise ValueError(
                f"{role} column {name!r} is not in the file; it has {list(frame.columns)}"
            )
    if target in (id_column, time_column):
        raise ValueError(f"target column {target!r} cannot also be the id or time column")


def _task(series: pd.Series, name: str) -> tuple[str, Value | None]:
    """The task the target implies and, for a binary target, its positive label."""
    values = series.dropna()
    counts = values.value_counts()
    if len(counts) < 2:
        raise ValueError(f"target column {name!r} is constant: there is nothing to learn")
    if len(counts) == 2:
        # The minority class is the one to find; on a tie the larger value (1, "Yes", True).
        positive = min(reversed(sorted(counts.index)), key=lambda value: counts[value])
        return "binary", _py(positive)
    if _storage(series) in ("int", "float") or _numeric_text(values):
        return "regression", None
    raise ValueError(
        f"target column {name!r} has {len(counts)} distinct text values: the templates take a "
        "binary target (2 values) or a numeric one (regression)"
    )


def _profile(series: pd.Series, role: str | None, max_categories: int, margin: float) -> ColumnSpec:
    """Profile one column; `role` is "target", "id", "time" or None."""
    name = str(series.name)
    storage = _storage(series)
    values = series.dropna()
    kind = _kind(values, name, storage, role, max_categories)
    fields = _kind_fields(values, kind, storage, role, len(series), max_categories, margin)
    null_share = float(1.0 - len(values) / len(series)) + sum(fields.get("tokens", {}).values())
    spec = ColumnSpec(
        name=name,
        kind=kind,
        storage=storage,
        nullable=null_share > 0,
        null_share=null_share,
        distinct=int(values.nunique()),
        sensitive_hint=_sensitive_name(name),
        pii_hint=_pii_name(name) and _identifying(kind, int(values.nunique()), max_categories),
        **fields,
    )
    if spec.pii_hint:
        # Never keep a personal value in the profile: the example is a placeholder of its shape.
        spec = replace(spec, shares={}, example=_placeholder(spec.shapes) if spec.shapes else None)
    unique = spec.distinct == len(values)
    return replace(spec, description=_describe(spec, role, unique))


def _storage(series: pd.Series) -> str:
    """How the column is held once read: "int", "float", "bool", "datetime" or "str"."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if not series.dropna().map(lambda value: isinstance(value, str)).all():
        raise ValueError(
            f"column {series.name!r} mixes text with other objects: read the file with pd.read_csv"
        )
    return "str"


def _kind(values: pd.Series, name: str, storage: str, role: str | None, max_categories: int) -> str:
    """The kind of a column from its non-empty values, storage and role."""
    distinct = values.nunique()
    if role == "id":
        return "id"
    if role == "target" and distinct == 2:
        return "boolean"
    if storage == "datetime" or (role == "time" and storage == "str"):
        return "datetime"
    if storage == "bool":
        return "boolean"
    if storage == "str" and _numeric_text(values):
        return _numeric_kind(_parse_numbers(values))
    if storage in ("int", "float"):
        if role is None and distinct <= 2:
            return "boolean"
        if role is None and storage == "int" and _small_codes(values):
            return "categorical"
        if role is None and distinct == len(values) and _id_name(name):
            return "id"
        return _numeric_kind(values.to_numpy(dtype=float))
    if distinct > 2 and _date_format(values) is not None:
        return "datetime"
    if distinct == 2:
        return "boolean"
    if distinct <= max_categories:
        return "categorical"
    free_form = not _shapes(values) or values.str.contains(r"\s").any()
    if distinct == len(values) and (_id_name(name) or not free_form):
        return "id"
    return "text"


def _kind_fields(
    values: pd.Series,
    kind: str,
    storage: str,
    role: str | None,
    rows: int,
    max_categories: int,
    margin: float,
) -> dict:
    """The ColumnSpec fields a column of this kind carries."""
    if kind in NUMERIC_KINDS:
        return _numeric_fields(values, kind, storage, role, rows, margin)
    if kind in ("boolean", "categorical"):
        return _category_fields(values)
    if kind == "datetime":
        return _datetime_fields(values, storage)
    if kind == "id":
        return _id_fields(values, storage)
    return _text_fields(values, max_categories)


def _numeric_fields(
    values: pd.Series, kind: str, storage: str, role: str | None, rows: int, margin: float
) -> dict:
    """Range, bounds, quantiles and decimals; for numbers held as text, the blank-like tokens."""
    fields: dict = {}
    numbers = values.to_numpy(dtype=float) if storage != "str" else _parse_numbers(values)
    if storage == "str":
        fields["tokens"] = _tokens(values, rows)
        fields["pattern"] = _numeric_text_pattern(values, fields["tokens"], numbers.min())
    numbers = numbers[np.isfinite(numbers)]
    if len(numbers) == 0:
        return fields
    integral = kind == "numeric_int"
    lo, hi = _number(numbers.min(), integral), _number(numbers.max(), integral)
    ge, le = _bounds(lo, hi, margin, integral)
    if role == "time":
        # Time runs on: a fixed upper bound would reject next month's data.
        le = None
    decimals = 0 if integral else _decimals(numbers)
    median = _number(np.round(np.median(numbers), decimals), integral)
    return {
        **fields,
        "min": lo,
        "max": hi,
        "ge": ge,
        "le": le,
        "quantiles": [float(q) for q in np.quantile(numbers, QUANTILE_LEVELS)],
        "decimals": decimals,
        "example": format_number(median, decimals) if storage == "str" else median,
    }


def _category_fields(values: pd.Series) -> dict:
    """Allowed values (sorted, as in the file) and their shares of the non-empty cells."""
    counts = values.value_counts()
    allowed = sorted(_py(value) for value in counts.index)
    shares = {value: float(counts[value] / counts.sum()) for value in allowed}
    return {"allowed": allowed, "shares": shares, "example": _py(counts.idxmax())}


def _datetime_fields(values: pd.Series, storage: str) -> dict:
    """Observed range (ISO), the file's date format and the pattern its text follows."""
    if storage == "datetime":
        fmt, parsed = "", values
    else:
        fmt = _date_format(values)
        if fmt is None:
            raise ValueError(
                f"time column {values.name!r} does not parse as dates in one format "
                f"(first value {values.iloc[0]!r})"
            )
        parsed = pd.to_datetime(values, format=fmt)
    dated = bool((parsed == parsed.dt.normalize()).all())
    middle = parsed.sort_values().iloc[len(parsed) // 2]
    fields = {
        "min": _iso(parsed.min(), dated),
        "max": _iso(parsed.max(), dated),
        "datetime_format": fmt,
        "example": middle.strftime(fmt) if fmt else _iso(middle, dated),
    }
    if storage == "str":
        padded = bool((parsed.dt.strftime(fmt) == values).all())
        fields["pattern"] = _date_pattern(fmt, padded) or _shape_pattern(_shapes(values))
    return fields


def _id_fields(values: pd.Series, storage: str) -> dict:
    """For integer ids the range (never negative if the file's are not); for text ids the shape."""
    if storage in ("int", "float"):
        lo, hi = int(values.min()), int(values.max())
        return {"min": lo, "max": hi, "ge": 0 if lo >= 0 else None, "example": lo}
    shapes = _shapes(values)
    return {
        "shapes": shapes,
        "pattern": _shape_pattern(shapes),
        "example": _placeholder(shapes) if shapes else "ID-0001",
    }


def _text_fields(values: pd.Series, max_categories: int) -> dict:
    """The shape of free text and, when a few values cover most cells, their shares."""
    shapes = _shapes(values)
    counts = values.value_counts()
    top = counts.iloc[:max_categories]
    fields: dict = {"shapes": shapes, "pattern": _shape_pattern(shapes)}
    # Repeated values (a city, a channel) are worth drawing from; unique free text is not.
    if top.sum() >= 0.5 * counts.sum():
        fields["shares"] = {str(value): float(count / top.sum()) for value, count in top.items()}
        fields["example"] = str(top.index[0])
    else:
        fields["example"] = _placeholder(shapes) if shapes else "text"
    return fields


def _small_codes(values: pd.Series) -> bool:
    """Few small non-negative integers (0-4 answers, 1-3 classes): codes more likely than amounts."""
    return values.nunique() <= INT_CODE_MAX and values.min() >= 0 and values.max() <= INT_CODE_MAX


def _numeric_text(values: pd.Series) -> bool:
    """Text whose non-empty cells are nearly all numbers (the rest blank-like tokens)."""
    if len(values) == 0 or values.dtype != object:
        return False
    is_number = values.str.strip().str.fullmatch(_NUMBER.pattern)
    return bool(is_number.any() and is_number.mean() >= NUMERIC_TEXT_SHARE)


def _parse_numbers(values: pd.Series) -> np.ndarray:
    """The numbers in a numeric text column, its tokens left out."""
    stripped = values.str.strip()
    numbers = stripped[stripped.str.fullmatch(_NUMBER.pattern)]
    return pd.to_numeric(numbers).to_numpy(dtype=float)


def _tokens(values: pd.Series, rows: int) -> dict[str, float]:
    """Share of all rows holding each non-number cell of a numeric text column."""
    others = values[~values.str.strip().str.fullmatch(_NUMBER.pattern)]
    return {str(token): float(count / rows) for token, count in others.value_counts().items()}


def _numeric_text_pattern(values: pd.Series, tokens: dict[str, float], lowest: float) -> str:
    """The regex a numeric text column's cells match: a number, or one of its tokens."""
    stripped = values.str.strip()
    numbers = stripped[stripped.str.fullmatch(_NUMBER.pattern)]
    forms = _NUMBER_FORMS[1:] if lowest < 0 else _NUMBER_FORMS
    form = next(f for f in forms if numbers.str.fullmatch(f).all())
    if all(not token.strip() for token in tokens):
        # Blanks only: churn's form, a number padded by spaces or nothing at all.
        return rf"^\s*({form})?\s*$"
    alternatives = "|".join("".join(_escape(ch) for ch in token) for token in tokens)
    return rf"^(\s*{form}\s*|{alternatives})$"


def _numeric_kind(numbers: np.ndarray) -> str:
    """numeric_int when every finite value is a whole number."""
    finite = numbers[np.isfinite(numbers)]
    return "numeric_int" if np.all(finite == np.round(finite)) else "numeric_float"


def _number(value: float, integral: bool) -> int | float:
    """A plain Python number, an int for whole-number columns."""
    return int(round(float(value))) if integral else float(value)


def _bounds(lo: float, hi: float, margin: float, integral: bool) -> tuple[int | float, int | float]:
    """The range widened by `margin` x its width on each side, rounded outward to a round step."""
    pad = margin * ((hi - lo) or max(abs(lo), 1.0))
    if pad <= 0:
        return lo, hi
    step = 10.0 ** (math.floor(math.log10(pad)) - 1)
    if integral:
        step = max(step, 1.0)
    ge = math.floor((lo - pad) / step) * step
    le = math.ceil((hi + pad) / step) * step
    if lo >= 0:
        # Counts, amounts and durations do not turn negative because the range was widened.
        ge = max(ge, 0.0)
    if integral:
        return int(ge), int(le)
    digits = max(0, -math.floor(math.log10(step)))
    return round(ge, digits), round(le, digits)


def _decimals(numbers: np.ndarray) -> int:
    """Decimal places the file uses (at most 6), so synthetic values look like the file's."""
    for digits in range(7):
        if np.allclose(np.round(numbers, digits), numbers, rtol=0.0, atol=1e-9):
            return digits
    return 6


def _date_format(values: pd.Series) -> str | None:
    """The one strftime format all values parse with, or None."""
    distinct = pd.Series(values.unique())
    if len(distinct) == 0 or not distinct.str.match(_DATE_LIKE.pattern).all():
        return None
    for dayfirst in (False, True):
        fmt = guess_datetime_format(distinct.iloc[0], dayfirst=dayfirst)
        # Offsets would need tz-aware handling throughout; such columns stay text.
        if fmt is None or "%z" in fmt or "%Z" in fmt:
            continue
        if pd.to_datetime(distinct, format=fmt, errors="coerce").notna().all():
            return fmt
    return None


def _date_pattern(fmt: str, padded: bool) -> str | None:
    """The regex text written with `fmt` matches; None for a directive it does not know."""
    pieces = _DATE_PIECES if padded else _DATE_PIECES_UNPADDED
    out, i = [], 0
    while i < len(fmt):
        if fmt[i] == "%" and i + 1 < len(fmt):
            directive = fmt[i + 1]
            if directive != "%" and directive not in pieces:
                return None
            out.append("%" if directive == "%" else pieces[directive])
            i += 2
        else:
            out.append(_escape(fmt[i]))
            i += 1
    return "^" + "".join(out) + "$"


def _iso(stamp: pd.Timestamp, dated: bool) -> str:
    """ISO text of a timestamp, the date alone when the column holds no times of day."""
    return stamp.date().isoformat() if dated else stamp.isoformat()


def _shapes(values: pd.Series) -> list[list[str]]:
    """Regex pieces of the (at most MAX_SHAPES) shapes all values share, most common first."""
    counts = values.value_counts()
    for runs_of, coarse in ((_FINE_RUNS, False), (_COARSE_RUNS, True)):
        groups: dict[tuple[str, ...], list[list[str]]] = {}
        weights: Counter[tuple[str, ...]] = Counter()
        for value, count in counts.items():
            runs = runs_of.findall(value)
            key = tuple(_run_key(run, coarse) for run in runs)
            groups.setdefault(key, []).append(runs)
            weights[key] += int(count)
            if len(groups) > MAX_SHAPES:
                break
        else:
            return [_shape_pieces(groups[key]) for key, _ in weights.most_common()]
    return []


def _run_key(run: str, coarse: bool) -> str:
    """What a run stands for in a shape: digits, letters, alphanumerics or the character itself."""
    if not (run.isascii() and run.isalnum()):
        return run
    if coarse:
        return "#w"
    return "#d" if run.isdigit() else "#a"


def _shape_pieces(members: list[list[str]]) -> list[str]:
    """One regex piece per run position of values that share a shape."""
    pieces = []
    for position in zip(*members, strict=True):
        if not (position[0].isascii() and position[0].isalnum()):
            pieces.append(_escape(position[0]))
            continue
        chars = set("".join(position))
        cls = next(c for c, alphabet in CHAR_CLASSES.items() if chars <= set(alphabet))
        lo, hi = min(map(len, position)), max(map(len, position))
        quantifier = "" if lo == hi == 1 else f"{{{lo}}}" if lo == hi else f"{{{lo},{hi}}}"
        pieces.append(cls + quantifier)
    return pieces


def _shape_pattern(shapes: list[list[str]]) -> str:
    """The anchored regex of a list of shapes ("" when there are none)."""
    bodies = ["".join(shape) for shape in shapes]
    if not bodies:
        return ""
    return f"^{bodies[0]}$" if len(bodies) == 1 else f"^({'|'.join(bodies)})$"


def _escape(ch: str) -> str:
    """A character as a regex piece, readable: only regex syntax and invisibles are escaped."""
    if ch in _REGEX_SPECIAL:
        return "\\" + ch
    if ch.isprintable():
        return ch
    return f"\\x{ord(ch):02x}" if ord(ch) < 256 else f"\\u{ord(ch):04x}"


def _placeholder(shapes: list[list[str]]) -> str:
    """An obviously made-up value in the first shape ("1234-ABCDE"), for examples."""
    out = []
    for piece in shapes[0]:
        parsed = parse_piece(piece)
        if isinstance(parsed, str):
            out.append(parsed)
        else:
            alphabet, lo, _ = parsed
            start = 1 if alphabet[0] == "0" else 0
            out.append("".join(alphabet[(start + i) % len(alphabet)] for i in range(lo)))
    return "".join(out)


def _words(name: str) -> list[str]:
    """Lower-case words of a column name, split at separators and camelCase humps."""
    return [word.lower() for word in _WORD.findall(name)]


def _sensitive_name(name: str) -> bool:
    """The name suggests a protected or sensitive attribute (sex, age, ethnicity, ...)."""
    return _name_matches(name, _SENSITIVE_WORDS, _SENSITIVE_PARTS)


def _pii_name(name: str) -> bool:
    """The name suggests personal data (an id, a name, an e-mail, a phone number, ...)."""
    return _name_matches(name, _PII_WORDS, _PII_PARTS)


def _id_name(name: str) -> bool:
    """The name suggests an identifier ("customerID", "Lead Number", "order_ref")."""
    return any(word in _ID_WORDS for word in _words(name))


def _name_matches(name: str, words: tuple[str, ...], parts: tuple[str, ...]) -> bool:
    """A word of the name is one of `words`, or starts or ends with one of `parts`."""
    found = _words(name)
    return any(word in words for word in found) or any(
        word.startswith(part) or word.endswith(part) for word in found for part in parts
    )


def _identifying(kind: str, distinct: int, max_categories: int) -> bool:
    """Values varied enough to point at a person: a yes/no "PhoneService" does not."""
    return kind in ("id", "text") or (kind in NUMERIC_KINDS and distinct > max_categories)


def _describe(spec: ColumnSpec, role: str | None, unique: bool) -> str:
    """A one-line description of what the profile saw, for the schema field."""
    text = _describe_values(spec, unique)
    if spec.tokens:
        blanks = ", ".join(f"'{token}'" for token in spec.tokens)
        text += f"; {blanks} in {_pct(sum(spec.tokens.values()))} of rows (blank-like)"
    empty = spec.null_share - sum(spec.tokens.values())
    if empty > 0:
        text += f"; empty in {_pct(empty)} of rows"
    return {"target": f"{text} (target)", "id": f"{text} (id column)"}.get(role or "", text)


def _describe_values(spec: ColumnSpec, unique: bool) -> str:
    """The part of the description that depends on the kind."""
    if spec.kind in NUMERIC_KINDS:
        held = "numeric stored as text" if spec.storage == "str" else "numeric"
        if spec.min is None:
            return f"{held}, always empty"
        lo, hi = (format_number(v, spec.decimals) for v in (spec.min, spec.max))
        return f"{held}, observed {lo} to {hi}"
    if spec.kind in ("boolean", "categorical") and spec.shares:
        if len(spec.shares) == 1:
            return f"constant: always {_show(spec.allowed[0])}"
        if len(spec.shares) == 2:
            return " or ".join(f"{_show(v)} ({_pct(s)})" for v, s in spec.shares.items())
        top = max(spec.shares, key=lambda value: spec.shares[value])
        return f"{len(spec.shares)} values, most often {_show(top)} ({_pct(spec.shares[top])})"
    if spec.kind == "datetime":
        held = f", as {spec.datetime_format}" if spec.datetime_format else ""
        return f"date/time, observed {spec.min} to {spec.max}{held}"
    if spec.kind == "id":
        return "unique per row" if unique else f"{spec.distinct:,} distinct values"
    return f"text, {spec.distinct:,} distinct values"


def _show(value: Value) -> str:
    """A value as a description shows it: text in single quotes, numbers bare."""
    return f"'{value}'" if isinstance(value, str) else str(value)


def _pct(share: float) -> str:
    """A share as a percentage with one decimal ("26.5 %"), never rounded to 0 or 100."""
    if 0 < share < 0.001:
        return "<0.1 %"
    if 0.999 < share < 1:
        return ">99.9 %"
    return f"{100 * share:.1f} %"


def _py(value: object) -> Value:
    """A plain Python value for numpy scalars, so the profile serialises to JSON."""
    return value.item() if isinstance(value, np.generic) else value  # type: ignore[return-value]


def schema_source(spec: FileSpec, class_name: str = "RawSchema") -> str:
    """Python source of schema.py: a pandera DataFrameModel the profiled file validates against."""
    if not class_name.isidentifier() or keyword.iskeyword(class_name):
        raise ValueError(f"class name {class_name!r} is not a Python identifier")
    lists = _value_lists(spec)
    attrs = _attribute_names(spec, set(lists.values()) | {class_name})
    fields = [
        line for col in spec.columns for line in _field_lines(col, attrs[col.name], spec, lists)
    ]
    return "\n".join(
        [
            *_module_head(spec),
            "",
            *_module_constants(spec),
            *([""] if lists else []),
            *[f"{name} = {_list_literal(values)}" for values, name in lists.items()],
            "",
            "",
            f"class {class_name}(pa.DataFrameModel):",
            f'    """{_row_meaning(spec)}"""',
            "",
            "    # fmt: off",
            *fields,
            "    # fmt: on",
            "",
            "    class Config:",
            "        strict = True",
            "        coerce = False",
            "",
        ]
    )


def _module_head(spec: FileSpec) -> list[str]:
    """Module docstring and imports."""
    imports = ["import pandas as pd"] if any(c.storage == "datetime" for c in spec.columns) else []
    return [
        '"""What arrives, in training and in the service: the columns of the team\'s file, profiled.',
        "",
        f"Written by pilotpack's scaffold from a file of {spec.rows:,} rows. Bounds are the observed",
        f"ranges widened by {100 * spec.margin:g} % of the range on each side. Lines marked `# ADAPT:`",
        "need a human decision.",
        '"""',
        "",
        *imports,
        "import pandera.pandas as pa",
        "from pandera.typing import Series",
    ]


def _module_constants(spec: FileSpec) -> list[str]:
    """TARGET, POSITIVE_LABEL, ID_COLUMN, TIME_COLUMN and LEAKY_COLUMNS, as the templates name them."""
    lines = [f"TARGET = {_literal(spec.target)}"]
    if spec.task_hint == "binary":
        lines.append(f"POSITIVE_LABEL = {_literal(spec.positive_label)}")
    else:  # the templates import it for every task; a number has no positive label
        lines.append("POSITIVE_LABEL = 1  # unused: UseCase's default")
    for constant, value in (("ID_COLUMN", spec.id_column), ("TIME_COLUMN", spec.time_column)):
        lines.append(
            f"{constant} = {_literal(value)}" if value else f"{constant}: str | None = None"
        )
    leaky = [f"    {_literal(name)},  # {LEAKY_REASON}" for name in spec.leaky]
    return [
        *lines,
        "# ADAPT: the columns known only after the outcome (they would leak it), each with why.",
        *(["LEAKY_COLUMNS: tuple[str, ...] = (", *leaky, ")"] if leaky else []),
        *([] if leaky else ["LEAKY_COLUMNS: tuple[str, ...] = ()"]),
    ]


def _row_meaning(spec: FileSpec) -> str:
    """The class docstring: what one row stands for."""
    # Column names go into a docstring: no backslash or double quote may end it early.
    clean = {
        n: str(n).replace("\\", "/").replace('"', "'") for n in (spec.id_column, spec.time_column)
    }
    if spec.id_column and spec.column(spec.id_column).distinct == spec.rows:
        return f"One row per {clean[spec.id_column]}."
    if spec.id_column and spec.time_column:
        return f"One row per {clean[spec.id_column]} and {clean[spec.time_column]}."
    return "One row of the file."


def _value_lists(spec: FileSpec) -> dict[tuple[Value, ...], str]:
    """Names for value lists several columns share, as the templates do with YES_NO."""
    counts = Counter(tuple(c.allowed) for c in spec.columns if _uses_isin(c))
    names: dict[tuple[Value, ...], str] = {}
    for values, count in counts.items():
        if count < 2:
            continue
        first = next(c.name for c in spec.columns if _uses_isin(c) and tuple(c.allowed) == values)
        name = _list_name(values, first)
        while name in names.values() or name in _MODULE_NAMES:
            name += "_"
        names[values] = name
    return names


def _list_name(values: tuple[Value, ...], first_column: str) -> str:
    """A constant's name: FLAG for 0/1, the values themselves when short (NO_YES), else COLUMN_VALUES."""
    if values == (0, 1):
        return "FLAG"
    joined = "_".join(_upper_slug(str(v)) for v in values)
    if all(isinstance(v, str) for v in values) and len(joined) <= 20 and joined.isidentifier():
        return joined
    return f"{_upper_slug(first_column)}_VALUES"


def _upper_slug(text: str) -> str:
    """UPPER_SNAKE words of a text ("No internet service" -> "NO_INTERNET_SERVICE")."""
    slug = "_".join(word.upper() for word in _WORD.findall(text)) or "VALUE"
    return slug if not slug[0].isdigit() else f"V_{slug}"


def _uses_isin(col: ColumnSpec) -> bool:
    """The schema checks this column against a closed list of values."""
    return col.kind in ("boolean", "categorical") and col.storage != "bool" and bool(col.allowed)


@cache
def _reserved_attributes() -> frozenset[str]:
    """Names a field cannot take: pandera's own, and the module names used in the class body."""
    import pandera.pandas as pa  # imported here so that profiling stays light

    return frozenset(dir(pa.DataFrameModel)) | {"pa", "pd", "Series", *_MODULE_NAMES}


def _attribute_names(spec: FileSpec, taken: set[str]) -> dict[str, str]:
    """A Python attribute per column: the file's name where it is one, else a snake_case slug."""
    reserved = _reserved_attributes() | taken
    names = {
        col.name: col.name
        for col in spec.columns
        if col.name.isidentifier()
        and not keyword.iskeyword(col.name)
        and not col.name.startswith("_")
        and col.name not in reserved
    }
    used = set(names.values()) | reserved
    for col in spec.columns:
        if col.name in names:
            continue
        slug = re.sub(r"[^0-9a-zA-Z]+", "_", col.name).strip("_").lower() or "column"
        slug = f"col_{slug}" if slug[0].isdigit() else slug
        candidate, suffix = slug, 2
        while candidate in used or keyword.iskeyword(candidate):
            candidate, suffix = f"{slug}_{suffix}", suffix + 1
        names[col.name] = candidate
        used.add(candidate)
    return names


def _field_lines(
    col: ColumnSpec, attr: str, spec: FileSpec, lists: dict[tuple[Value, ...], str]
) -> list[str]:
    """The `# ADAPT:` comment (when a human must decide) and the one-line field of a column."""
    args = [f"alias={_literal(col.name)}"] if attr != col.name else []
    args += _checks(col, lists)
    unused = _unused_note(col.name, spec)
    if col.nullable or unused:  # a column the model never reads may be left out of a request
        args.append("nullable=True")
    args.append(f"description={_literal(col.description + unused)}")
    metadata = _metadata(col, is_target=col.name == spec.target)
    if metadata:
        args.append(f"metadata={metadata}")
    line = f"    {attr}: Series[{_SCHEMA_TYPES[col.storage]}] = pa.Field({', '.join(args)})"
    return [f"    # ADAPT: {note}." for note in _adapt_notes(col, spec)] + [line]


def _unused_note(name: str, spec: FileSpec) -> str:
    """The description's tail for a column the model never reads; "" for the others."""
    if name in spec.leaky:
        return f"; {LEAKY_REASON}: not read by the model, may be omitted"
    if name in spec.dropped:
        return "; dropped (pilotpack new --drop): not read by the model, may be omitted"
    return ""


def _checks(col: ColumnSpec, lists: dict[tuple[Value, ...], str]) -> list[str]:
    """The pandera checks of a field: a closed list, bounds, or the pattern its text follows."""
    if _uses_isin(col):
        return [f"isin={lists.get(tuple(col.allowed)) or _list_literal(tuple(col.allowed))}"]
    if col.storage == "str":
        if col.pattern:
            return [f"str_matches={_regex_literal(col.pattern)}"]
        return ['str_length={"min_value": 1}']
    checks = []
    if col.storage in ("int", "float") and col.ge is not None:
        checks.append(f"ge={_literal(col.ge)}")
    if col.storage in ("int", "float") and col.le is not None:
        checks.append(f"le={_literal(col.le)}")
    return checks


def _metadata(col: ColumnSpec, is_target: bool) -> str:
    """The metadata dict literal: an example (not for the target) and the hints."""
    items = []
    if col.example is not None and not is_target:
        items.append(f'"example": {_literal(col.example)}')
    if col.sensitive_hint:
        items.append('"sensitive": True')
    if col.pii_hint:
        items.append('"pii": True')
    return "{" + ", ".join(items) + "}" if items else ""


def _adapt_notes(col: ColumnSpec, spec: FileSpec) -> list[str]:
    """The decisions a human must make about this column, if any."""
    notes = []
    role = {spec.target: "target", spec.id_column: "id", spec.time_column: "time"}.get(col.name)
    if col.kind in NUMERIC_KINDS and col.storage != "str" and col.le is not None:
        lo, hi = (format_number(v, col.decimals) for v in (col.min, col.max))
        notes.append(
            f"bounds are the observed {lo} to {hi} widened; set the range that is possible"
        )
    if col.tokens:
        notes.append("numbers held as text with blank-like cells: decide what a blank means")
    if col.kind == "categorical" and col.storage == "int" and role is None:
        notes.append("integer codes: keep isin if they name categories, use ge/le for a quantity")
    elif col.kind == "categorical" and len(col.allowed) == 1:
        notes.append("constant in the file: drop it unless your data varies")
    elif col.kind == "categorical" and role is None:
        notes.append(
            f"closed list of the {len(col.allowed)} values seen; if new ones can appear, "
            'use str_length={"min_value": 1}'
        )
    if col.kind == "text" and role is None:
        notes.append("free text: encode it in features.py, or leave it out of the model")
    if col.sensitive_hint:
        notes.append("sensitive attribute: decide whether the model may use it (fairness, law)")
    if col.pii_hint:
        notes.append("personal data: keep it out of the features and the logs")
    return notes


def _literal(value: Value | None) -> str:
    """Python source of a plain value, text in double quotes as ruff formats it."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value} cannot be written into a schema")
    return repr(value)


def _list_literal(values: tuple[Value, ...]) -> str:
    """Python source of a list of plain values."""
    return "[" + ", ".join(_literal(v) for v in values) + "]"


def _regex_literal(pattern: str) -> str:
    """A regex as a raw string when it can be one, so it reads as the regex itself."""
    if '"' in pattern or pattern.endswith("\\") or not pattern.isprintable():
        return _literal(pattern)
    return f'r"{pattern}"'
