"""Tests of this per-entity history use case (written by `pilotpack new`)."""

from pathlib import Path

from shared.core.usecase import get_use_case

from ..features import Settings
from ..usecase import USE_CASE

UC = get_use_case(Path(__file__).parents[1].name)


def test_registered_from_its_folder():
    assert UC.task.name == USE_CASE.task.name == "binary_sequence"
    assert UC.id_column == Settings().entity_column


def test_synthetic_histories_validate():
    cfg = UC.load_config()
    raw, _ = UC.task.training.synthetic(UC, cfg)
    assert UC.task.training.validate(UC, cfg, raw).ok
