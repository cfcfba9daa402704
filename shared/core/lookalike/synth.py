"""Seeded look-alike rows of a profiled file, in its raw format, with a target a model can learn.

Each column is drawn on its own from the profile (quantiles, shares, shapes, ranges). The
target is then made from up to six of them through a random linear signal, so that a model
trained on these rows has something to find, as it would on the team's real file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from shared.core.lookalike.spec import (
    NUMERIC_KINDS,
    QUANTILE_LEVELS,
    ColumnSpec,
    FileSpec,
    format_number,
    parse_piece,
)

SIGNAL_COLUMNS = 6
# Spread of the signal against the logistic noise (sd 1.8): a fitted model reaches a ROC AUC
# near 0.8, like a first pilot on real data, rather than a perfect score that flatters any model.
SIGNAL_SD = 2.0
# Share of a regression target's variance that the signal explains.
SIGNAL_R2 = 0.6


@dataclass
class _Drawn:
    """A drawn column: its raw cells, and the values the signal reads (None: not a signal input)."""

    raw: np.ndarray
    latent: np.ndarray | None = None


def make_synthetic_from_spec(spec: FileSpec, n: int, seed: int) -> pd.DataFrame:
    """`n` seeded rows in the file's raw format; the same seed always gives the same frame."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    rng = np.random.default_rng(seed)
    drawn = {col.name: _draw(col, spec, n, rng) for col in spec.columns if col.name != spec.target}
    signal = _signal(spec, drawn, n, rng)
    target = spec.column(spec.target)
    if spec.task_hint == "binary":
        drawn[spec.target] = _Drawn(_binary_target(target, spec.positive_label, signal, rng))
    else:
        drawn[spec.target] = _Drawn(_regression_target(target, signal, rng))
    return pd.DataFrame({col.name: drawn[col.name].raw for col in spec.columns})


def _draw(col: ColumnSpec, spec: FileSpec, n: int, rng: np.random.Generator) -> _Drawn:
    """One column drawn from its profile."""
    is_time = col.name == spec.time_column
    if col.kind in NUMERIC_KINDS:
        return _draw_numeric(col, n, rng, is_time)
    if col.kind in ("boolean", "categorical"):
        return _draw_category(col, n, rng)
    if col.kind == "datetime":
        return _draw_datetime(col, n, rng, is_time)
    if col.kind == "id":
        return _draw_id(col, spec.rows, n, rng)
    return _draw_text(col, n, rng)


def _draw_numeric(col: ColumnSpec, n: int, rng: np.random.Generator, is_time: bool) -> _Drawn:
    """Inverse-CDF draws through the stored quantiles, rounded like the file; blanks where it has them."""
    if not col.quantiles:
        return _Drawn(np.full(n, np.nan, dtype=float if col.storage != "str" else object))
    numbers = _from_quantiles(col, rng.random(n))
    if is_time:
        numbers = np.sort(numbers)
    cells = np.full(n, np.nan, dtype=object)
    order = rng.permutation(n)
    start = 0
    # Blank-like tokens first, then empty cells, each at its share of the file's rows.
    for token, share in col.tokens.items():
        count = round(share * n)
        cells[order[start : start + count]] = token
        start += count
    start += round((col.null_share - sum(col.tokens.values())) * n)
    latent = numbers.astype(float)
    latent[order[:start]] = np.nan
    if col.storage == "int":
        return _Drawn(numbers.astype(np.int64), latent)
    if col.storage == "float":
        return _Drawn(latent.copy(), latent)
    filled = order[start:]
    cells[filled] = [format_number(value, col.decimals) for value in numbers[filled]]
    return _Drawn(cells, latent)


def _from_quantiles(col: ColumnSpec, uniform: np.ndarray) -> np.ndarray:
    """Values at the given cumulative probabilities, clipped to the observed range and rounded."""
    numbers = np.clip(np.interp(uniform, QUANTILE_LEVELS, col.quantiles), col.min, col.max)
    return np.rint(numbers) if col.kind == "numeric_int" else np.round(numbers, col.decimals)


