import numpy as np
import pandas as pd
import pytest

from shared.core.splits import (
    cv_folds,
    group_split,
    group_time_split,
    row_order_split,
    stratified_split,
    time_split,
)


def test_stratified_split_is_a_partition_with_the_label_rate_kept():
    y = (np.random.default_rng(0).random(5000) < 0.2).astype(int)
    s = stratified_split(y, 0.2, 0.25, seed=1)
    parts = np.concatenate([s.train, s.valid, s.test])
    assert sorted(parts) == list(range(5000))
    assert len(s.test) == 1000 and len(s.valid) == 1000
    for part in (s.train, s.valid, s.test):
        assert abs(y[part].mean() - y.mean()) < 0.005
    assert np.array_equal(stratified_split(y, 0.2, 0.25, 1).test, s.test)


def test_time_split_puts_the_future_in_test_and_keeps_ties_together():
    times = pd.Series(pd.date_range("2024-01-01", periods=100, freq="D").repeat(3))
    s = time_split(times, 0.2, 0.25)
    t = times.to_numpy()
    assert t[s.train].max() < t[s.valid].min() <= t[s.valid].max() < t[s.test].min()
    assert len(s.train) + len(s.valid) + len(s.test) == 300


def test_group_time_split_never_shares_an_entity_or_the_future():
    rng = np.random.default_rng(0)
    groups = pd.Series(np.repeat(np.arange(50), 40))
    times = pd.Series(np.tile(np.arange(40), 50) + rng.integers(0, 5, 2000))
    s = group_time_split(groups, times, 0.2, 0.25, seed=3)
    g, t = groups.to_numpy(), times.to_numpy()
    assert not set(g[s.train]) & set(g[s.test])
    assert not set(g[s.train]) & set(g[s.valid])
    assert not set(g[s.valid]) & set(g[s.test])
    assert t[s.train].max() < t[s.test].min()
    assert t[s.train].max() < t[s.valid].min()


def test_row_order_split_keeps_file_order_and_sizes():
    s = row_order_split(1000, 0.2, 0.25)
    assert np.array_equal(np.concatenate([s.train, s.valid, s.test]), np.arange(1000))
    assert s.sizes() == {"train": 600, "valid": 200, "test": 200}
    assert s.train.max() < s.valid.min() and s.valid.max() < s.test.min()


def test_group_split_puts_each_entity_in_one_part_and_is_seeded():
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 100, 5000)
    s = group_split(groups, 0.2, 0.25, seed=7)
    parts = [set(groups[p]) for p in (s.train, s.valid, s.test)]
    assert not parts[0] & parts[1] and not parts[0] & parts[2] and not parts[1] & parts[2]
    assert [len(p) for p in parts] == [60, 20, 20]  # sizes count entities, not rows
    assert sorted(np.concatenate([s.train, s.valid, s.test])) == list(range(5000))
    again, other = group_split(groups, 0.2, 0.25, seed=7), group_split(groups, 0.2, 0.25, seed=8)
    assert np.array_equal(again.test, s.test)
    assert not np.array_equal(other.test, s.test)


def test_time_folds_never_train_on_the_future():
    rng = np.random.default_rng(1)
    times = pd.Series(pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 60, 900), "D"))
    folds = cv_folds("time", 4, seed=0, y=np.zeros(900), times=times)
    assert len(folds) == 4
    t = times.to_numpy()
    for train, test in folds:
        assert len(train) and len(test)
        assert t[train].max() < t[test].min()
    assert len(folds[-1][0]) > len(folds[0][0])  # the training window expands


def test_row_order_folds_train_on_earlier_rows_only():
    for train, test in cv_folds("row_order", 3, seed=0, y=np.zeros(100)):
        assert train.max() < test.min()


@pytest.mark.parametrize("kind", ["group", "group_time"])
def test_group_folds_never_share_an_entity_and_follow_the_seed(kind):
    rng = np.random.default_rng(2)
    groups = rng.integers(0, 30, 1200)
    y = rng.random(1200)
    folds = cv_folds(kind, 3, seed=5, y=y, groups=groups)
    assert len(folds) == 3
    for train, test in folds:
        assert not set(groups[train]) & set(groups[test])
    assert sorted(np.concatenate([test for _, test in folds])) == list(range(1200))
    other = cv_folds(kind, 3, seed=6, y=y, groups=groups)
    assert any(not np.array_equal(a[1], b[1]) for a, b in zip(folds, other, strict=True))


def test_stratified_folds_keep_the_label_rate_and_fall_back_to_kfold_for_a_float_target():
    rng = np.random.default_rng(3)
    y = (rng.random(3000) < 0.1).astype(int)
    folds = cv_folds("stratified", 5, seed=0, y=y)
    for _, test in folds:
        assert abs(y[test].mean() - y.mean()) < 0.002
    target = rng.gamma(2.0, 10.0, 3000)
    folds = cv_folds("stratified", 5, seed=0, y=target)
    assert [len(test) for _, test in folds] == [600] * 5
    assert sorted(np.concatenate([test for _, test in folds])) == list(range(3000))
    assert np.array_equal(cv_folds("stratified", 5, seed=0, y=target)[0][1], folds[0][1])


def test_cv_folds_name_the_missing_column():
    with pytest.raises(ValueError, match="needs `groups`"):
        cv_folds("group", 3, seed=0, y=np.zeros(10))
    with pytest.raises(ValueError, match="needs `times`"):
        cv_folds("time", 3, seed=0, y=np.zeros(10))
    with pytest.raises(ValueError, match="unknown split kind 'random'"):
        cv_folds("random", 3, seed=0, y=np.zeros(10))
