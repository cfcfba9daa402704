"""Drift of model inputs and of the score against the training reference stored with the model.

PSI (population stability index), per model input and for the score; the pack's only PSI
(`psi(bins, values)`, `psi_samples(reference, current)`):

    PSI = sum over bins of (a - e) * ln(a / e)

with `e` the reference share and `a` the current share of each bin. Shares below EPSILON
(1e-4) are raised to EPSILON before the sum, without renormalising: an empty bin then adds a
large but finite term instead of infinity (a bin that held 10 % in training and is empty now
adds (0.1 - 1e-4) * ln(0.1 / 1e-4) = 0.69). Rules of thumb: < 0.1 stable, 0.1-0.2 worth a
look, >= 0.2 shifted (config `monitoring.psi_watch` / `psi_alert`).

Bins:
- numeric inputs and the score: the reference deciles of `reference_profile.json`. Bins are
  right-closed, (e_{i-1}, e_i]; tied deciles collapse into one edge whose cumulative share is
  the largest decile level it stands for (a column that is 0 for 35 % of training rows has the
  edge 0 with share 0.3 below-or-at it, as its deciles say). Missing values are their own bin
  (training's `missing_share`).
- categorical inputs: the training shares of each level plus one `unseen` bucket for levels
  the model never saw (reference share 0, i.e. EPSILON).

Tests, where the small Parquet sample of training inputs (`reference_sample.parquet`) is
stored with the model: two-sample Kolmogorov-Smirnov for numeric inputs and the score,
chi-square on the contingency table (sample vs current, by level) for categoricals. On large
windows tiny shifts are "significant", so the p-value flags a feature (`test`) while PSI
decides alerts.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shared.core.onnx_export import snap
from shared.core.store import PROFILE_FILE

EPSILON = 1e-4
SCORE = "score"  # the model output's row in drift reports (and its gauge's `feature` label)
SAMPLE_FILE = "reference_sample.parquet"
SAMPLE_SCORE = "__score__"  # the sample's column holding the training score
UNSEEN = "unseen"


# --------------------------------------------------------------------------- PSI


def psi_from_shares(expected: Sequence[float], actual: Sequence[float]) -> float:
    """PSI of two share vectors over the same bins (each sums to 1), shares floored at EPSILON."""
    e = np.maximum(np.asarray(expected, dtype=np.float64), EPSILON)
    a = np.maximum(np.asarray(actual, dtype=np.float64), EPSILON)
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass(frozen=True)
class NumericBins:
    """Right-closed bins from reference deciles, their reference shares, and the missing share."""

    edges: np.ndarray  # interior edges, increasing
    expected: np.ndarray  # share of each of len(edges) + 1 bins, then the missing bin

    @classmethod
    def from_quantiles(cls, quantiles: Sequence[float], missing_share: float = 0.0) -> NumericBins:
        q = np.asarray(quantiles, dtype=np.float64)
        levels = np.linspace(0, 1, len(q))
        interior, inner_levels = q[1:-1], levels[1:-1]
        edges = np.unique(interior)
        # cumulative share at or below each edge: the largest decile level equal to it
        cum = np.array([inner_levels[interior == e].max() for e in edges])
        shares = np.diff(np.concatenate([[0.0], cum, [1.0]]))
        missing = float(missing_share) if math.isfinite(missing_share) else 0.0
        return cls(edges, np.append(shares * (1 - missing), missing))

    def bin_index(self, values: np.ndarray) -> np.ndarray:
        """Bin of each value; NaN goes to the last (missing) bin. Edges and values are compared
        as the model sees them (float32, snapped: `onnx_export.snap`): training profiles its
        snapped inputs, so a two-decimal 21.59 is 21.590004 in the profile, and a live float64
        21.59 fell in the bin below (PSI 2.5 on an undrifted day of a RUL sensor)."""
        v = np.asarray(values, dtype=np.float64)
        with np.errstate(over="ignore", invalid="ignore"):  # beyond float32: +-inf, still ordered
            idx = np.searchsorted(snap(self.edges), snap(v), side="left")
        idx[~np.isfinite(v)] = len(self.edges) + 1
        return idx

    def shares(self, values: np.ndarray) -> np.ndarray:
        counts = np.bincount(self.bin_index(values), minlength=len(self.expected))
        return counts / max(int(counts.sum()), 1)

    def psi(self, values: np.ndarray) -> float:
        return psi_from_shares(self.expected, self.shares(values))


@dataclass(frozen=True)
class CategoricalBins:
    """Training shares of each level, plus `unseen` (reference share 0)."""

    levels: tuple[str, ...]
    expected: np.ndarray  # per level, then unseen

    @classmethod
    def from_shares(cls, shares: Mapping[Any, float]) -> CategoricalBins:
        levels = tuple(str(k) for k in shares)
        e = np.array([float(v) for v in shares.values()] + [0.0])
        return cls(levels, e / max(e.sum(), 1e-12))

    def bin_index(self, values: Sequence[Any]) -> np.ndarray:
        lookup = {level: i for i, level in enumerate(self.levels)}
        unseen = len(self.levels)
        return np.fromiter(
            (lookup.get(str(v), unseen) for v in values), dtype=np.int64, count=len(values)
        )

    def shares(self, values: Sequence[Any]) -> np.ndarray:
        counts = np.bincount(self.bin_index(values), minlength=len(self.expected))
        return counts / max(int(counts.sum()), 1)

    def psi(self, values: Sequence[Any]) -> float:
        return psi_from_shares(self.expected, self.shares(values))


Bins = NumericBins | CategoricalBins


def psi(reference: Bins, current: Sequence[Any] | np.ndarray) -> float:
    """PSI of current values against reference bins: from a stored profile
    (`reference_bins(profile)[name]`) or from a sample (`sample_bins(values)`).

    The one PSI of the pack: monitoring, rollout status and the live window all bin this way.
    """
    return reference.psi(current)


def sample_bins(reference: Sequence[float] | np.ndarray) -> NumericBins:
    """Numeric bins from the deciles of a reference sample (missing values: their own bin);
    each bin's share counted in the sample, as `reference_bins` does (deciles alone misplace
    a mass of tied values)."""
    ref = np.asarray(reference, dtype=np.float64)
    finite = ref[np.isfinite(ref)]
    bins = NumericBins.from_quantiles(
        np.quantile(finite, np.linspace(0, 1, 11)), 1 - len(finite) / max(len(ref), 1)
    )
    return NumericBins(bins.edges, bins.shares(ref))


def psi_samples(
    reference: Sequence[float] | np.ndarray,
    current: Sequence[float] | np.ndarray,
    min_rows: int = 1,
) -> float | None:
    """PSI of `current` against the deciles of a `reference` sample (both numeric, e.g. the
    champion's and the challenger's scores); None when either has fewer than `min_rows`
    finite values (too few to bin)."""
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    if min(np.isfinite(ref).sum(), np.isfinite(cur).sum()) < max(min_rows, 1):
        return None
    return psi(sample_bins(ref), cur)


def reference_bins(
    profile: Mapping[str, Any], sample: pd.DataFrame | None = None
) -> dict[str, NumericBins | CategoricalBins]:
    """Bins of every profiled model input, and of the score (key SCORE), from a reference
    profile (`reference_profile.json`).

    Deciles alone cannot say how a mass of tied values splits (35 % zeros give the deciles
    0, 0, 0 and the 0.4 decile: 30 % or 40 % at zero?); when the stored sample holds the
    column, each numeric bin's reference share is counted in the sample instead.
    """
    bins: dict[str, NumericBins | CategoricalBins] = {}
    for name, p in (profile.get("numeric") or {}).items():
        if len(p.get("quantiles") or []) >= 2:
            bins[name] = NumericBins.from_quantiles(p["quantiles"], p.get("missing_share", 0.0))
    for name, shares in (profile.get("categorical") or {}).items():
        if shares:
            bins[name] = CategoricalBins.from_shares(shares)
    if len(profile.get("output_quantiles") or []) >= 2:
        bins[SCORE] = NumericBins.from_quantiles(profile["output_quantiles"])
    if sample is not None:
        for name, b in bins.items():
            col = SAMPLE_SCORE if name == SCORE else name
            if isinstance(b, NumericBins) and col in sample.columns and len(sample) >= 100:
                shares = b.shares(sample[col].to_numpy(np.float64))
                bins[name] = NumericBins(b.edges, shares)
    return bins


# --------------------------------------------------------------------------- tests


def ks_pvalue(reference: np.ndarray, current: np.ndarray) -> float | None:
    from scipy.stats import ks_2samp

    r = np.asarray(reference, dtype=np.float64)
    c = np.asarray(current, dtype=np.float64)
    r, c = r[np.isfinite(r)], c[np.isfinite(c)]
    if len(r) < 2 or len(c) < 2:
        return None
    return float(ks_2samp(r, c).pvalue)


def chi2_pvalue(reference: Sequence[Any], current: Sequence[Any]) -> float | None:
    """Chi-square test of homogeneity: the same level shares in the sample and the window."""
    from scipy.stats import chi2_contingency

    ref = pd.Series([str(v) for v in reference]).value_counts()
    cur = pd.Series([str(v) for v in current]).value_counts()
    table = pd.concat([ref, cur], axis=1).fillna(0).to_numpy()
    table = table[table.sum(axis=1) > 0]
    if table.shape[0] < 2 or (table.sum(axis=0) == 0).any():
        return None
    return float(chi2_contingency(table, correction=False).pvalue)


# --------------------------------------------------------------------------- report


@dataclass
class FeatureDrift:
    feature: str
    kind: str  # numeric | categorical | score
    psi: float
    test: str  # ks | chi2 | "" (no reference sample)
    p_value: float | None
    flag: str  # ok | watch | test | alert
    n: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def flag_of(psi: float, p_value: float | None, cfg: Any) -> str:
    if psi >= cfg.psi_alert:
        return "alert"
    if psi >= cfg.psi_watch:
        return "watch"
    if p_value is not None and p_value < cfg.p_value:
        return "test"
    return "ok"


def drift_table(
    profile: Mapping[str, Any],
    features: Mapping[str, Any],
    score: np.ndarray | None,
    sample: pd.DataFrame | None,
    cfg: Any,
) -> list[FeatureDrift]:
    """One row per profiled model input present in `features` (arrays by name), then the
    score when given; sorted by PSI, largest first."""
    rows = []
    for name, bins in reference_bins(profile, sample).items():
        if name == SCORE:
            if score is None:
                continue
            values: Any = np.asarray(score, dtype=np.float64)
            ref_col = SAMPLE_SCORE
        elif name in features:
            values = np.asarray(features[name])
            ref_col = name
        else:
            continue
        numeric = isinstance(bins, NumericBins)
        if numeric:
            values = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(np.float64)
        value = bins.psi(values)
        p, test = None, ""
        if sample is not None and ref_col in sample.columns:
            test = "ks" if numeric else "chi2"
            ref = sample[ref_col].to_numpy()
            p = ks_pvalue(ref, values) if numeric else chi2_pvalue(ref, values)
        kind = SCORE if name == SCORE else ("numeric" if numeric else "categorical")
        rows.append(FeatureDrift(name, kind, value, test, p, flag_of(value, p, cfg), len(values)))
    return sorted(rows, key=lambda r: -r.psi)


# --------------------------------------------------------------------------- the stored reference


def reference_sample(frame: pd.DataFrame, rows: int, seed: int = 0) -> pd.DataFrame:
    """A seeded random sample of at most `rows` training rows (model inputs, score column)."""
    if len(frame) > rows:
        frame = frame.sample(n=rows, random_state=seed)
    return frame.reset_index(drop=True)


def _numeric(col: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)


def sample_bytes(frame: pd.DataFrame) -> bytes:
    """Parquet bytes (no pickle): object columns as strings, numbers as float64."""
    # One frame built at once: inserting column by column fragments it, and pandas warned once
    # per column past the 100th (157 PerformanceWarning lines on a history fork of engine data).
    out = pd.DataFrame(
        {
            str(c): col.astype(np.float64) if _numeric(col) else col.astype(str)
            for c, col in frame.items()
        },
        index=frame.index,
    )
    buf = io.BytesIO()
    out.to_parquet(buf, index=False)
    return buf.getvalue()


def reference_files(uc: Any, fit: Any, rows: int | None = None) -> dict[str, bytes]:
    """What training stores beside the model for drift tests: the Parquet sample of training
    inputs (and the training score); `rows` defaults to the config's
    `monitoring.reference_sample_rows`. Empty when the task keeps no training inputs
    (`fit.train_inputs`); the score is the fit's `score` of the sample, when it has one."""
    train = fit.train_inputs
    if train is None:
        return {}
    if rows is None:
        rows = uc.load_config().monitoring.reference_sample_rows
    inputs = [c for c in uc.model_inputs if c in train.columns] or list(train.columns)
    sample = reference_sample(train[inputs], rows)
    if fit.score is not None:
        # the sample's score is optional: drift of the inputs is tested without it
        with contextlib.suppress(Exception):
            sample[SAMPLE_SCORE] = np.asarray(fit.score(sample[inputs]), dtype=np.float64)
    return {SAMPLE_FILE: sample_bytes(sample)}


@dataclass(frozen=True)
class Reference:
    """The stored model's reference: profile, optional sample, registered metrics."""

    tag: str
    version: str
    profile: dict[str, Any]
    sample: pd.DataFrame | None
    metadata: dict[str, Any]


def load_reference(stored: Any) -> Reference:
    """The reference profile (and sample when stored) of a model in the BentoML store."""

    path = Path(stored.path)
    profile = json.loads((path / PROFILE_FILE).read_text())
    sample_path = path / SAMPLE_FILE
    sample = pd.read_parquet(sample_path) if sample_path.exists() else None
    version = str(stored.metadata.get("mlflow_version") or stored.tag)
    return Reference(str(stored.tag), version, profile, sample, dict(stored.metadata))