def _draw_category(col: ColumnSpec, n: int, rng: np.random.Generator) -> _Drawn:
    """Values drawn at the file's shares; empty cells at its share."""
    shares = np.array([col.shares.get(value, 0.0) for value in col.allowed], dtype=float)
    picks = rng.choice(len(col.allowed), size=n, p=shares / shares.sum())
    missing = _empty_positions(col.null_share, n, rng)
    latent = np.array(col.allowed, dtype=object)[picks]
    latent[missing] = None
    if col.storage in ("int", "bool"):
        return _Drawn(
            np.array(col.allowed, dtype=np.int64 if col.storage == "int" else bool)[picks], latent
        )
    raw = latent.astype(float) if col.storage == "float" else latent.copy()
    raw[missing] = np.nan
    return _Drawn(raw, latent)


def _draw_datetime(col: ColumnSpec, n: int, rng: np.random.Generator, is_time: bool) -> _Drawn:
    """Times spread evenly over the observed range, at the file's resolution, sorted for the time column."""
    lo, hi = pd.Timestamp(col.min), pd.Timestamp(col.max)
    stamps = pd.to_datetime(lo.value + (rng.random(n) * (hi.value - lo.value)).astype(np.int64))
    # A date-only column (its ISO range has no "T") stays on whole days.
    stamps = stamps.floor("D" if "T" not in str(col.min) else "s")
    if is_time:
        stamps = stamps.sort_values()
    missing = _empty_positions(col.null_share, n, rng)
    if col.storage == "datetime":
        raw = stamps.to_numpy().copy()
        raw[missing] = np.datetime64("NaT")
        return _Drawn(raw)
    raw = np.array(stamps.strftime(col.datetime_format), dtype=object)
    raw[missing] = np.nan
    return _Drawn(raw)


def _draw_id(col: ColumnSpec, file_rows: int, n: int, rng: np.random.Generator) -> _Drawn:
    """Unique ids in the file's shape; repeated as often as in the file when ids repeat there."""
    filled_rows = max(1, round(file_rows * (1.0 - col.null_share)))
    count = n if col.distinct >= filled_rows else max(1, round(n * col.distinct / filled_rows))
    if col.storage in ("int", "float"):
        ids = int(col.min or 0) + np.arange(count, dtype=np.int64)
        ids = ids.astype(float) if col.storage == "float" else ids
    elif col.shapes:
        ids = _unique_strings(col.shapes[0], count, rng)
    else:
        ids = np.array([f"ID-{i:0{len(str(count))}d}" for i in range(1, count + 1)], dtype=object)
    # Where the file repeats ids (readings per asset), each id gets its turn, round robin.
    return _Drawn(ids[np.arange(n) % count])


def _draw_text(col: ColumnSpec, n: int, rng: np.random.Generator) -> _Drawn:
    """The file's frequent values at their shares, else strings of its shape; empty cells at its share."""
    if col.shares:
        values = np.array(list(col.shares), dtype=object)
        shares = np.array(list(col.shares.values()), dtype=float)
        raw = values[rng.choice(len(values), size=n, p=shares / shares.sum())]
    elif col.shapes:
        raw = _fill_shape(col.shapes[0], n, rng)
    else:
        raw = np.array([f"text {i}" for i in range(n)], dtype=object)
    raw[_empty_positions(col.null_share, n, rng)] = np.nan
    return _Drawn(raw)


