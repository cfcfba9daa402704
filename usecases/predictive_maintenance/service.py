"""BentoML service for predictive maintenance:
`bentoml serve usecases.predictive_maintenance.service:PredictiveMaintenanceService`.

POST /predict scores machine operations (snapshot rows, AI4I layout). POST /predict_fleet takes
assets' recent daily readings and returns each asset's risk of failing within H days. A thin
layer over shared.serving.ClassifierPredictor; the root service mounts it under
/predictive_maintenance/.
"""

from typing import Any

import bentoml
from bentoml.exceptions import InvalidArgument, ServiceUnavailable
from pydantic import BaseModel, Field

from shared.serving import ClassifierPredictor, example_record, request_model
from shared.store import ModelNotFound

from .schema import FLEET_TARGET, ID_COLUMN, LEAKY_COLUMNS, TARGET, FleetSchema, RawSchema
from .usecase import FLEET_USE_CASE, USE_CASE

MAX_RECORDS = USE_CASE.load_config().serving.max_records
FLEET_CONFIG = FLEET_USE_CASE.load_config()
FLEET = FLEET_USE_CASE.with_config(FLEET_CONFIG)
MAX_READINGS = FLEET_CONFIG.serving.max_records
ROUTE, FLEET_ROUTE = "/predict", "/predict_fleet"

OperationRecord = request_model(RawSchema, exclude=[TARGET], name="OperationRecord")
Reading = request_model(FleetSchema, exclude=[FLEET_TARGET], name="Reading")


class FailureRisk(BaseModel):
    UDI: int = Field(description="echo of the request's UDI")
    failure_probability: float = Field(
        description="probability this operation fails", examples=[0.03]
    )
    alarm: bool = Field(description="true = above the cost-optimal threshold: inspect first")
    model_version: str = Field(description="MLflow registered-model version that scored this")


class AssetRisk(BaseModel):
    asset_id: str = Field(description="the asset")  # ADAPT: your asset and time column names
    day: int = Field(description="day of the asset's latest reading, the one scored")
    failure_probability: float = Field(description="probability of failing within the horizon")
    horizon_days: int = Field(description="H: the horizon the probability is for")
    alarm: bool = Field(description="true = above the cost-optimal threshold: plan an intervention")
    model_version: str = Field(description="MLflow registered-model version that scored this")


@bentoml.service(name="predictive_maintenance", workers=1, logging={"access": {"enabled": False}})
class PredictiveMaintenanceService:
    def __init__(self) -> None:
        self.predictor = ClassifierPredictor.from_store(USE_CASE)
        self.fleet: ClassifierPredictor | None = None
        try:  # fleet mode is optional: /predict works without it, /predict_fleet says what to do
            self.fleet = ClassifierPredictor.from_store(FLEET)
            self.fleet_problem = ""
        except ModelNotFound as exc:
            self.fleet_problem = str(exc)
        trained = self.fleet.stored.metadata.get("settings") if self.fleet else None
        if trained is not None and trained != FLEET_CONFIG.settings.model_dump(mode="json"):
            raise RuntimeError(
                f"the fleet model was trained with settings {trained}, but config_fleet.yaml now "
                "says otherwise: retrain with `pilotpack train predictive_maintenance_fleet`"
            )

    @bentoml.api(route=ROUTE)
    async def predict(
        self, records: list[OperationRecord] = Field(min_length=1, max_length=MAX_RECORDS)
    ) -> list[FailureRisk]:
        """Failure probability and inspection alarm for each machine operation."""
        scored = self.predictor.predict(records)
        return [
            FailureRisk(
                UDI=getattr(r, ID_COLUMN),
                failure_probability=s["probability"],
                alarm=s["decision"],
                model_version=s["model_version"],
            )
            for r, s in zip(records, scored, strict=True)
        ]

    @bentoml.api(route=FLEET_ROUTE)
    async def predict_fleet(
        self, readings: list[Reading] = Field(min_length=1, max_length=MAX_READINGS)
    ) -> list[AssetRisk]:
        """Risk of failing within H days for each asset, from its recent readings (any order)."""
        if self.fleet is None:
            raise ServiceUnavailable(self.fleet_problem)
        keys = [(r.asset_id, r.day) for r in readings]
        if len(set(keys)) < len(keys):
            raise InvalidArgument("readings: an asset has two readings on the same day")
        horizon = FLEET_CONFIG.settings.horizon
        return [
            AssetRisk(
                asset_id=s["asset_id"],
                day=s["day"],
                failure_probability=s["probability"],
                horizon_days=horizon,
                alarm=s["decision"],
                model_version=s["model_version"],
            )
            for s in self.fleet.predict_latest(readings)
        ]


def example_payload(n_records: int = 1) -> dict[str, Any]:
    """A valid /predict body (from the field examples), for docs, tests and benchmarks.

    The failure-mode flags are left out: they are known only after the outcome.
    """
    base = {k: v for k, v in example_record(OperationRecord).items() if k not in LEAKY_COLUMNS}
    return {"records": [base | {"UDI": i + 1} for i in range(n_records)]}


def example_fleet_payload(n_days: int = 30, asset_id: str = "A0001") -> dict[str, Any]:
    """A valid /predict_fleet body: one asset's last `n_days` daily readings."""
    base = example_record(Reading)
    return {
        "readings": [
            base | {"asset_id": asset_id, "day": base["day"] + d, "cycle": base["cycle"] + d}
            for d in range(n_days)
        ]
    }
