"""Model inputs from each entity's own history (shared/core/history.py): per sensor its last
value and mean/std/min/max/slope over the last rows, looking backwards only; the label is
"the event within the next H time units". The columns are wiring.json's."""

import json
from pathlib import Path

from shared.core.history import HistorySettings

WIRING = json.loads(Path(__file__).with_name("wiring.json").read_text())


class Settings(HistorySettings):
    """The `settings:` section of config.yaml, with this file's columns as defaults."""

    entity_column: str = WIRING["entity_column"]
    time_column: str = WIRING["time_column"]
    event_column: str = WIRING["event_column"]  # time of the event; empty while it has not happened
    # ADAPT (config.yaml `settings:`): the numeric columns worth windowing, the windows, H.
    sensors: list[str] = WIRING["sensors"]
