import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from shared.core import evaluation as ev


def test_best_threshold_maximises_profit_worked_by_hand():
    # profit = 10 per positive acted on - 4 per action.
    y = np.array([1, 1, 0, 0, 1, 0])
    p = np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.1])
    # t in (0.8, 0.9]: act on row 0 -> 10 - 4 = 6; t in (0.7, 0.8]: rows 0,1 -> 20 - 8 = 12
    # t in (0.3, 0.7]: rows 0-2 -> 20 - 12 = 8; t <= 0.2: everything -> 30 - 24 = 6
    t, value = ev.best_threshold(y, p, lambda yy, act: 10 * yy[act].sum() - 4 * act.sum())
    assert value == 12
    assert 0.7 < t <= 0.8


def test_lift_table_by_hand():
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    p = np.linspace(1, 0.1, 10)
    rows = ev.lift_table(y, p, groups=5)
    # Top fifth holds both positives: rate 1.0 vs base 0.2 -> lift 5, gain 100 %.
    assert rows[0]["rate"] == 1.0 and rows[0]["lift"] == pytest.approx(5.0)
    assert rows[0]["cumulative_gain"] == 1.0 and rows[-1]["cumulative_gain"] == 1.0
    assert ev.top_fraction_lift(y, p, 0.2) == pytest.approx(5.0)


def test_calibration_table_bins_by_hand():
    y = np.array([0, 1, 1, 1])
    p = np.array([0.05, 0.15, 0.95, 0.91])
    rows = ev.calibration_table(y, p, bins=10)
    assert [r["n"] for r in rows] == [1, 1, 2]
    assert rows[-1]["mean_predicted"] == pytest.approx(0.93)
    assert rows[-1]["observed_rate"] == 1.0


def test_metrics_intervals_contain_the_estimate_and_are_seeded():
    rng = np.random.default_rng(0)
    y = (rng.random(800) < 0.3).astype(int)
    p = np.clip(0.3 + 0.3 * (y - 0.3) + rng.normal(0, 0.2, 800), 0.01, 0.99)
    m = ev.classification_metrics(y, p, n_boot=200, seed=1)
    assert m["roc_auc_ci_low"] < m["roc_auc"] < m["roc_auc_ci_high"]
    assert m["pr_auc_ci_low"] < m["pr_auc"] < m["pr_auc_ci_high"]
    assert m == ev.classification_metrics(y, p, n_boot=200, seed=1)


def test_paired_bootstrap_sees_a_worse_model():
    rng = np.random.default_rng(0)
    y = (rng.random(1000) < 0.3).astype(int)
    good = np.clip(0.3 + 0.5 * (y - 0.3) + rng.normal(0, 0.2, 1000), 0, 1)
    noise = rng.random(1000)
    same = ev.paired_bootstrap_auc(y, good, good, 200, 0)
    assert same["auc_diff"] == 0 and same["p_worse"] == 0
    worse = ev.paired_bootstrap_auc(y, noise, good, 200, 0)
    assert worse["auc_diff_ci_high"] < 0 and worse["p_worse"] == 1.0


@pytest.mark.parametrize("tied", [False, True])
def test_auc_and_average_precision_equal_sklearns_on_tied_and_untied_scores(tied):
    """The bootstrap's own ROC AUC and average precision give sklearn's values exactly."""
    rng = np.random.default_rng(7)
    checked = 0
    for _ in range(200):
        n = int(rng.integers(2, 300))
        y = rng.integers(0, 2, n)
        if y.min() == y.max():
            continue
        p = np.round(rng.random(n), 1) if tied else rng.random(n)
        assert ev._auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
        assert ev._pr_auc(y, p) == pytest.approx(average_precision_score(y, p), abs=1e-12)
        checked += 1
    assert checked > 150


def test_auc_of_a_perfect_and_a_reversed_ranking_by_hand():
    y = np.array([0, 0, 1, 1])
    assert ev._auc(y, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert ev._auc(y, np.array([0.9, 0.8, 0.2, 0.1])) == 0.0
    assert ev._auc(y, np.array([0.5, 0.5, 0.5, 0.5])) == 0.5  # all tied: one half
    # precision 1/1 at the first positive, 2/2 at the second: 1.0; reversed: 1/3 and 2/4
    assert ev._pr_auc(y, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert ev._pr_auc(y, np.array([0.9, 0.8, 0.2, 0.1])) == pytest.approx(0.5 * (1 / 3 + 2 / 4))
