"""A profiled file (FileSpec) and the look-alike data drawn from it: what a fork made by
`pilotpack new` trains on before it sees real rows. Profiling a file and writing its schema
live in shared/app/scaffold (the command); the spec and the generators live here, below the
use cases that call them."""

from __future__ import annotations

import json
import re
import string
from dataclasses import asdict, dataclass, field

import numpy as np

Value = str | int | float | bool


NUMERIC_KINDS = ("numeric_int", "numeric_float")


QUANTILE_LEVELS = np.linspace(0.0, 1.0, 21)


# Smallest first: a run of characters gets the first class that holds all of them.
CHAR_CLASSES: dict[str, str] = {
    r"\d": string.digits,
    "[A-Z]": string.ascii_uppercase,
    "[a-z]": string.ascii_lowercase,
    "[0-9a-f]": string.digits + "abcdef",
    "[0-9A-F]": string.digits + "ABCDEF",
    "[A-Za-z]": string.ascii_letters,
    "[0-9A-Z]": string.digits + string.ascii_uppercase,
    "[0-9a-z]": string.digits + string.ascii_lowercase,
    "[0-9A-Za-z]": string.digits + string.ascii_letters,
}


@dataclass
class ColumnSpec:
    """One column of the file as profiled: its kind, range, values and hints."""

    name: str
    kind: str  # numeric_int | numeric_float | categorical | boolean | datetime | id | text
    storage: str  # its dtype once read: "int", "float", "str", "bool" or "datetime"
    nullable: bool = False
    null_share: float = 0.0  # empty cells plus blank-like tokens, over all rows
    distinct: int = 0
    allowed: list[Value] = field(default_factory=list)
    shares: dict[Value, float] = field(default_factory=dict)  # over the non-empty cells
    min: float | str | None = None
    max: float | str | None = None
    ge: float | None = None
    le: float | None = None
    quantiles: list[float] = field(default_factory=list)
    decimals: int = 0
    tokens: dict[str, float] = field(default_factory=dict)  # non-numbers in numeric text
    pattern: str = ""  # the regex the schema checks text against; "" = any non-empty text
    shapes: list[list[str]] = field(default_factory=list)  # regex pieces the generator fills
    datetime_format: str = ""
    example: Value | None = None
    sensitive_hint: bool = False
    pii_hint: bool = False
    description: str = ""


@dataclass
class FileSpec:
    """A profiled file: its columns, size, roles and the learning task its target implies."""

    columns: list[ColumnSpec]
    rows: int
    target: str
    id_column: str | None
    time_column: str | None
    positive_label: Value | None
    task_hint: str  # "binary" or "regression"
    margin: float = 0.5
    # Columns the model never reads: known only after the outcome, or dropped by the team.
    # The schema keeps them (the file has them), requests may omit them, no synthetic signal.
    leaky: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    def column(self, name: str) -> ColumnSpec:
        """The spec of column `name`."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)


def format_number(value: float, decimals: int) -> str:
    """A number as a file writes it: no exponent, no trailing zeros ("1889.5", "29.85", "72")."""
    return np.format_float_positional(round(float(value), decimals), trim="-")


def parse_piece(piece: str) -> str | tuple[str, int, int]:
    """A shape piece as (alphabet, min length, max length), or the literal character it is."""
    match = re.fullmatch(r"(\\d|\[[^\]]+\])(?:\{(\d+)(?:,(\d+))?\})?", piece)
    if match:
        lo = int(match.group(2) or 1)
        return CHAR_CLASSES[match.group(1)], lo, int(match.group(3) or lo)
    if piece.startswith(("\\x", "\\u")):
        return chr(int(piece[2:], 16))
    return piece[-1]


def spec_to_json(spec: FileSpec) -> str:
    """The profile as JSON text (profile.json of a generated use-case folder)."""
    return json.dumps(asdict(spec), indent=2, ensure_ascii=False, allow_nan=False)


def spec_from_json(text: str) -> FileSpec:
    """A FileSpec back from spec_to_json's text."""
    data = json.loads(text)
    columns = [_column_from_dict(column) for column in data.pop("columns")]
    return FileSpec(columns=columns, **data)


def _column_from_dict(data: dict) -> ColumnSpec:
    """A ColumnSpec from its JSON form; share keys get their file type back (0, not "0")."""
    # JSON object keys are always text: map them back through the allowed values.
    keys = {v if isinstance(v, str) else json.dumps(v): v for v in data.get("allowed", [])}
    shares = {keys.get(key, key): share for key, share in data.get("shares", {}).items()}
    return ColumnSpec(**{**data, "shares": shares})
