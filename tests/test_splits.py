import numpy as np
import pandas as pd

from shared.splits import group_time_split, stratified_split, time_split


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
