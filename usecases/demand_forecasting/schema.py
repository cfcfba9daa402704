"""What arrives, in training and in the service: the Walmart store x department weekly sales file.

One row per store, department and week, in long format. Quirks are kept and handled by the
shared forecasting flow, never repaired by validation (see README "How the data is treated"):
series are ragged (start late, stop early, miss weeks), and sales can be zero or negative
(returns larger than sales in that week).
"""

import pandera.pandas as pa
from pandera.typing import Series

TARGET = "Weekly_Sales"
ID_COLUMNS = ("Store", "Dept")  # one series per store x department
TIME_COLUMN = "Date"
HOLIDAY_COLUMN = "IsHoliday"
# No column is known only after the outcome: the only future-looking input is IsHoliday, and
# the holiday calendar is known in advance. ADAPT: list leaky columns here with the reason.
LEAKY_COLUMNS: tuple[str, ...] = ()


class RawSchema(pa.DataFrameModel):
    """One row per store, department and week."""

    Store: Series[int] = pa.Field(ge=1, description="store number", metadata={"example": 1})
    Dept: Series[int] = pa.Field(ge=1, description="department number", metadata={"example": 1})
    # ADAPT: CSV dates arrive as text; a Parquet export with a datetime column needs
    # `.dt.strftime("%Y-%m-%d")` first, or change this field to a datetime.
    Date: Series[str] = pa.Field(
        str_matches=r"^\d{4}-\d{2}-\d{2}$",
        description="last day of the sales week (a Friday in the Walmart file), YYYY-MM-DD",
        metadata={"example": "2012-10-26"},
    )
    Weekly_Sales: Series[float] = pa.Field(
        ge=-1e9,
        le=1e9,  # finite; negative = returns exceeded sales that week (kept as is)
        description="sales of the department in the week, USD (target)",
        metadata={"example": 24924.5},
    )
    IsHoliday: Series[bool] = pa.Field(
        description="the week holds a major holiday (Super Bowl, Labor Day, Thanksgiving, Christmas)",
        metadata={"example": False},
    )

    class Config:
        strict = True
        coerce = False
