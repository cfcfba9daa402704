"""Seeded look-alike entity histories of a profiled file: entities with runs of consecutive
times, sensors that drift as the event nears, the event time (empty when censored).

Row-wise look-alikes (synth.py) have no history: a `binary_sequence` model needs each
entity's readings in order and a signal before its event, as run-to-failure data has.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shared.core.history import HistorySettings
from shared.core.lookalike.spec import FileSpec
from shared.core.lookalike.synth import make_synthetic_from_spec

EVENT_SHARE = 0.7  # entities whose event is in the data; the others are censored
DRIFT_ROWS = 30  # rows before the event over which sensors drift


def make_histories_from_spec(spec: FileSpec, s: HistorySettings, n: int, seed: int) -> pd.DataFrame:
    """About `n` rows (whole runs) in the file's raw format; same seed, same frame."""
    rng = np.random.default_rng(seed)
    time = spec.column(s.time_column)
    start = int(time.min) if time.min is not None else 1
    event_col = spec.column(s.event_column)
    # Runs end before the event column's upper bound, so events stay inside the schema.
    longest = int(min(160, (event_col.le or np.inf) - start)) if event_col.le else 160
    lengths: list[int] = []
    while sum(lengths) < n:
        lengths.append(int(rng.integers(min(40, longest - 1), longest)))
    lengths[-1] -= sum(lengths) - n  # exactly n rows
    if lengths[-1] < 2:
        lengths[-2] += lengths.pop()
    rows = make_synthetic_from_spec(spec, n, seed)  # the other columns
    # The generator repeats ids as often as the file does: draw enough rows for new ones.
    repeats = spec.rows / max(spec.column(s.entity_column).distinct, 1)
    draws = int(3 * len(lengths) * max(repeats, 1)) + 100
    pool = make_synthetic_from_spec(spec, draws, seed + 1)[s.entity_column]
    entities = pool.drop_duplicates().head(len(lengths)).to_numpy()
    if len(entities) < len(lengths):
        raise ValueError("could not draw enough distinct entity ids from the file's profile")
    t = np.concatenate([start + np.arange(length) for length in lengths])
    ent = np.repeat(entities, lengths)
    # Censored entities (no event yet) only where the file has them: an event column the file
    # always fills (every engine ran to failure) is not nullable in the schema.
    has_event = rng.random(len(lengths)) < (EVENT_SHARE if event_col.nullable else 1.0)
    last = np.array([start + length - 1 for length in lengths])
    event_at = np.where(has_event, last + 1, np.nan)
    to_event = np.repeat(event_at, lengths) - t  # NaN when censored
    closeness = np.clip(1 - to_event / DRIFT_ROWS, 0, 1)
    closeness = np.nan_to_num(closeness)
    for sensor in s.sensors:
        col = spec.column(sensor)
        q = np.asarray(col.quantiles, dtype=float)
        base = np.interp(rng.uniform(0.25, 0.75, len(lengths)), np.linspace(0, 1, len(q)), q)
        spread = max(
            float(np.interp(0.75, np.linspace(0, 1, len(q)), q))
            - float(np.interp(0.25, np.linspace(0, 1, len(q)), q)),
            1e-6,
        )
        x = np.repeat(base, lengths) + rng.normal(0, spread / 2, n)
        x += rng.choice([-1, 1]) * spread * closeness**2
        low = col.ge if col.ge is not None else -np.inf
        high = col.le if col.le is not None else np.inf
        x = np.round(np.clip(x, low, high), col.decimals)
        rows[sensor] = x.astype(np.int64) if col.storage == "int" else x
    rows[s.entity_column] = ent
    rows[s.time_column] = t
    if s.age_column:
        rows[s.age_column] = np.concatenate([np.arange(1, length + 1) for length in lengths])
    events = np.repeat(event_at, lengths)
    whole = event_col.storage == "int" and not np.isnan(events).any()
    rows[s.event_column] = events.astype(np.int64) if whole else events
    return rows[[c.name for c in spec.columns]]
