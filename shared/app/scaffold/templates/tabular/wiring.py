"""How the team's file maps to the model: the task and the model inputs, from wiring.json
(written by `pilotpack new` from the file's columns)."""

import json
from pathlib import Path

from .schema import LEAKY_COLUMNS

WIRING = json.loads(Path(__file__).with_name("wiring.json").read_text())

TASK: str = WIRING["task"]  # binary or regression
# Raw column -> model input name (ONNX input names cannot hold spaces or brackets). A column
# listed in schema.py's LEAKY_COLUMNS is never an input: that list is the one place to name
# it (`pilotpack new --leaky` writes it). ADAPT (wiring.json): drop other columns from the
# inputs; add derived features in features.py.
NUMERIC_COLUMNS: dict[str, str] = {
    c: n for c, n in WIRING["numeric"].items() if c not in LEAKY_COLUMNS
}
CATEGORICAL_COLUMNS: dict[str, str] = {
    c: n for c, n in WIRING["categorical"].items() if c not in LEAKY_COLUMNS
}
