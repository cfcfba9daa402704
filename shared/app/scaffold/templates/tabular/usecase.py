"""ADAPT: the business question this model answers, ending with a question mark?
Written by `pilotpack new` from the team's file: one row per record (README.md names the
file, the target and the columns)."""

from shared.core.usecase import UseCase
from shared.tasks import get_task

from .features import build_features
from .kpi import KpiConfig, compute_kpis, kpi_gates, profit
from .model import CATEGORICAL, NUMERIC, make_model
from .schema import ID_COLUMN, LEAKY_COLUMNS, POSITIVE_LABEL, TARGET, TIME_COLUMN, RawSchema
from .synthetic import make_synthetic
from .wiring import TASK

USE_CASE = UseCase(
    question=__doc__,
    task=get_task(TASK),
    raw_schema=RawSchema,
    target=TARGET,
    positive_label=POSITIVE_LABEL,
    id_column=ID_COLUMN,
    time_column=TIME_COLUMN,
    leaky_columns=LEAKY_COLUMNS,
    build_features=build_features,
    numeric_features=NUMERIC,
    categorical_features=CATEGORICAL,
    make_model=make_model,
    kpi_config=KpiConfig,
    profit=profit,
    compute_kpis=compute_kpis,
    kpi_gates=kpi_gates,
    make_synthetic=make_synthetic,
)
