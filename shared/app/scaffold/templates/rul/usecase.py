"""ADAPT: the business question, ending with a question mark? Written by `pilotpack new --rul`
from the team's run-to-failure file: rows per unit over time; the label is the remaining life
(time left before the unit's failure), capped (README.md names the file and the columns)."""

from dataclasses import replace
from functools import partial

from shared.core.history import remaining_life, remaining_life_features
from shared.core.usecase import Output, UseCase
from shared.tasks.regression import TASK as REGRESSION

from .features import Settings
from .kpi import KpiConfig, compute_kpis, kpi_gates, profit
from .model import make_model
from .schema import ID_COLUMN, LEAKY_COLUMNS, TARGET, TIME_COLUMN, RawSchema
from .synthetic import make_synthetic


def configure(uc: UseCase, settings: Settings) -> UseCase:
    """Columns, windows and the cap from config.yaml's `settings:`."""
    columns = list(RawSchema.to_schema().columns)
    named = [settings.entity_column, settings.time_column, *settings.sensors]
    if missing := [c for c in named if c not in columns]:
        raise ValueError(f"config.yaml settings name columns not in the schema: {missing}")
    numeric = settings.feature_names()
    features = partial(remaining_life_features, s=settings)
    return replace(
        uc,
        target=settings.target_column,
        id_column=settings.entity_column,
        time_column=settings.time_column,
        build_features=features,
        build_features_at=features,  # the latest records only, when serving
        make_labels=partial(remaining_life, s=settings),
        numeric_features=numeric,
        make_model=partial(make_model, numeric=numeric),
    )


USE_CASE = configure(
    UseCase(
        question=__doc__,
        task=REGRESSION,
        raw_schema=RawSchema,
        target=TARGET,
        id_column=ID_COLUMN,
        time_column=TIME_COLUMN,
        leaky_columns=LEAKY_COLUMNS,
        history=True,
        build_features=partial(remaining_life_features, s=Settings()),
        make_model=make_model,
        kpi_config=KpiConfig,
        profit=profit,
        compute_kpis=compute_kpis,
        kpi_gates=kpi_gates,
        make_synthetic=make_synthetic,
        settings_model=Settings,
        configure=configure,
        outputs=(Output("remaining_life", "prediction", "predicted time left before failure"),),
    ),
    Settings(),
)
