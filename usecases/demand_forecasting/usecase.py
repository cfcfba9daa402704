"""Demand forecasting: how much will each store sell in each department over the next weeks,
so that stock and staff can be planned? Raw data follows the Walmart store x department
weekly sales file: one row per store, department and week, target `Weekly_Sales`."""

from shared.core.usecase import ForecastWiring, UseCase
from shared.tasks.forecast.task import TASK as FORECAST

from .features import build_features
from .kpi import KpiConfig, compute_kpis, kpi_gates
from .model import FEATURES, make_model
from .schema import HOLIDAY_COLUMN, ID_COLUMNS, TARGET, TIME_COLUMN, RawSchema
from .synthetic import make_synthetic

USE_CASE = UseCase(
    question=__doc__,
    task=FORECAST,
    raw_schema=RawSchema,
    target=TARGET,
    time_column=TIME_COLUMN,
    build_features=build_features,
    forecast=ForecastWiring(
        id_columns=ID_COLUMNS, holiday_column=HOLIDAY_COLUMN, feature_names=FEATURES
    ),
    make_model=make_model,
    kpi_config=KpiConfig,
    compute_kpis=compute_kpis,
    kpi_gates=kpi_gates,
    make_synthetic=make_synthetic,
)
