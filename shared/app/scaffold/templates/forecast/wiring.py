"""How the team's file makes series: the key columns, the holiday flag, the calendar, from
wiring.json (written by `pilotpack new` from the file)."""

import json
from pathlib import Path

WIRING = json.loads(Path(__file__).with_name("wiring.json").read_text())

ID_COLUMNS: tuple[str, ...] = tuple(WIRING["id_columns"])  # together they name one series
# ADAPT (wiring.json): a 0/1 column known in advance (holidays, promotions), or null.
HOLIDAY_COLUMN: str | None = WIRING["holiday_column"]
FREQ: str = WIRING["freq"]  # D, W, MS or M, measured on the file
SEASON: int = WIRING["season"]  # periods per cycle at that frequency
# The suffix of money KPIs (eur or usd): `pilotpack new --currency`.
CURRENCY: str = WIRING.get("currency", "eur")
