"""Seeded series in the raw format of the team's file, drawn from its profile.

profile.json holds the file's columns as `pilotpack new` measured them; each series gets a
level from the target's distribution, a trend, a seasonal rhythm (wiring.json's SEASON) and
noise. ADAPT: a hand-written generator with your demand's real drivers makes better tests.
"""

from pathlib import Path

import pandas as pd

from shared.core.lookalike.panel import make_panel_from_spec
from shared.core.lookalike.spec import spec_from_json

from .wiring import FREQ, ID_COLUMNS, SEASON

PROFILE = Path(__file__).with_name("profile.json")


def make_synthetic(n_series: int = 60, n_periods: int = 120, seed: int = 42) -> pd.DataFrame:
    spec = spec_from_json(PROFILE.read_text())
    return make_panel_from_spec(spec, list(ID_COLUMNS), FREQ, SEASON, n_series, n_periods, seed)
