"""What arrives, in training and in the service: the columns of the team's file, profiled.

Written by pilotpack's scaffold from a file of 6,049 rows. Bounds are the observed
ranges widened by 50 % of the range on each side. Lines marked `# ADAPT:`
need a human decision.
"""

import pandera.pandas as pa
from pandera.typing import Series

TARGET = "failed_on"
POSITIVE_LABEL = 1  # unused: UseCase's default
ID_COLUMN = "pump"
TIME_COLUMN = "day"
# ADAPT: list the columns known only after the outcome (they would leak it), each with why.
LEAKY_COLUMNS: tuple[str, ...] = ()


class RawSchema(pa.DataFrameModel):
    """One row per pump and day."""

    # fmt: off
    pump: Series[str] = pa.Field(str_matches=r"^[A-Z]\d{3}$", description="60 distinct values (id column)", metadata={"example": "A123"})
    day: Series[int] = pa.Field(ge=0, description="numeric, observed 1 to 149", metadata={"example": 51})
    # ADAPT: bounds are the observed 55.02 to 70.18 widened; set the range that is possible.
    temp: Series[float] = pa.Field(ge=47.4, le=77.8, description="numeric, observed 55.02 to 70.18", metadata={"example": 60.17})
    # ADAPT: bounds are the observed 1.904 to 5.444 widened; set the range that is possible.
    vibration: Series[float] = pa.Field(ge=0.1, le=7.3, description="numeric, observed 1.904 to 5.444", metadata={"example": 3.039})
    # ADAPT: bounds are the observed 62 to 150 widened; set the range that is possible.
    failed_on: Series[float] = pa.Field(ge=18, le=194, nullable=True, description="numeric, observed 62 to 150; empty in 32.5 % of rows (target)")
    # fmt: on

    class Config:
        strict = True
        coerce = False
