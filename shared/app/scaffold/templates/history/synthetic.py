"""Seeded entity histories in the raw format of the team's file, drawn from its profile:
runs of consecutive times, sensors drifting as the event nears, censored entities.
ADAPT: a hand-written generator with the real failure physics makes better tests."""

from pathlib import Path

import pandas as pd

from shared.core.lookalike.histories import make_histories_from_spec
from shared.core.lookalike.spec import spec_from_json

from .features import Settings

PROFILE = Path(__file__).with_name("profile.json")


def make_synthetic(n: int = 20000, seed: int = 42) -> pd.DataFrame:
    return make_histories_from_spec(spec_from_json(PROFILE.read_text()), Settings(), n, seed)
