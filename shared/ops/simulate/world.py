"""The simulated world: the truth the pilot's decisions are checked against.

Traffic comes from the use case's own synthetic generator, whose outcome column is drawn
from a known probability given the inputs. On top of it, by construction:

- covariate drift: from a chosen day, rows are drawn from a large pool with weights that
  favour high values of one numeric model input (the link to the outcome is unchanged);
- concept drift: from a chosen day, on the rows where one categorical model input takes a
  given value, the positives become negatives and as many of the slice's negatives become
  positives (the inputs and the base rate are unchanged, so a rare-event use case's own
  label-rate gate is not what the scenario tests);
- an intervention that works: units answered by the challenger see their positive outcome
  rate moved by a planned absolute effect (for churn, fewer churners);
- outcomes that arrive a fixed number of days after the prediction.

Every day of traffic, drifted or not, is a random sample of a long run of the generator
(`POOL_ROWS`): a generator with slow random walks (maintenance's temperatures) gives
consecutive rows that cover only part of their range, which a drift check rightly flags.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

POOL = 8  # a drifted day is drawn from POOL x its size of fresh rows
# rows of the generator's run that one day's traffic is sampled from: enough stretches of a
# slow random walk that a 600-record day is drawn like the training rows (its PSI against
# them measured below 0.1 on maintenance, where 600 consecutive rows reach 0.28)
POOL_ROWS = 20_000


@dataclass(frozen=True)
class Concept:
    """Which rows a concept drift changes, `column == value`, and the numeric model input
    `by` whose highest values carry the positives there after the change."""

    column: str
    value: Any
    by: str | None = None  # None: the new positives are drawn at random


def ids(raw: pd.DataFrame, column: str, prefix: str) -> list[Any]:
    """Unique ids for the rows of one simulated day: `prefix` + row number, or for a numeric
    id column a number block of its own per prefix (CRC-32 of it, times 100,000)."""
    if pd.api.types.is_numeric_dtype(raw[column]):
        block = zlib.crc32(prefix.encode()) * 100_000
        return [block + i + 1 for i in range(len(raw))]
    return [f"{prefix}{i:05d}" for i in range(len(raw))]


def fresh(uc: Any, n: int, seed: int, prefix: str) -> pd.DataFrame:
    """`n` rows of the generator, sampled from a run of up to POOL_ROWS rows (at most 40 per
    row kept: a small request needs no long run), with unique ids so the same entity never
    appears on two days by chance."""
    pool = max(n, min(POOL_ROWS, 40 * n))
    raw = uc.make_synthetic(pool, seed).reset_index(drop=True)
    if pool > n:
        rng = np.random.default_rng([seed, 0xDA7])  # not the generator's stream
        raw = raw.iloc[np.sort(rng.choice(pool, size=n, replace=False))].reset_index(drop=True)
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
    """The categorical model input and value a concept drift changes the link on: the pair
    whose share of rows is closest to one half (a change on half the rows is a large one)."""
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
    return Concept(col, value, unrelated_column(uc, raw))


def unrelated_column(uc: Any, raw: pd.DataFrame) -> str:
    """The numeric model input (of at least 20 distinct values) least related to the outcome:
    the smallest spread of the outcome rate across its deciles (a U-shaped link, such as
    maintenance's power, has no rank correlation but a large spread). Positives moved to its
    highest values are a link the champion has not learnt."""
    features = features_of(uc, raw)
    y = pd.Series(truth(uc, raw))
    numeric = [
        c
        for c in configured(uc).numeric_features
        if c in features and pd.Series(features[c]).nunique() >= 20
    ]
    if not numeric:
        raise ValueError(f"{uc.name}: no numeric model input to carry a concept drift")

    def spread(column: str) -> float:
        ranks = pd.Series(features[column], dtype=float).rank(method="first")
        return float(y.groupby(pd.qcut(ranks, 10, labels=False)).mean().std())

    return min(numeric, key=spread)


def truth(uc: Any, raw: pd.DataFrame) -> np.ndarray:
    """The outcome (1/0) the generator drew for each row."""
    return np.asarray(uc.labels(raw), dtype=np.float64)


def with_concept(
    uc: Any, y: np.ndarray, raw: pd.DataFrame, concept: Concept | None, seed: int = 0
) -> np.ndarray:
    """Outcomes under the drifted concept, where the model input `column == value`: the
    slice keeps its number of positives, but they are now its rows with the highest `by`
    (ties broken at random), the old positives negatives unless they rank there too. The
    link changes, learnably, and the rate does not: flipping every outcome would push a 3 %
    failure rate to 97 % on the slice, and random new positives would leave nothing a
    retrained model could learn."""
    if concept is None:
        return y
    features = features_of(uc, raw)
    hit = np.flatnonzero(features[concept.column] == concept.value)
    rng = np.random.default_rng([seed, 0xC0C])  # not the generator's stream
    tiebreak = rng.random(len(hit))
    if concept.by is None:
        order = np.argsort(tiebreak)
    else:
        values = pd.to_numeric(pd.Series(features[concept.by][hit]), errors="coerce")
        order = np.lexsort((tiebreak, values.fillna(values.min()).to_numpy()))
    k = int(y[hit].sum())
    out = y.copy()
    out[hit] = 0.0
    out[hit[order[len(hit) - k :]]] = 1.0
    return out


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
