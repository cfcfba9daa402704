"""The simulated world: the truth the pilot's decisions are checked against.

Traffic comes from the use case's own synthetic generator, whose outcome column is drawn
from a known probability given the inputs. On top of it, by construction:

- covariate drift: from a chosen day, rows are drawn from a large pool with weights that
  favour high values of one numeric model input (the link to the outcome is unchanged);
- concept drift: from a chosen day, the outcome of the rows where one categorical model
  input takes its most common value is flipped (the inputs are unchanged);
- an intervention that works: units answered by the challenger see their positive outcome
  rate moved by a planned absolute effect (for churn, fewer churners);
- outcomes that arrive a fixed number of days after the prediction.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

POOL = 8  # a drifted day is drawn from POOL x its size of fresh rows


@dataclass(frozen=True)
class Concept:
    """Which rows a concept drift flips: `column == value`."""

    column: str
    value: Any


def ids(raw: pd.DataFrame, column: str, prefix: str) -> list[Any]:
    """Unique ids for the rows of one simulated day: `prefix` + row number, or for a numeric
    id column a number block of its own per prefix (CRC-32 of it, times 100,000)."""
    if pd.api.types.is_numeric_dtype(raw[column]):
        block = zlib.crc32(prefix.encode()) * 100_000
        return [block + i + 1 for i in range(len(raw))]
    return [f"{prefix}{i:05d}" for i in range(len(raw))]


def fresh(uc: Any, n: int, seed: int, prefix: str) -> pd.DataFrame:
    """`n` rows of the generator with unique ids so the same entity never appears on two
    days by chance."""
    raw = uc.make_synthetic(n, seed).reset_index(drop=True)
    if uc.id_column and uc.id_column in raw.columns:
        raw[uc.id_column] = ids(raw, uc.id_column, prefix)
    return raw


def configured(uc: Any) -> Any:
    """The use case with its config's settings applied: its model inputs as served."""
    return uc.with_config(uc.load_config())


def features_of(uc: Any, raw: pd.DataFrame) -> dict[str, np.ndarray]:
    """The model inputs of raw rows, as the service builds them."""
    return {k: np.asarray(v) for k, v in dict(configured(uc).build_features(raw)).items()}


def drift_column(uc: Any, raw: pd.DataFrame) -> str:
    """The numeric model input whose values are shifted: the one with the most distinct
    values (a continuous input shows a shift in every decile)."""
    features = features_of(uc, raw)
    numeric = [c for c in configured(uc).numeric_features if c in features]
    if not numeric:
        raise ValueError(f"{uc.name}: no numeric model input to shift")
    return max(numeric, key=lambda c: pd.Series(features[c]).nunique())


def shifted(uc: Any, n: int, seed: int, prefix: str, strength: float = 2.0) -> pd.DataFrame:
    """`n` rows drawn from a pool with weight exp(strength * rank) on the drift column's
    model input: the same generator (the same link to the outcome), other inputs."""
    pool = fresh(uc, POOL * n, seed, prefix)
    values = pd.Series(features_of(uc, pool)[drift_column(uc, pool)])
    rank = pd.to_numeric(values, errors="coerce").rank(pct=True).fillna(0.5).to_numpy()
    weight = np.exp(strength * rank)
    rng = np.random.default_rng([seed, 0x5EED])  # not the pool generator's stream
    rows = rng.choice(len(pool), size=n, replace=False, p=weight / weight.sum())
    out = pool.iloc[np.sort(rows)].reset_index(drop=True)
    if uc.id_column and uc.id_column in out.columns:
        out[uc.id_column] = ids(out, uc.id_column, prefix)
    return out


def concept_of(uc: Any, raw: pd.DataFrame) -> Concept:
    """The categorical model input and value a concept drift flips on: the pair whose share
    of rows is closest to one half (flipping half the outcomes changes the link a lot)."""
    features = features_of(uc, raw)
    cats = [c for c in configured(uc).categorical_features if c in features]
    if not cats:
        raise ValueError(f"{uc.name}: no categorical model input for a concept drift")
    shares = [
        (abs(share - 0.5), col, value)
        for col in cats
        for value, share in pd.Series(features[col]).value_counts(normalize=True).items()
    ]
    _, col, value = min(shares, key=lambda t: t[0])
    return Concept(col, value)


def truth(uc: Any, raw: pd.DataFrame) -> np.ndarray:
    """The outcome (1/0) the generator drew for each row."""
    return np.asarray(uc.labels(raw), dtype=np.float64)


def with_concept(uc: Any, y: np.ndarray, raw: pd.DataFrame, concept: Concept | None) -> np.ndarray:
    """Outcomes under the drifted concept: flipped where the model input `column == value`."""
    if concept is None:
        return y
    hit = features_of(uc, raw)[concept.column] == concept.value
    return np.where(hit, 1.0 - y, y)


def treated(y: np.ndarray, effect: float, base_rate: float, seed: int) -> np.ndarray:
    """Outcomes of units the treatment reached: the positive rate moved by `effect`
    (absolute; negative: fewer positives) by flipping a random share of them."""
    # a stream of its own: the generator's first draws with the same seed pick the inputs that
    # drive the outcome (churn's contract), which would bias whom the treatment reaches
    rng = np.random.default_rng([seed, 0x7E47])
    if effect < 0:  # remove positives: P(1) = base (1 - q) = base + effect
        q = -effect / base_rate
        return np.where((y == 1) & (rng.random(len(y)) < q), 0.0, y)
    q = effect / (1 - base_rate)  # add positives among the negatives
    return np.where((y == 0) & (rng.random(len(y)) < q), 1.0, y)


def relabelled(uc: Any, raw: pd.DataFrame, y: np.ndarray) -> pd.DataFrame:
    """`raw` with its target column rewritten to the outcomes `y` (1/0), in the column's own
    encoding ("Yes"/"No", 1/0): what a team's next data export would hold."""
    current = truth(uc, raw)
    pos = raw[uc.target][current == 1]
    neg = raw[uc.target][current == 0]
    if pos.empty or neg.empty:
        raise ValueError(f"{uc.name}: the generator gave one class only")
    out = raw.copy()
    out[uc.target] = np.where(y == 1, pos.iloc[0], neg.iloc[0])
    out[uc.target] = out[uc.target].astype(raw[uc.target].dtype)
    return out


def records(uc: Any, raw: pd.DataFrame) -> list[dict[str, Any]]:
    """Request records (JSON values, NaN as null) of raw rows, the target left out."""
    inputs = raw.drop(columns=[uc.target])
    frame = inputs.astype(object).where(inputs.notna(), None)
    return [
        {k: v.item() if isinstance(v, np.generic) else v for k, v in r.items()}
        for r in frame.to_dict("records")
    ]
