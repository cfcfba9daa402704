"""The `monitoring:` section of every use case's config: alert thresholds and window sizes.

Defaults suit most pilots; a use case overrides them in its config.yaml. The generated
Prometheus rules (monitoring/) and `pilotpack monitor` read the same values.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class MonitoringConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    psi_alert: float = Field(
        0.2, gt=0, description="PSI at or above this on any model input or the score: alert"
    )
    psi_watch: float = Field(0.1, gt=0, description="PSI at or above this: worth a look")
    p_value: float = Field(
        0.01,
        gt=0,
        lt=1,
        description="KS / chi-square p-value under which a feature is flagged `test` (large "
        "windows make tiny, harmless shifts significant: PSI decides alerts)",
    )
    min_rows: int = Field(100, ge=10, description="rows a window needs before drift is judged")
    live_window: int = Field(
        2000, ge=50, description="recent records each service worker keeps for live PSI"
    )
    live_min_records: int = Field(
        300, ge=10, description="records in the live window before the PSI gauges are set"
    )
    live_every: int = Field(
        50, ge=1, description="recompute the live PSI gauges every this many records"
    )
    psi_for_minutes: int = Field(
        10, ge=0, description="minutes the live PSI stays above psi_alert before the alert fires"
    )
    metric_drop: float = Field(
        0.05,
        gt=0,
        lt=1,
        description="relative drop of the realised headline metric against the registered "
        "figure that raises an alert (0.05 = 5 %)",
    )
    min_outcomes: int = Field(200, ge=10, description="outcomes before realised metrics count")
    min_outcome_coverage: float = Field(
        0.8,
        ge=0,
        le=1,
        description="share of a window's predictions with an outcome before its realised "
        "figures are called complete (outcomes arrive late)",
    )
    error_rate_ratio: float = Field(
        2.0, gt=1, description="alert when the 5-minute error rate exceeds this x the 1-day one"
    )
    min_error_rate: float = Field(
        0.01, ge=0, le=1, description="error rates at or below this never alert"
    )
    traffic_stopped_minutes: int = Field(
        15, ge=1, description="minutes without a scored record before `traffic stopped` fires"
    )
    reference_sample_rows: int = Field(
        2000, ge=100, description="training rows stored with the model for KS / chi-square tests"
    )
    important_features: list[str] = Field(
        [],
        description="model inputs whose drift makes retraining due; [] = every input",
    )
