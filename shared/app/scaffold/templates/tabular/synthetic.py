"""Seeded synthetic rows in the raw format of the team's file, drawn from its profile.

profile.json holds each column's type, allowed values, quantiles and missing share, as
`pilotpack new` measured them; the target carries a learnable signal at the file's label
rate. ADAPT: a hand-written generator with the real drivers makes better behavioural tests.
"""

from pathlib import Path

import pandas as pd

from shared.core.lookalike.spec import spec_from_json
from shared.core.lookalike.synth import make_synthetic_from_spec

PROFILE = Path(__file__).with_name("profile.json")


def make_synthetic(n: int = 5000, seed: int = 42) -> pd.DataFrame:
    return make_synthetic_from_spec(spec_from_json(PROFILE.read_text()), n, seed)
