"""BentoML service for churn: `bentoml serve usecases.churn.service:ChurnService`.

A thin layer over shared.serving.ClassifierPredictor; the root service (shared/service.py)
mounts the same class under /churn/.
"""

import bentoml
from pydantic import BaseModel, Field

from shared.serving import ClassifierPredictor, example_record, request_model

from .schema import ID_COLUMN, TARGET, RawSchema
from .usecase import USE_CASE

MAX_RECORDS = USE_CASE.load_config().serving.max_records
ROUTE = "/predict"

CustomerRecord = request_model(RawSchema, exclude=[TARGET], name="CustomerRecord")


class ChurnPrediction(BaseModel):
    customerID: str = Field(description="echo of the request's customerID")
    churn_probability: float = Field(description="probability of churn", examples=[0.42])
    contact: bool = Field(description="true = above the profit-optimal threshold: contact them")
    model_version: str = Field(description="MLflow registered-model version that scored this")


@bentoml.service(name="churn", workers=1, logging={"access": {"enabled": False}})
class ChurnService:
    def __init__(self) -> None:
        self.predictor = ClassifierPredictor.from_store(USE_CASE)

    @bentoml.api(route="/predict")
    async def predict(
        self, records: list[CustomerRecord] = Field(min_length=1, max_length=MAX_RECORDS)
    ) -> list[ChurnPrediction]:
        """Churn probability and contact decision for each customer record."""
        scored = self.predictor.predict(records)
        return [
            ChurnPrediction(
                customerID=getattr(r, ID_COLUMN),
                churn_probability=s["probability"],
                contact=s["decision"],
                model_version=s["model_version"],
            )
            for r, s in zip(records, scored, strict=True)
        ]


def example_payload(n_records: int = 1) -> dict:
    """A valid request body (from the field examples), for docs, tests and benchmarks."""
    return {"records": [example_record(CustomerRecord)] * n_records}
