"""Model inputs from each unit's own history (shared/core/history.py): the time itself, per
sensor its last value and its level and trend over the last rows, looking backwards only; the
label is the remaining life, capped. The columns are wiring.json's."""

import json
from pathlib import Path

from shared.core.history import RemainingLifeSettings

WIRING = json.loads(Path(__file__).with_name("wiring.json").read_text())


class Settings(RemainingLifeSettings):
    """The `settings:` section of config.yaml, with this file's columns as defaults."""

    entity_column: str = WIRING["entity_column"]
    time_column: str = WIRING["time_column"]
    target_column: str = WIRING["target_column"]  # derived when the file has no such column
    # ADAPT (config.yaml `settings:`): the sensors worth windowing, the windows, the cap.
    sensors: list[str] = WIRING["sensors"]
    cap: float = WIRING["cap"]
