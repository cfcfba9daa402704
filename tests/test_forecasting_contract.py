"""The contract every forecasting use case meets, forks included: each check of the forecast
task (shared/tasks/forecast/contract.py) on each folder the registry discovers with task="forecast".
tests/test_contract.py runs the same checks with every other task's; this file keeps the
forecasting suite self-contained (`pytest tests/test_forecasting_*.py`)."""

from __future__ import annotations

import pytest

from shared.core.usecase import registry
from shared.tasks import get_task

FORECASTERS = [uc for uc in registry().values() if uc.task.serves == "series"]
CHECKS = get_task("forecast").training.contract_checks(FORECASTERS[0] if FORECASTERS else None)


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__.removeprefix("check_") for c in CHECKS])
@pytest.mark.parametrize("uc", FORECASTERS, ids=[uc.name for uc in FORECASTERS])
def test_forecast_contract(uc, check):
    check(uc)
