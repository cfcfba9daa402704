"""How the team's file maps to the model: the task and the model inputs, from wiring.json
(written by `pilotpack new` from the file's columns)."""

import json
from pathlib import Path

WIRING = json.loads(Path(__file__).with_name("wiring.json").read_text())

TASK: str = WIRING["task"]  # binary or regression
# ADAPT (wiring.json): drop columns known only after the outcome (list them in schema.py's
# LEAKY_COLUMNS), add derived features in features.py. Raw column -> model input name
# (ONNX input names cannot hold spaces or brackets).
NUMERIC_COLUMNS: dict[str, str] = WIRING["numeric"]
CATEGORICAL_COLUMNS: dict[str, str] = WIRING["categorical"]
