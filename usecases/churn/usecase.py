"""Customer churn: which customers are about to leave, and whom should a retention campaign
contact so that the offers pay for themselves? Raw data follows the IBM Telco customer churn
file: one row per customer, target `Churn` (Yes/No)."""

from shared.core.usecase import Output, UseCase
from shared.tasks.binary import TASK as BINARY

from .features import build_features
from .kpi import KpiConfig, compute_kpis, kpi_gates, profit
from .model import CATEGORICAL, NUMERIC, make_model
from .schema import ID_COLUMN, LEAKY_COLUMNS, POSITIVE_LABEL, TARGET, RawSchema
from .synthetic import make_synthetic

USE_CASE = UseCase(
    question=__doc__,
    task=BINARY,
    raw_schema=RawSchema,
    target=TARGET,
    positive_label=POSITIVE_LABEL,
    id_column=ID_COLUMN,
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
    outputs=(  # ADAPT: the response's field names
        Output("churn_probability", "probability", "probability of churn"),
        Output("contact", "decision", "true = above the profit-optimal threshold: contact them"),
    ),
)