def _empty_positions(share: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """Row positions to leave empty: the file's share of `n`, at random."""
    return rng.permutation(n)[: round(share * n)]


def _fill_shape(shape: list[str], n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` random strings of one shape (its regex pieces), as an object array."""
    out = np.full(n, "", dtype=object)
    for piece in shape:
        parsed = parse_piece(piece)
        if isinstance(parsed, str):
            out = out + parsed
            continue
        alphabet, lo, hi = parsed
        chars = np.array(list(alphabet))[rng.integers(0, len(alphabet), size=(n, hi))]
        joined = np.ascontiguousarray(chars).view(f"<U{hi}").ravel().astype(object)
        if lo != hi:
            lengths = rng.integers(lo, hi + 1, size=n)
            joined = np.array(
                [text[:size] for text, size in zip(joined, lengths, strict=True)], dtype=object
            )
        out = out + joined
    return out


def _unique_strings(shape: list[str], n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` distinct random strings of one shape."""
    out = _fill_shape(shape, n, rng)
    for _ in range(100):
        repeated = pd.Series(out).duplicated().to_numpy()
        if not repeated.any():
            return out
        out[repeated] = _fill_shape(shape, int(repeated.sum()), rng)
    raise ValueError(f"the id shape {''.join(shape)!r} is too narrow for {n} distinct ids")


def _signal(
    spec: FileSpec, drawn: dict[str, _Drawn], n: int, rng: np.random.Generator
) -> np.ndarray:
    """A random linear signal of up to SIGNAL_COLUMNS drawn columns, centred, with sd SIGNAL_SD."""
    roles = {spec.target, spec.id_column, spec.time_column, *spec.leaky, *spec.dropped}
    candidates = [
        col
        for col in spec.columns
        if col.name not in roles
        and not col.pii_hint
        and not col.sensitive_hint  # not a model input (new.py): a label from it is unlearnable
        and drawn[col.name].latent is not None
        and pd.Series(drawn[col.name].latent).nunique() >= 2
    ]
    chosen = sorted(rng.permutation(len(candidates))[:SIGNAL_COLUMNS])
    total = np.zeros(n)
    for index in chosen:
        col = candidates[index]
        total += _contribution(col, drawn[col.name].latent, rng)
    spread = total.std()
    return (total - total.mean()) / spread * SIGNAL_SD if spread > 0 else total


def _contribution(col: ColumnSpec, latent: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One column's part of the signal: a random slope on its z-score, or a random effect per value."""
    if col.kind in NUMERIC_KINDS:
        z = (latent - np.nanmean(latent)) / (np.nanstd(latent) or 1.0)
        slope = rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.5)
        return np.nan_to_num(slope * z, nan=0.0)
    effects = dict(zip(col.allowed, rng.normal(0.0, 1.0, len(col.allowed)), strict=True))
    return np.array([effects.get(value, 0.0) for value in latent])


def _binary_target(
    col: ColumnSpec, positive: object, signal: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Labels from signal + logistic noise; the top cut is the intercept that gives the file's rate."""
    n = len(signal)
    count = round(col.shares[positive] * n)
    if n >= 2:
        # Both classes present, or the synthetic file would fail the constant-target check.
        count = min(max(count, 1), n - 1)
    ranked = np.argsort(-(signal + rng.logistic(size=n)), kind="stable")
    is_positive = np.zeros(n, dtype=bool)
    is_positive[ranked[:count]] = True
    negative = next(value for value in col.allowed if value != positive)
    labels = np.array([negative, positive], dtype=object)[is_positive.astype(int)]
    if col.storage == "int":
        return labels.astype(np.int64)
    return labels.astype({"float": float, "bool": bool}.get(col.storage, object))


def _regression_target(col: ColumnSpec, signal: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Signal + noise, mapped by rank onto the target's quantiles so its distribution is the file's."""
    n = len(signal)
    mixed = signal / SIGNAL_SD * np.sqrt(SIGNAL_R2) + rng.normal(size=n) * np.sqrt(1 - SIGNAL_R2)
    ranks = np.argsort(np.argsort(mixed, kind="stable"), kind="stable")
    values = _from_quantiles(col, (ranks + 0.5) / n)
    if col.storage == "int":
        return values.astype(np.int64)
    if col.storage == "str":
        return np.array([format_number(value, col.decimals) for value in values], dtype=object)
    return values
