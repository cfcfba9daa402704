"""The Walmart store x department file, whole (421,570 rows, 3,331 series): validation passes,
and in the rolling-origin backtest (3 windows x 8 weeks) LightGBM beats SeasonalNaive by
>= 10 % on WAPE and on MASE, with ONNX parity; the ensemble of LightGBM and seasonal_ses, its
weights chosen on earlier windows only, reaches WAPE <= 0.075 and MASE <= 0.70 (issue 21's
line) and beats the best baseline; the gates pass.

To stay well within CI's budget this run scores only the baselines the gate and the ensemble
need (Naive, SeasonalNaive, seasonal_ses: numpy, ~1 s a window, on the department-smoothed
history as configured); AutoETS and AutoTheta add ~40-60 s per window on 2 cores and are in
the full run whose figures the README gives (`pilotpack train demand_forecasting --data ...`).
"""

import pytest

from shared.ops.training import train
from tests.conftest import real_data
from usecases.demand_forecasting.tests.conftest import UC

pytestmark = pytest.mark.real_data
TRAIN = "forecasting/train.csv"
# SeasonalNaive on the rank-8 smoothed history is deterministic: its recorded figures catch a
# change in data handling, smoothing or metrics.
SEASONAL_NAIVE_WAPE = 0.101393
SEASONAL_NAIVE_MASE = 0.872646


def test_walmart_file_ensemble_reaches_wape_0075_mase_070_and_beats_every_baseline():
    overrides = [
        "baselines.models=[naive, seasonal_naive, seasonal_ses]",
        "model.ensemble_members=[seasonal_ses]",
    ]
    result = train(UC, UC.load_config(overrides), data=real_data(TRAIN), track=False)
    assert result.validation.ok and result.validation.rows == 421_570
    assert result.panel["series"] == 3331 and result.panel["periods"] == 143
    assert result.panel["negative_values"] == 1285 and result.panel["zero_values"] == 73
    rows = {c["name"]: c["metrics"] for c in result.candidates}
    lgb, sn, ses, ens = (
        rows[m] for m in ("lightgbm", "seasonal_naive", "seasonal_ses", "ensemble")
    )
    print({k: {m: round(v, 4) for m, v in r.items()} for k, r in rows.items()})
    print("backtest seconds:", result.backtest["seconds"], result.backtest["seconds_by_window"])
    assert 100 * (1 - lgb["wape"] / sn["wape"]) >= 10.0
    assert lgb["mase"] < sn["mase"]
    assert sn["wape"] == pytest.approx(SEASONAL_NAIVE_WAPE, abs=1e-5)
    assert sn["mase"] == pytest.approx(SEASONAL_NAIVE_MASE, abs=1e-5)
    assert result.baseline == "seasonal_ses"  # the best of the three baselines on MASE
    assert ses["mase"] < sn["mase"] and ses["wape"] < sn["wape"]
    assert result.chosen == "ensemble" == result.chosen_servable, result.gate_reasons
    assert ens["wape"] <= 0.075 and ens["mase"] <= 0.70
    assert ens["mase"] < min(lgb["mase"], ses["mase"])
    assert ens["wape"] < min(lgb["wape"], ses["wape"])
    assert result.parity.ok and result.parity.rows_checked == 3331 * 8
    assert result.gates_passed, result.gate_reasons
    assert 0.75 <= result.interval_coverage["80"] <= 0.85
    assert 0.92 <= result.interval_coverage["95"] <= 0.98
