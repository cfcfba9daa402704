"""The small training run this folder's tests share with the rest of the suite (real MLflow
store and BentoML model store in the temporary folders that tests/conftest.py sets up)."""

import pytest

from shared.core.usecase import get_use_case
from tests.conftest import trained_model

UC = get_use_case("demand_forecasting")


@pytest.fixture(scope="session")
def trained():
    """The suite's fast run (tests/conftest.py FAST: fewer series, trees and baselines than
    `make demo`, TSB kept for the intermittent routing), shared with every other test."""
    return trained_model(UC.name)
