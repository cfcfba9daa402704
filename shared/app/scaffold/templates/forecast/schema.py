"""What arrives, in training and in the service: the columns of the team's file, profiled.

Written by pilotpack's scaffold from a file of 2,064 rows. Bounds are the observed
ranges widened by 50 % of the range on each side. Lines marked `# ADAPT:`
need a human decision.
"""

import pandera.pandas as pa
from pandera.typing import Series

TARGET = "visitors"
POSITIVE_LABEL = 1  # unused: UseCase's default
ID_COLUMN: str | None = None
TIME_COLUMN = "day"
# ADAPT: list the columns known only after the outcome (they would leak it), each with why.
LEAKY_COLUMNS: tuple[str, ...] = ()


class RawSchema(pa.DataFrameModel):
    """One row of the file."""

    # fmt: off
    # ADAPT: closed list of the 12 values seen; if new ones can appear, use str_length={"min_value": 1}.
    restaurant: Series[str] = pa.Field(isin=["R00", "R01", "R02", "R03", "R04", "R05", "R06", "R07", "R08", "R09", "R10", "R11"], description="12 values, most often 'R00' (8.3 %)", metadata={"example": "R00"})
    day: Series[str] = pa.Field(str_matches=r"^\d{4}-\d{2}-\d{2}$", description="date/time, observed 2024-01-01 to 2024-07-18, as %Y-%m-%d", metadata={"example": "2024-04-10"})
    # ADAPT: bounds are the observed 26 to 339 widened; set the range that is possible.
    visitors: Series[float] = pa.Field(ge=0, le=500, description="numeric, observed 26 to 339 (target)")
    # fmt: on

    class Config:
        strict = True
        coerce = False
