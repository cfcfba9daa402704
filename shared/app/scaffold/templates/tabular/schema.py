"""What arrives, in training and in the service: the columns of the team's file, profiled.

Written by pilotpack's scaffold from a file of 3,000 rows. Bounds are the observed
ranges widened by 50 % of the range on each side. Lines marked `# ADAPT:`
need a human decision.
"""

import pandera.pandas as pa
from pandera.typing import Series

TARGET = "Exited"
POSITIVE_LABEL = 1
ID_COLUMN = "CustomerId"
TIME_COLUMN: str | None = None
# ADAPT: list the columns known only after the outcome (they would leak it), each with why.
LEAKY_COLUMNS: tuple[str, ...] = ()

FLAG = [0, 1]


class RawSchema(pa.DataFrameModel):
    """One row per CustomerId."""

    # fmt: off
    # ADAPT: personal data: keep it out of the features and the logs.
    CustomerId: Series[int] = pa.Field(ge=0, description="unique per row (id column)", metadata={"pii": True})
    # ADAPT: bounds are the observed 18 to 79 widened; set the range that is possible.
    # ADAPT: sensitive attribute: decide whether the model may use it (fairness, law).
    Age: Series[int] = pa.Field(ge=0, le=110, description="numeric, observed 18 to 79", metadata={"example": 50, "sensitive": True})
    # ADAPT: bounds are the observed 775.46 to 295801.13 widened; set the range that is possible.
    Balance: Series[float] = pa.Field(ge=0.0, le=450000.0, description="numeric, observed 775.46 to 295801.13", metadata={"example": 49158.28})
    # ADAPT: integer codes: keep isin if they name categories, use ge/le for a quantity.
    NumOfProducts: Series[int] = pa.Field(isin=[1, 2, 3, 4], description="4 values, most often 3 (25.3 %)", metadata={"example": 3})
    IsActiveMember: Series[int] = pa.Field(isin=FLAG, description="0 (51.9 %) or 1 (48.1 %)", metadata={"example": 0})
    # ADAPT: closed list of the 3 values seen; if new ones can appear, use str_length={"min_value": 1}.
    Geography: Series[str] = pa.Field(isin=["DE", "ES", "FR"], description="3 values, most often 'FR' (34.1 %)", metadata={"example": "FR"})
    Exited: Series[int] = pa.Field(isin=FLAG, description="0 (81.3 %) or 1 (18.7 %) (target)")
    # fmt: on

    class Config:
        strict = True
        coerce = False
