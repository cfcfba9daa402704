"""ADAPT: the business question, ending with a question mark? Written by `pilotpack new`
from the team's file: rows per entity over time; the label is the event within the next H
time units (README.md names the file and the columns)."""

from dataclasses import replace
from functools import partial

from shared.core.history import check_columns, event_labels, history_features
from shared.core.usecase import UseCase
from shared.tasks.binary_sequence import TASK as BINARY_SEQUENCE

from .features import Settings
from .kpi import KpiConfig, compute_kpis, kpi_gates, profit
from .model import make_model
from .schema import ID_COLUMN, LEAKY_COLUMNS, TARGET, TIME_COLUMN, RawSchema
from .synthetic import make_synthetic


def configure(uc: UseCase, settings: Settings) -> UseCase:
    """Columns, windows and horizon from config.yaml's `settings:`."""
    check_columns(settings, list(RawSchema.to_schema().columns), "config.yaml")
    numeric = settings.feature_names()
    features = partial(history_features, s=settings)
    return replace(
        uc,
        target=settings.event_column,
        id_column=settings.entity_column,
        time_column=settings.time_column,
        build_features=features,
        build_features_at=features,  # the latest records only, when serving
        make_labels=partial(event_labels, s=settings),
        numeric_features=numeric,
        make_model=partial(make_model, numeric=numeric),
    )


USE_CASE = configure(
    UseCase(
        question=__doc__,
        task=BINARY_SEQUENCE,
        raw_schema=RawSchema,
        target=TARGET,
        id_column=ID_COLUMN,
        time_column=TIME_COLUMN,
        leaky_columns=LEAKY_COLUMNS,
        history=True,
        build_features=partial(history_features, s=Settings()),
        make_model=make_model,
        kpi_config=KpiConfig,
        profit=profit,
        compute_kpis=compute_kpis,
        kpi_gates=kpi_gates,
        make_synthetic=make_synthetic,
        settings_model=Settings,
        configure=configure,
    ),
    Settings(),
)
