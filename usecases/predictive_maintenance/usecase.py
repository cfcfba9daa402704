"""Predictive maintenance: which machine operations are about to fail, and where does an
inspection cost less than the failure it prevents? Raw data follows the UCI AI4I 2020 file:
one row per operation, target `Machine failure` (0/1). Variants below: fleet telemetry
("fails within H days") and remaining useful life (cycles)."""

from dataclasses import replace
from functools import partial

from shared.core.history import history_features, remaining_life_features
from shared.core.usecase import Output, UseCase
from shared.tasks.binary import TASK as BINARY
from shared.tasks.binary_sequence import TASK as BINARY_SEQUENCE
from shared.tasks.regression import TASK as REGRESSION

from .features import (
    FleetSettings,
    RulSettings,
    as_history,
    as_remaining_life,
    build_features,
    check_columns,
    check_rul_columns,
    fleet_labels,
    rul_labels,
)
from .kpi import (
    KpiConfig,
    RulKpiConfig,
    compute_kpis,
    compute_rul_kpis,
    kpi_gates,
    profit,
    rul_kpi_gates,
)
from .model import CATEGORICAL, NUMERIC, make_fleet_model, make_model, make_rul_model
from .schema import (
    FLEET_ID_COLUMN,
    FLEET_LEAKY_COLUMNS,
    FLEET_TARGET,
    FLEET_TIME_COLUMN,
    ID_COLUMN,
    LEAKY_COLUMNS,
    POSITIVE_LABEL,
    RUL_ID_COLUMN,
    RUL_LEAKY_COLUMNS,
    RUL_TARGET,
    RUL_TIME_COLUMN,
    TARGET,
    FleetSchema,
    RawSchema,
    RulSchema,
)
from .synthetic import make_synthetic, make_synthetic_fleet, make_synthetic_rul

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
        Output("failure_probability", "probability", "probability this operation fails"),
        Output("alarm", "decision", "true = above the cost-optimal threshold: inspect first"),
    ),
)


def configure_fleet(uc: UseCase, settings: FleetSettings) -> UseCase:
    """Fleet mode with config_fleet.yaml's settings: columns, sensors, windows and horizon H."""
    check_columns(settings, list(FleetSchema.to_schema().columns))
    numeric = settings.feature_names()
    # A failure is labelled on the H + 1 readings before it: each carries 1/(H + 1) of its cost.
    per_failure = settings.horizon + 1
    # the settings in the core's terms once, not on every request
    features = partial(history_features, s=as_history(settings))
    return replace(
        uc,
        target=settings.failure_column,
        id_column=settings.asset_column,
        time_column=settings.time_column,
        build_features=features,
        build_features_at=features,  # the latest records only, when serving
        make_labels=partial(fleet_labels, settings=settings),
        numeric_features=numeric,
        make_model=partial(make_fleet_model, numeric=numeric),
        profit=partial(profit, rows_per_failure=per_failure),
        compute_kpis=partial(compute_kpis, rows_per_failure=per_failure),
    )


FLEET_USE_CASE = configure_fleet(
    UseCase(
        name="predictive_maintenance_fleet",
        question="""Predictive maintenance, fleet telemetry: which assets will fail within the
next H days, judged from each asset's recent sensor readings? Raw data: daily readings per
asset plus the day it failed (empty when censored); label = fails within the next H days.""",
        task=BINARY_SEQUENCE,
        raw_schema=FleetSchema,
        target=FLEET_TARGET,
        positive_label=1,
        id_column=FLEET_ID_COLUMN,
        leaky_columns=FLEET_LEAKY_COLUMNS,
        build_features=build_features,  # replaced by configure_fleet
        numeric_features=(),
        categorical_features=(),
        make_model=make_model,
        kpi_config=KpiConfig,
        profit=profit,
        compute_kpis=compute_kpis,
        kpi_gates=kpi_gates,
        make_synthetic=make_synthetic_fleet,
        time_column=FLEET_TIME_COLUMN,
        history=True,
        outputs=(
            Output("failure_probability", "probability", "probability of failing within H days"),
            Output("alarm", "decision", "true = above the cost-optimal threshold: intervene"),
        ),
        config_file="config_fleet.yaml",
        settings_model=FleetSettings,
        configure=configure_fleet,
    ),
    FleetSettings(),
)


def configure_rul(uc: UseCase, settings: RulSettings) -> UseCase:
    """Remaining-useful-life mode with config_rul.yaml's settings: columns, sensors, windows."""
    check_rul_columns(settings, list(RulSchema.to_schema().columns))
    numeric = settings.feature_names()
    features = partial(remaining_life_features, s=as_remaining_life(settings))
    return replace(
        uc,
        target=settings.target_column,
        id_column=settings.id_column,
        time_column=settings.time_column,
        build_features=features,
        build_features_at=features,  # the latest records only, when serving
        make_labels=partial(rul_labels, settings=settings),
        numeric_features=numeric,
        make_model=partial(make_rul_model, numeric=numeric),
    )


RUL_USE_CASE = configure_rul(
    UseCase(
        name="predictive_maintenance_rul",
        question="""Predictive maintenance, remaining useful life: how many cycles has each
engine left before it fails, and when should its overhaul be planned? Raw data follows NASA
C-MAPSS FD003: one reading per engine and cycle, target `rul` (cycles left; capped).""",
        task=REGRESSION,
        raw_schema=RulSchema,
        target=RUL_TARGET,
        id_column=RUL_ID_COLUMN,
        time_column=RUL_TIME_COLUMN,
        leaky_columns=RUL_LEAKY_COLUMNS,
        build_features=build_features,  # replaced by configure_rul
        make_model=make_rul_model,
        kpi_config=RulKpiConfig,
        compute_kpis=compute_rul_kpis,
        kpi_gates=rul_kpi_gates,
        make_synthetic=make_synthetic_rul,
        history=True,
        config_file="config_rul.yaml",
        settings_model=RulSettings,
        configure=configure_rul,
        outputs=(Output("rul_cycles", "prediction", "predicted remaining useful life, cycles"),),
    ),
    RulSettings(),
)
VARIANTS = (FLEET_USE_CASE, RUL_USE_CASE)
