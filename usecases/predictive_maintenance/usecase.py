"""Predictive maintenance: which machine operations are about to fail, and where does an
inspection cost less than the failure it prevents? Raw data follows the UCI AI4I 2020 file:
one row per operation, target `Machine failure` (0/1). Variant: fleet telemetry (below)."""

from dataclasses import replace
from functools import partial
from pathlib import Path

from shared.usecase import UseCase

from .features import (
    FleetSettings,
    build_features,
    build_fleet_features,
    check_columns,
    fleet_labels,
)
from .kpi import KpiConfig, compute_kpis, kpi_gates, profit
from .model import CATEGORICAL, NUMERIC, make_fleet_model, make_model
from .schema import (
    FLEET_ID_COLUMN,
    FLEET_LEAKY_COLUMNS,
    FLEET_TARGET,
    FLEET_TIME_COLUMN,
    ID_COLUMN,
    LEAKY_COLUMNS,
    POSITIVE_LABEL,
    TARGET,
    FleetSchema,
    RawSchema,
)
from .synthetic import make_synthetic, make_synthetic_fleet

SERVICE = "usecases.predictive_maintenance.service:PredictiveMaintenanceService"

USE_CASE = UseCase(
    name="predictive_maintenance",
    question=__doc__,
    task="binary",
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
    service=SERVICE,
    folder=Path(__file__).parent,
)


def configure_fleet(uc: UseCase, settings: FleetSettings) -> UseCase:
    """Fleet mode with config_fleet.yaml's settings: columns, sensors, windows and horizon H."""
    check_columns(settings, list(FleetSchema.to_schema().columns))
    numeric = settings.feature_names()
    # A failure is labelled on the H + 1 readings before it: each carries 1/(H + 1) of its cost.
    per_failure = settings.horizon + 1
    return replace(
        uc,
        target=settings.failure_column,
        id_column=settings.asset_column,
        time_column=settings.time_column,
        build_features=partial(build_fleet_features, settings=settings),
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
        task="binary_sequence",
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
        service=SERVICE,  # the same service answers /predict_fleet
        folder=Path(__file__).parent,
        time_column=FLEET_TIME_COLUMN,
        config_file="config_fleet.yaml",
        settings_model=FleetSettings,
        configure=configure_fleet,
    ),
    FleetSettings(),
)
VARIANTS = (FLEET_USE_CASE,)
