"""BentoML service for lead scoring: `bentoml serve usecases.lead_scoring.service:LeadScoringService`.

A thin layer over shared.serving.ClassifierPredictor; the root service (shared/service.py)
mounts the same class under /lead_scoring/. JSON keys are the CRM's column names, spaces
included ("Lead Source").
"""

from typing import Literal

import bentoml
import numpy as np
from pydantic import BaseModel, Field

from shared.serving import ClassifierPredictor, example_record, request_model

from .kpi import assign_bands
from .schema import ID_COLUMN, LEAD_NUMBER, TARGET, RawSchema
from .usecase import USE_CASE

CONFIG = USE_CASE.load_config()
MAX_RECORDS = CONFIG.serving.max_records
ROUTE = "/predict"

LeadRecord = request_model(RawSchema, exclude=[TARGET], name="LeadRecord")


class LeadScore(BaseModel):
    prospect_id: str = Field(description="echo of the request's Prospect ID")
    lead_number: int = Field(description="echo of the request's Lead Number")
    conversion_probability: float = Field(
        description="probability that the lead converts", examples=[0.62]
    )
    band: Literal["A", "B", "C", "D"] = Field(
        description="CRM band from the probability; lower bounds in config.yaml (kpi.bands)"
    )
    call: bool = Field(description="true = above the profit-optimal threshold: worth a call")
    model_version: str = Field(description="MLflow registered-model version that scored this")


@bentoml.service(name="lead_scoring", workers=1, logging={"access": {"enabled": False}})
class LeadScoringService:
    def __init__(self) -> None:
        self.predictor = ClassifierPredictor.from_store(USE_CASE)

    @bentoml.api(route=ROUTE)
    async def predict(
        self, records: list[LeadRecord] = Field(min_length=1, max_length=MAX_RECORDS)
    ) -> list[LeadScore]:
        """Conversion probability, CRM band and call decision for each lead."""
        scored = self.predictor.predict(records)
        bands = assign_bands(np.array([s["probability"] for s in scored]), CONFIG.kpi.bands)
        return [
            LeadScore(
                prospect_id=getattr(r, ID_COLUMN),
                lead_number=getattr(r, LEAD_NUMBER),
                conversion_probability=s["probability"],
                band=b,
                call=s["decision"],
                model_version=s["model_version"],
            )
            for r, s, b in zip(records, scored, bands, strict=True)
        ]


def example_payload(n_records: int = 1) -> dict:
    """A valid request body (from the field examples), for docs, tests and benchmarks."""
    return {"records": [example_record(LeadRecord)] * n_records}
