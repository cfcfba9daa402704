"""The synthetic generator: the raw schema, seeded, and the quirks real files have."""

import pandas as pd

from shared.tasks.forecast.backtest import make_panel, validate_forecast_raw
from usecases.demand_forecasting.synthetic import holiday_weeks
from usecases.demand_forecasting.tests.conftest import UC as USE_CASE


def test_synthetic_passes_the_schema_and_quality_gates():
    cfg = USE_CASE.load_config()
    raw = USE_CASE.make_synthetic(cfg.data.n_series, cfg.data.n_periods, cfg.data.seed)
    assert validate_forecast_raw(raw, USE_CASE, cfg).ok


def test_synthetic_is_seeded():
    pd.testing.assert_frame_equal(
        USE_CASE.make_synthetic(20, 80, 3), USE_CASE.make_synthetic(20, 80, 3)
    )
    assert not USE_CASE.make_synthetic(20, 80, 3).equals(USE_CASE.make_synthetic(20, 80, 4))


def test_synthetic_has_the_quirks_of_the_real_file():
    cfg = USE_CASE.load_config()
    raw = USE_CASE.make_synthetic(120, 156, 42)
    rep = make_panel(USE_CASE, raw, cfg).report
    assert rep.negative_values > 0 and rep.zero_values > 0
    assert rep.series_starting_late > 0 and rep.series_ending_early > 0 and rep.filled_gaps > 0
    assert rep.shortest_series < cfg.backtest.min_history  # fallback case
    assert (pd.to_datetime(raw["Date"]).dt.dayofweek == 4).all()  # Fridays


def test_holiday_weeks_match_the_walmart_flags():
    assert [str(d) for d in holiday_weeks(2010).values()] == [
        "2010-02-12",
        "2010-09-10",
        "2010-11-26",
        "2010-12-31",
    ]
    assert [str(d) for d in holiday_weeks(2012).values()] == [
        "2012-02-10",
        "2012-09-07",
        "2012-11-23",
        "2012-12-28",
    ]
