"""ADAPT: the business question this forecast answers, ending with a question mark?
Written by `pilotpack new` from the team's file: one row per series and period (README.md
names the file, the target and the series key)."""

from shared.core.usecase import ForecastWiring, UseCase
from shared.tasks.forecast.task import TASK as FORECAST

from .features import build_features
from .kpi import KpiConfig, compute_kpis, kpi_gates
from .model import FEATURES, make_model
from .schema import TARGET, TIME_COLUMN, RawSchema
from .synthetic import make_synthetic
from .wiring import HOLIDAY_COLUMN, ID_COLUMNS

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
