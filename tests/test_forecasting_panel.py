"""Long rows -> panel: gaps, ragged starts and ends, zero and negative values are kept and counted."""

import numpy as np
import pandas as pd
import pytest

from shared.tasks.forecast.panel import build_panel, to_long
from shared.tasks.forecast.windows import panel_targets, panel_windows, series_scale


@pytest.fixture
def raw() -> pd.DataFrame:
    weeks = pd.date_range("2021-01-01", periods=6, freq="7D").strftime("%Y-%m-%d")
    rows = [("a", w, float(i + 1), i == 2) for i, w in enumerate(weeks)]
    rows += [
        ("b", weeks[2], -5.0, True),
        ("b", weeks[4], 0.0, False),
    ]  # late start, a gap, a return
    rows += [("c", weeks[0], 3.0, False), ("c", weeks[1], 4.0, False)]  # stops early
    return pd.DataFrame(rows, columns=["sku", "week", "sales", "holiday"])


def test_panel_fills_inner_gaps_with_zero_and_counts_every_repair(raw):
    before = raw.copy()
    panel = build_panel(to_long(raw, ["sku"], "week", "sales", "holiday"), ["sku"])
    pd.testing.assert_frame_equal(raw, before)
    assert list(panel.ids) == ["a", "b", "c"]
    b = panel.y[1]
    assert np.isnan(b[:2]).all() and b[2] == -5.0 and b[3] == 0.0 and b[4] == 0.0 and np.isnan(b[5])
    assert np.isnan(panel.y[2][2:]).all()
    rep = panel.report
    assert (rep.filled_gaps, rep.series_with_gaps, rep.negative_values, rep.zero_values) == (
        1,
        1,
        1,
        1,
    )
    assert (rep.series_starting_late, rep.series_ending_early, rep.shortest_series) == (1, 2, 2)
    # the filled week takes the calendar's holiday flag (none that week); b's own flag is kept
    assert panel.holiday[1][2] == 1.0 and panel.holiday[2][2] == 1.0  # c: from the calendar


def test_windows_hold_history_only_and_nan_before_start(raw):
    panel = build_panel(to_long(raw, ["sku"], "week", "sales", "holiday"), ["sku"])
    w = panel_windows(panel, np.array([0, 1]), np.array([3, 3]), 5, 2, season=4, floor=1.0)
    assert w.y[0].tolist()[1:] == [1.0, 2.0, 3.0, 4.0] and np.isnan(w.y[0][0])
    assert np.isnan(w.y[1][:3]).all() and w.y[1][3:].tolist() == [-5.0, 0.0]
    assert w.future_holiday.shape == (2, 2)
    assert panel_targets(panel, np.array([0]), np.array([3]), 3)[0][:2].tolist() == [5.0, 6.0]
    assert np.isnan(panel_targets(panel, np.array([0]), np.array([3]), 3)[0][2])  # past the end


def test_series_scale_is_mean_absolute_level_with_a_floor():
    y = np.array([[np.nan, 2.0, -4.0], [np.nan, np.nan, np.nan], [0.0, 0.0, 0.0]])
    assert series_scale(y, 3, 1.0).tolist() == [3.0, 1.0, 1.0]


def test_gaps_missing_keeps_nan_and_counts_it(raw):
    panel = build_panel(to_long(raw, ["sku"], "week", "sales", "holiday"), ["sku"], gaps="missing")
    b = panel.y[1]
    assert b[2] == -5.0 and np.isnan(b[3]) and b[4] == 0.0  # the gap stays not observed
    assert (panel.report.filled_gaps, panel.report.missing_periods) == (0, 1)
    w = panel_windows(panel, np.array([1]), np.array([4]), 5, 1, season=4, floor=1.0)
    assert w.observed().tolist() == [2]  # the gap is not an observation
    assert np.isnan(panel_targets(panel, np.array([1]), np.array([2]), 1)[0, 0])  # not scored


def test_daily_and_monthly_grids():
    days = pd.DataFrame(
        {"s": "a", "d": ["2024-02-27", "2024-02-28", "2024-03-01"], "y": [1.0, 2.0, 3.0]}
    )
    p = build_panel(to_long(days, ["s"], "d", "y"), ["s"], freq="D")
    assert p.n_periods == 4 and p.dates[-1] == np.datetime64("2024-03-01")
    assert p.y[0].tolist() == [1.0, 2.0, 0.0, 3.0]  # 2024-02-29 filled (gaps: zero)
    months = pd.DataFrame(
        {"s": "a", "d": ["2023-11-30", "2024-01-31", "2024-02-29"], "y": [1.0, 2.0, 3.0]}
    )
    p = build_panel(to_long(months, ["s"], "d", "y"), ["s"], freq="M")
    assert p.n_periods == 4 and str(p.dates[1]) == "2023-12-31"
    assert [str(d) for d in p.future_dates(2)] == ["2024-03-31", "2024-04-30"]
    with pytest.raises(ValueError, match="grid"):
        build_panel(to_long(months, ["s"], "d", "y"), ["s"], freq="MS")
