import numpy as np
import pandas as pd
import pytest

from shared.core.splits import (
    content_groups,
    cv_folds,
    group_split,
    group_time_split,
    row_order_split,
    stratified_group_split,
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


def test_content_groups_give_identical_rows_one_code_missing_values_included():
    frame = pd.DataFrame({"a": [1.0, 2.0, 1.0, np.nan, np.nan], "b": ["x", "y", "x", "z", "z"]})
    codes = content_groups(frame)
    assert codes[0] == codes[2] and codes[3] == codes[4]
    assert len(set(codes)) == 3
    assert np.array_equal(content_groups(frame.iloc[:2]), [0, 1])


def test_stratified_group_split_keeps_planted_identical_profiles_in_one_part():
    rng = np.random.default_rng(0)
    n = 3000
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.integers(0, 5, n)})
    # 60 profiles planted 5 times each: without grouping a random split scatters them.
    planted = rng.choice(n, 300, replace=False)
    frame.iloc[planted] = frame.iloc[np.repeat(planted[:60], 5)].to_numpy()
    y = (rng.random(n) < 0.2).astype(int)
    codes = content_groups(frame)
    s = stratified_group_split(y, codes, 0.2, 0.25, seed=1)
    parts = [set(codes[p]) for p in (s.train, s.valid, s.test)]
    assert not parts[0] & parts[1] and not parts[0] & parts[2] and not parts[1] & parts[2]
    assert sorted(np.concatenate([s.train, s.valid, s.test])) == list(range(n))
    plain = stratified_split(y, 0.2, 0.25, seed=1)
    assert set(codes[plain.train]) & set(codes[plain.test])  # the leak grouping removes
    for part in (s.train, s.valid, s.test):
        assert abs(y[part].mean() - y.mean()) < 0.02


def test_stratified_group_split_with_no_repeated_row_is_the_stratified_split():
    y = (np.random.default_rng(4).random(2000) < 0.3).astype(int)
    s, plain = (
        stratified_group_split(y, np.arange(2000), 0.2, 0.25, 3),
        stratified_split(y, 0.2, 0.25, 3),
    )
    for a, b in ((s.train, plain.train), (s.valid, plain.valid), (s.test, plain.test)):
        assert np.array_equal(a, b)
