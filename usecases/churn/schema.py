"""What arrives, in training and in the service: the IBM Telco customer churn columns, quirks kept.

Quirks are described here and handled in features.py, never repaired by validation:
`TotalCharges` is text, blank for customers in their first month (tenure 0), and
`SeniorCitizen` is 0/1 while the other flags are Yes/No.
"""

import pandera.pandas as pa
from pandera.typing import Series

TARGET = "Churn"
POSITIVE_LABEL = "Yes"
ID_COLUMN = "customerID"
# The Telco snapshot has no column known only after the outcome. ADAPT: list yours here, e.g.
# a cancellation reason or a "retention offer accepted" flag, with the reason next to each.
LEAKY_COLUMNS: tuple[str, ...] = ()

YES_NO = ["Yes", "No"]
INTERNET_ADDON = ["Yes", "No", "No internet service"]


class RawSchema(pa.DataFrameModel):
    """One row per customer at the snapshot date."""

    customerID: Series[str] = pa.Field(
        description="customer id", metadata={"example": "7590-VHVEG", "pii": True}
    )
    # Sensitive (`sensitive` metadata): not a model input, but the fairness report splits by it.
    gender: Series[str] = pa.Field(
        isin=["Female", "Male"], metadata={"example": "Female", "sensitive": True}
    )
    SeniorCitizen: Series[int] = pa.Field(
        isin=[0, 1],
        description="1 = aged 65 or over (0/1, unlike the Yes/No flags); sensitive: age",
        metadata={"example": 0, "sensitive": True},
    )
    Partner: Series[str] = pa.Field(isin=YES_NO, metadata={"example": "Yes"})
    Dependents: Series[str] = pa.Field(isin=YES_NO, metadata={"example": "No"})
    tenure: Series[int] = pa.Field(
        ge=0, le=600, description="months as a customer", metadata={"example": 1}
    )
    PhoneService: Series[str] = pa.Field(isin=YES_NO, metadata={"example": "No"})
    MultipleLines: Series[str] = pa.Field(
        isin=["Yes", "No", "No phone service"], metadata={"example": "No phone service"}
    )
    InternetService: Series[str] = pa.Field(
        isin=["DSL", "Fiber optic", "No"], metadata={"example": "DSL"}
    )
    OnlineSecurity: Series[str] = pa.Field(isin=INTERNET_ADDON, metadata={"example": "No"})
    OnlineBackup: Series[str] = pa.Field(isin=INTERNET_ADDON, metadata={"example": "Yes"})
    DeviceProtection: Series[str] = pa.Field(isin=INTERNET_ADDON, metadata={"example": "No"})
    TechSupport: Series[str] = pa.Field(isin=INTERNET_ADDON, metadata={"example": "No"})
    StreamingTV: Series[str] = pa.Field(isin=INTERNET_ADDON, metadata={"example": "No"})
    StreamingMovies: Series[str] = pa.Field(isin=INTERNET_ADDON, metadata={"example": "No"})
    Contract: Series[str] = pa.Field(
        isin=["Month-to-month", "One year", "Two year"], metadata={"example": "Month-to-month"}
    )
    PaperlessBilling: Series[str] = pa.Field(isin=YES_NO, metadata={"example": "Yes"})
    # Open-ended on purpose: new payment methods appear; the service scores them as unknown.
    PaymentMethod: Series[str] = pa.Field(
        str_length={"min_value": 1},
        description="payment method (open-ended)",
        metadata={"example": "Electronic check"},
    )
    MonthlyCharges: Series[float] = pa.Field(
        ge=0, le=10_000, description="current monthly bill, USD", metadata={"example": 29.85}
    )
    TotalCharges: Series[str] = pa.Field(
        str_matches=r"^\s*(\d+(\.\d*)?)?\s*$",
        description="billed to date, USD, as text; blank in the first month (tenure 0)",
        metadata={"example": "29.85"},
    )
    Churn: Series[str] = pa.Field(isin=YES_NO, description="left within the period (target)")

    class Config:
        strict = True
        coerce = False
