"""BentoML service for demand forecasting:
`bentoml serve usecases.demand_forecasting.service:DemandForecastingService`.

A thin layer over shared.forecast.predictor; the root service (shared/service.py) mounts the
same class under /demand_forecasting/. Bad input is a 400 naming the problem.
"""

import datetime as dt
from typing import Literal

import bentoml
from bentoml.exceptions import InvalidArgument
from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.forecast.predictor import ForecastPredictor, check_history, forecast_histories

from .synthetic import holiday_weeks
from .usecase import USE_CASE

CFG = USE_CASE.load_config()
MAX_HORIZON, MAX_SERIES, MAX_HISTORY = (
    CFG.backtest.horizon,
    CFG.serving.max_series,
    CFG.serving.max_history,
)
ROUTE = "/forecast"
STRICT = ConfigDict(extra="forbid")


class Week(BaseModel):
    model_config = STRICT
    Date: dt.date = Field(
        description="last day of the sales week, YYYY-MM-DD", examples=["2012-10-26"]
    )
    Weekly_Sales: float = Field(
        ge=-1e9,
        le=1e9,
        allow_inf_nan=False,
        description="sales, USD (negative = returns)",
        examples=[24924.5],
    )
    IsHoliday: bool = Field(False, description="the week holds a major holiday")


class SeriesRequest(BaseModel):
    model_config = STRICT
    Store: int = Field(ge=1, description="store number", examples=[1])
    Dept: int = Field(ge=1, description="department number", examples=[1])
    history: list[Week] = Field(
        min_length=1,
        max_length=MAX_HISTORY,
        description="recent weeks, oldest first, 7 days apart (a missing week counts as 0 sales)",
    )
    horizon: int = Field(MAX_HORIZON, ge=1, le=MAX_HORIZON, description="weeks to forecast")
    future_holidays: list[bool] | None = Field(
        None, description="IsHoliday of each forecast week; default: the flag 52 weeks earlier"
    )

    @model_validator(mode="after")
    def _valid_history(self) -> "SeriesRequest":
        check_history([w.Date for w in self.history], USE_CASE.freq_days, MAX_HISTORY)
        if self.future_holidays is not None and len(self.future_holidays) != self.horizon:
            raise ValueError(
                f"future_holidays has {len(self.future_holidays)} flags for horizon {self.horizon}"
            )
        return self


class StepForecast(BaseModel):
    step: int = Field(description="weeks after the last history week")
    date: dt.date = Field(description="last day of the forecast week")
    forecast: float = Field(description="point forecast (median), USD")
    # ADAPT: one pair per level in config intervals.levels.
    lo_80: float
    hi_80: float
    lo_95: float
    hi_95: float


class SeriesForecast(BaseModel):
    Store: int
    Dept: int
    method: Literal["model", "fallback"] = Field(
        description="fallback: history too short for the model"
    )
    note: str | None = Field(description="why the fallback rule was used")
    filled_periods: int = Field(description="missing weeks inside the history, counted as 0 sales")
    steps: list[StepForecast]
    model_version: str = Field(description="MLflow registered-model version that forecast this")


@bentoml.service(name="demand_forecasting", workers=1, logging={"access": {"enabled": False}})
class DemandForecastingService:
    def __init__(self) -> None:
        self.predictor = ForecastPredictor.from_store(USE_CASE)

    @bentoml.api(route=ROUTE)
    async def forecast(
        self, series: list[SeriesRequest] = Field(min_length=1, max_length=MAX_SERIES)
    ) -> list[SeriesForecast]:
        """Point forecast and 80 % / 95 % intervals per week ahead for each series."""
        too_long = [s.horizon for s in series if s.horizon > self.predictor.max_horizon]
        if too_long:
            raise InvalidArgument(
                f"horizon {max(too_long)} exceeds the stored model's maximum {self.predictor.max_horizon}"
            )
        out = forecast_histories(
            self.predictor,
            [
                (
                    [w.Date for w in s.history],
                    [w.Weekly_Sales for w in s.history],
                    [w.IsHoliday for w in s.history],
                )
                for s in series
            ],
            [s.horizon for s in series],
            [s.future_holidays for s in series],
        )
        return [
            SeriesForecast(Store=s.Store, Dept=s.Dept, **o)
            for s, o in zip(series, out, strict=True)
        ]


def example_payload(n_records: int = 1) -> dict:
    """One series with a 52-week history and an 8-week horizon, repeated: docs, tests, benchmark."""
    last = dt.date(2012, 10, 26)
    dates = [last - dt.timedelta(weeks=51 - i) for i in range(52)]
    flagged = {d for y in (2011, 2012, 2013) for d in holiday_weeks(y).values()}
    history = [
        {
            "Date": d.isoformat(),
            "Weekly_Sales": round(20000 + 4000 * ((i * 7) % 13) / 13, 2),
            "IsHoliday": d in flagged,
        }
        for i, d in enumerate(dates)
    ]
    future = [last + dt.timedelta(weeks=k) in flagged for k in range(1, 9)]
    one = {"Store": 1, "Dept": 1, "history": history, "horizon": 8, "future_holidays": future}
    return {"series": [one] * n_records}
