"""Forecast gates: a candidate beats the best baseline by the WAPE margin OR by a one-sided
paired test over series x windows, never by a fixed 10 % (issue 20 item 6).

Truth by construction: the baseline misses every actual by a random amount; a candidate that
misses by 96.4 % of it (3.6 % better on every series and window) must pass, even with a 10 %
margin; one that misses exactly as much must fail; one 1 % worse must fail."""

import numpy as np
import pytest

from shared.tasks.forecast.backtest import WindowForecasts, baseline_win
from shared.tasks.forecast.config import ForecastGatesConfig
from shared.tasks.forecast.metrics import paired_p_value, row_errors


def windows(factor: float, n: int = 60, n_windows: int = 3, seed: int = 0) -> list[WindowForecasts]:
    """`n` series x `n_windows` windows of 8 steps; candidate error = factor x baseline's."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n_windows):
        y = rng.uniform(50, 500, (n, 8))
        miss = rng.normal(0, 30, (n, 8))
        out.append(
            WindowForecasts(
                cutoff=f"2020-0{k + 1}-01",
                rows=np.arange(n),
                y=y,
                mase_scale=rng.uniform(10, 40, n),
                scale=np.ones(n),
                forecasts={"candidate": y + factor * miss, "baseline": y + miss},
                fallback=np.zeros(n, bool),
                excluded={},
                seconds={},
            )
        )
    return out


@pytest.mark.parametrize("test", ["wilcoxon", "sign"])
def test_a_candidate_3_6_pct_better_on_every_series_passes_even_with_a_10_pct_margin(test):
    strict = ForecastGatesConfig(min_wape_gain_pct=10.0, paired_test=test)
    win = baseline_win(windows(0.964), "candidate", "baseline", strict)
    assert win["wape_gain_pct"] == pytest.approx(3.6, abs=0.01)
    assert not win["by_margin"] and win["by_test"] and win["passed"]
    assert win["pairs"] == 180 and win["p_value"] < 1e-6
    # the default margin (2 %) lets it through on its own too
    assert baseline_win(windows(0.964), "candidate", "baseline", ForecastGatesConfig())["by_margin"]


@pytest.mark.parametrize("factor", [1.0, 1.01])
def test_a_candidate_equal_to_or_worse_than_the_baseline_fails(factor):
    win = baseline_win(windows(factor), "candidate", "baseline", ForecastGatesConfig())
    assert not win["by_margin"] and not win["by_test"] and not win["passed"]
    assert win["p_value"] > 0.5


def test_without_a_paired_test_only_the_margin_decides():
    off = ForecastGatesConfig(min_wape_gain_pct=10.0, paired_test="none")
    assert not baseline_win(windows(0.964), "candidate", "baseline", off)["passed"]
    assert baseline_win(windows(0.85), "candidate", "baseline", off)["passed"]


def test_row_errors_are_the_terms_mase_averages_and_skip_what_cannot_be_scored():
    y = np.array([[10.0, 20.0], [5.0, np.nan], [1.0, 1.0], [np.nan, np.nan]])
    f = np.array([[12.0, 16.0], [6.0, 9.0], [1.0, 3.0], [1.0, 1.0]])
    scale = np.array([2.0, 1.0, 0.0, 1.0])
    # (2 + 4) / 2 / 2 = 1.5; |5 - 6| / 1 = 1 (step 2 not observed); zero scale; nothing observed
    np.testing.assert_allclose(row_errors(y, f, scale), [1.5, 1.0, np.nan, np.nan])


def test_paired_p_value_with_only_ties_is_one():
    a = np.array([1.0, 2.0, np.nan])
    assert paired_p_value(a, a.copy(), "wilcoxon") == 1.0
    assert paired_p_value(a, a.copy(), "sign") == 1.0
