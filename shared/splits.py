"""Train / validation / test splits: stratified, time-ordered, and grouped (by entity) by time."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Split:
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "valid": len(self.valid), "test": len(self.test)}


def stratified_split(y: np.ndarray, test_size: float, valid_size: float, seed: int) -> Split:
    """Hold out `test_size`, then `valid_size` of the rest, keeping the label rate in each part."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    rest, test = train_test_split(idx, test_size=test_size, stratify=y, random_state=seed)
    train, valid = train_test_split(rest, test_size=valid_size, stratify=y[rest], random_state=seed)
    return Split(np.sort(train), np.sort(valid), np.sort(test))


def time_split(times: pd.Series, test_size: float, valid_size: float) -> Split:
    """Oldest rows train, then validation, newest rows test; ties stay on one side."""
    t = pd.to_datetime(times) if times.dtype == object else times
    order = np.argsort(t.to_numpy(), kind="stable")
    sorted_t = t.to_numpy()[order]
    n = len(order)
    test_start = _boundary(sorted_t, int(round(n * (1 - test_size))))
    valid_start = _boundary(sorted_t, int(round(test_start * (1 - valid_size))))
    return Split(
        np.sort(order[:valid_start]),
        np.sort(order[valid_start:test_start]),
        np.sort(order[test_start:]),
    )


def _boundary(sorted_t: np.ndarray, cut: int) -> int:
    """Move a cut forward so that rows with the same timestamp are not split apart."""
    cut = min(max(cut, 1), len(sorted_t) - 1)
    while cut < len(sorted_t) and sorted_t[cut] == sorted_t[cut - 1]:
        cut += 1
    return cut


def group_time_split(
    groups: pd.Series, times: pd.Series, test_size: float, valid_size: float, seed: int
) -> Split:
    """Whole entities go to one part, and each part only sees times after the previous part's.

    Entities are assigned at random to train / valid / test; within valid and test only rows
    after the training cut-off time are kept, so no model sees the future of any entity.
    """
    rng = np.random.default_rng(seed)
    entities = np.array(sorted(pd.unique(groups)))
    rng.shuffle(entities)
    n_test = max(1, int(round(len(entities) * test_size)))
    n_valid = max(1, int(round((len(entities) - n_test) * valid_size)))
    test_e, valid_e = set(entities[:n_test]), set(entities[n_test : n_test + n_valid])
    g = groups.to_numpy()
    t = times.to_numpy()
    in_test = np.isin(g, list(test_e))
    in_valid = np.isin(g, list(valid_e))
    train = np.flatnonzero(~in_test & ~in_valid)
    cutoff = np.quantile(t[train], 1 - test_size) if len(train) else t.min()
    train = train[t[train] <= cutoff]
    valid = np.flatnonzero(in_valid & (t > cutoff))
    test = np.flatnonzero(in_test & (t > cutoff))
    return Split(train, valid, test)
