"""Tests of this forecasting use case (written by `pilotpack new`)."""

from pathlib import Path

from shared.core.usecase import get_use_case

from ..usecase import USE_CASE
from ..wiring import ID_COLUMNS

UC = get_use_case(Path(__file__).parents[1].name)


def test_registered_from_its_folder():
    assert UC.task.name == USE_CASE.task.name == "forecast"
    assert UC.forecast.id_columns == ID_COLUMNS


def test_synthetic_series_validate():
    cfg = UC.load_config()
    raw, _ = UC.task.training.synthetic(UC, cfg)
    assert UC.task.training.validate(UC, cfg, raw).ok
