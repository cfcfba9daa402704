"""Seeded run-to-failure histories in the raw format of the team's file, drawn from its
profile: units run for a while, sensors drift as failure nears; a few are still running
(remaining life unknown). ADAPT: a generator with your real wear physics makes better tests."""

from pathlib import Path

import numpy as np
import pandas as pd

from shared.core.history import HistorySettings
from shared.core.lookalike.histories import make_histories_from_spec
from shared.core.lookalike.spec import spec_from_json

from .features import Settings

PROFILE = Path(__file__).with_name("profile.json")


def make_synthetic(n: int = 20000, seed: int = 42) -> pd.DataFrame:
    s, spec = Settings(), spec_from_json(PROFILE.read_text())
    # The look-alike histories write the time of failure (empty: still running) in the target
    # column; the remaining life is that time minus the row's time, minus one (0 = last row).
    as_events = HistorySettings(
        entity_column=s.entity_column,
        time_column=s.time_column,
        event_column=s.target_column,
        sensors=s.sensors,
    )
    rows = make_histories_from_spec(spec, as_events, n, seed)
    rows[s.target_column] = rows[s.target_column] - rows[s.time_column] - 1
    for col in spec.columns:  # whole-number columns as the file types them
        if col.storage == "int" and rows[col.name].notna().all():
            rows[col.name] = np.round(rows[col.name]).astype(np.int64)
    return rows
