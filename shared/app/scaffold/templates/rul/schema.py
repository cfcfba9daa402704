"""What arrives, in training and in the service: the columns of the team's file, profiled.

Written by pilotpack's scaffold from a file of 2,474 rows. Bounds are the observed
ranges widened by 50 % of the range on each side. Lines marked `# ADAPT:`
need a human decision.
"""

import pandera.pandas as pa
from pandera.typing import Series

TARGET = "rul"
POSITIVE_LABEL = 1  # unused: UseCase's default
ID_COLUMN = "unit"
TIME_COLUMN = "cycle"
# ADAPT: list the columns known only after the outcome (they would leak it), each with why.
LEAKY_COLUMNS: tuple[str, ...] = ()


class RawSchema(pa.DataFrameModel):
    """One row per unit and cycle."""

    # fmt: off
    unit: Series[int] = pa.Field(ge=0, description="11 distinct values (id column)", metadata={"example": 1})
    cycle: Series[int] = pa.Field(ge=0, description="numeric, observed 1 to 338", metadata={"example": 113})
    # ADAPT: bounds are the observed 641.2 to 644.31 widened; set the range that is possible.
    s2: Series[float] = pa.Field(ge=639.6, le=645.9, description="numeric, observed 641.2 to 644.31", metadata={"example": 642.51})
    # ADAPT: bounds are the observed 542.07 to 566.98 widened; set the range that is possible.
    s7: Series[float] = pa.Field(ge=529.0, le=580.0, description="numeric, observed 542.07 to 566.98", metadata={"example": 554.33})
    # ADAPT: bounds are the observed 46.44 to 48.76 widened; set the range that is possible.
    s11: Series[float] = pa.Field(ge=45.2, le=50.0, description="numeric, observed 46.44 to 48.76", metadata={"example": 47.35})
    rul: Series[float] | None = pa.Field(ge=0, nullable=True, description="remaining life, in cycle units: absent = derived (each entity failed at its last row); empty = still running (target)")
    # fmt: on

    class Config:
        strict = True
        coerce = False
