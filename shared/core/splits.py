"""Train / validation / test splits and cross-validation folds: stratified, time-ordered,
row-ordered, grouped by entity, and grouped by entity and time."""

from __future__ import annotations

from collections.abc import Iterable
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


def content_groups(frame: pd.DataFrame) -> np.ndarray:
    """One code per distinct row over every column (missing values equal): identical rows share it.

    Exact (pandas' groupby codes, no hash collisions); codes follow first appearance, so a frame
    with no repeated row gets 0, 1, 2, ... in row order.
    """
    if frame.shape[1] == 0:
        return np.arange(len(frame))
    return frame.groupby(list(frame.columns), dropna=False, sort=False).ngroup().to_numpy()


def stratified_group_split(
    y: np.ndarray, groups: np.ndarray, test_size: float, valid_size: float, seed: int
) -> Split:
    """`stratified_split` over groups (a group's label: its largest), every row with its group.

    With `content_groups` as groups, identical rows land in one part, so no profile is both
    trained on and scored; with no repeated row it is exactly `stratified_split(y, ...)`.
    """
    g = np.asarray(groups)
    codes, first = np.unique(g, return_index=True)
    order = np.argsort(first, kind="stable")  # groups in order of first appearance
    codes = codes[order]
    group_y = pd.Series(np.asarray(y)).groupby(g).max().reindex(codes).to_numpy()
    parts = stratified_split(group_y, test_size, valid_size, seed)
    return Split(
        *(np.flatnonzero(np.isin(g, codes[p])) for p in (parts.train, parts.valid, parts.test))
    )


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


def row_order_split(n: int, test_size: float, valid_size: float) -> Split:
    """File order is time order: first rows train, then validation, last rows test."""
    if n < 3:
        raise ValueError(f"row_order split needs at least 3 rows, got {n}")
    test_start = min(max(int(round(n * (1 - test_size))), 2), n - 1)
    valid_start = min(max(int(round(test_start * (1 - valid_size))), 1), test_start - 1)
    idx = np.arange(n)
    return Split(idx[:valid_start], idx[valid_start:test_start], idx[test_start:])


def group_split(
    groups: np.ndarray | pd.Series, test_size: float, valid_size: float, seed: int
) -> Split:
    """Every row of an entity in exactly one part; entities drawn at random, sizes by entity count.

    For run-to-failure fleets, where rows of one engine are not independent of each other.
    """
    g = np.asarray(groups)
    entities = np.array(sorted(pd.unique(g)))
    if len(entities) < 3:
        raise ValueError(f"group split needs at least 3 entities, got {len(entities)}")
    np.random.default_rng(seed).shuffle(entities)
    n_test = min(max(1, int(round(len(entities) * test_size))), len(entities) - 2)
    n_valid = min(
        max(1, int(round((len(entities) - n_test) * valid_size))), len(entities) - n_test - 1
    )
    in_test = np.isin(g, entities[:n_test])
    in_valid = np.isin(g, entities[n_test : n_test + n_valid])
    return Split(
        np.flatnonzero(~in_test & ~in_valid), np.flatnonzero(in_valid), np.flatnonzero(in_test)
    )


Fold = tuple[np.ndarray, np.ndarray]


def cv_folds(
    kind: str,
    n_folds: int,
    seed: int,
    y: np.ndarray,
    groups: np.ndarray | pd.Series | None = None,
    times: np.ndarray | pd.Series | None = None,
) -> list[Fold]:
    """(train, test) index pairs for scikit-learn's `cv=`, matching the split `kind`."""
    from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold, TimeSeriesSplit

    y = np.asarray(y)
    if n_folds < 2:
        raise ValueError(f"cv_folds needs at least 2 folds, got {n_folds}")
    if kind == "stratified":
        if is_binary(y):
            splitter = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
        else:
            # A regression target cannot be stratified; a shuffled k-fold is its equivalent.
            splitter = KFold(n_folds, shuffle=True, random_state=seed)
        return _pairs(splitter.split(np.zeros(len(y)), y))
    if kind == "row_order":
        return _pairs(TimeSeriesSplit(n_folds).split(np.zeros(len(y))))
    if kind == "time":
        if times is None:
            raise ValueError("cv_folds(kind='time') needs `times` (the time column)")
        return time_folds(times, n_folds)
    if kind in ("group", "group_time"):
        if groups is None:
            raise ValueError(f"cv_folds(kind={kind!r}) needs `groups` (the entity column)")
        # GroupKFold's shuffle draws which entities share a fold, so the folds follow `seed`.
        splitter = GroupKFold(n_folds, shuffle=True, random_state=seed)
        return _pairs(splitter.split(np.zeros(len(y)), y, np.asarray(groups)))
    raise ValueError(
        f"unknown split kind {kind!r}: use stratified, time, row_order, group or group_time"
    )


def time_folds(times: np.ndarray | pd.Series, n_folds: int) -> list[Fold]:
    """Expanding-window folds over distinct times: train strictly before test, ties kept together."""
    from sklearn.model_selection import TimeSeriesSplit

    t = pd.Series(times)
    t = pd.to_datetime(t) if t.dtype == object else t
    distinct, position = np.unique(t.to_numpy(), return_inverse=True)
    if len(distinct) <= n_folds:
        raise ValueError(f"{n_folds} time folds need more than {n_folds} distinct times")
    folds = []
    for train_t, test_t in TimeSeriesSplit(n_folds).split(distinct):
        folds.append(
            (np.flatnonzero(np.isin(position, train_t)), np.flatnonzero(np.isin(position, test_t)))
        )
    return folds


def is_binary(y: np.ndarray) -> bool:
    """True for 0/1 (or boolean) labels, the only targets that are stratified."""
    values = pd.unique(np.asarray(y).ravel())
    return len(values) <= 2 and set(values.tolist()) <= {0, 1}


def _pairs(folds: Iterable[tuple[np.ndarray, np.ndarray]]) -> list[Fold]:
    return [(np.asarray(train), np.asarray(test)) for train, test in folds]
