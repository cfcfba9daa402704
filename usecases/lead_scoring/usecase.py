"""Lead scoring: which new leads will become paying customers, and which K should the sales
team call this week? Raw data follows the X Education leads file: one row per lead, target
`Converted` (0/1), columns the sales team fills in after the call excluded as leaky."""

from shared.core.usecase import Output, UseCase
from shared.tasks.binary import TASK as BINARY

from .features import build_features
from .kpi import KpiConfig, compute_kpis, kpi_gates, profit
from .model import CATEGORICAL, NUMERIC, make_model
from .schema import ID_COLUMN, LEAD_NUMBER, LEAKY_COLUMNS, POSITIVE_LABEL, TARGET, RawSchema
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
    outputs=(  # ADAPT: the response's field names; `band` comes from service.py
        Output("prospect_id", f"record.{ID_COLUMN}", f"echo of the request's {ID_COLUMN}"),
        Output("lead_number", f"record.{LEAD_NUMBER}", f"echo of the request's {LEAD_NUMBER}"),
        Output("conversion_probability", "probability", "probability that the lead converts"),
        Output("band", "band", "CRM band A-D from the probability (config.yaml kpi.bands)"),
        Output("call", "decision", "true = above the profit-optimal threshold: worth a call"),
    ),
)
