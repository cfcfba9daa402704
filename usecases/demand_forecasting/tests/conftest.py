"""One small training run shared by this folder's tests (real MLflow store and BentoML model
store in the temporary folders that tests/conftest.py sets up)."""

import pytest

from shared.core.usecase import get_use_case
from shared.ops.training import train

UC = get_use_case("demand_forecasting")
# The flow, not the tuning, is under test: fewer series, trees and baselines than `make demo`.
FAST = [
    "data.n_series=60",
    "model.params.n_estimators=120",
    "baselines.models=[naive, seasonal_naive, seasonal_level, auto_ets, tsb]",  # tsb: routing
    "baselines.n_jobs=1",
]


@pytest.fixture(scope="session")
def trained():
    return train(UC, UC.load_config(FAST), overrides=FAST, allow_synthetic=True)  # it is served
