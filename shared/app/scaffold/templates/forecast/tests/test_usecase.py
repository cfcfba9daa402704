"""Tests of this forecasting use case (written by `pilotpack new`)."""

from pathlib import Path

from shared.core.usecase import get_use_case
from shared.tasks import get_task

from ..usecase import USE_CASE
from ..wiring import ID_COLUMNS

UC = get_use_case(Path(__file__).parents[1].name)


def test_registered_from_its_folder():
    assert UC.task == USE_CASE.task == "forecast"
    assert UC.id_columns == ID_COLUMNS


def test_synthetic_series_validate():
    cfg = UC.load_config()
    raw, _ = get_task(UC.task).synthetic(UC, cfg)
    assert get_task(UC.task).validate(UC, cfg, raw).ok
