"""What is domain-specific about the lead-scoring API: the CRM band of each score.

The core's service factory builds the rest (`bentoml serve shared.serve.services:lead_scoring`);
JSON keys are the CRM's column names, spaces included ("Lead Source").
"""

from typing import Any

import numpy as np

from .kpi import assign_bands


def enrich(scored: list[dict[str, Any]], cfg: Any) -> None:
    """Add the band (A-D by the probability's lower bounds in kpi.bands) to each result."""
    bands = assign_bands(np.array([s["probability"] for s in scored]), cfg.kpi.bands)
    for s, band in zip(scored, bands, strict=True):
        s["band"] = str(band)
