"""The pack's Prometheus metrics, all in one catalog (BentoML adds its own beside them).

Created once per process on first use, after BentoML has set up Prometheus' multiprocess
folder: creating them at import would bind them to the wrong folder (or none).

Latency buckets carry the SLA's own edge (config `rollout.sla_ms`, 200 ms by default):
with BentoML's default buckets a p99 read from the histogram jumps from 100 to 250 ms.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

SLA_MS = 200.0  # RolloutConfig.sla_ms's default: its edge is in every latency histogram
_BASE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0)


def latency_buckets(sla_ms: float = SLA_MS) -> tuple[float, ...]:
    """Histogram buckets (seconds) with the SLA's edge among them."""
    return tuple(sorted({*_BASE_BUCKETS, sla_ms / 1000, SLA_MS / 1000, 2.5, 5.0}))


@dataclass(frozen=True)
class Metrics:
    """Every metric the pack exports; label names are the same in every use case."""

    predictions: Counter  # use_case, model_version
    unknown: Counter  # use_case, field
    score: Histogram  # use_case
    seconds: Histogram  # use_case, variant
    errors: Counter  # use_case, variant
    rollbacks: Counter  # use_case, cause
    variant: Counter  # use_case, variant, model_version
    no_key: Counter  # use_case
    shadow_dropped: Counter  # use_case
    feature_psi: Gauge  # use_case, feature, model_version
    live_records: Gauge  # use_case, model_version
    auth_rejected: Counter  # status


@cache
def catalog() -> Metrics:
    """The one set of metric objects of this process."""
    return Metrics(
        predictions=Counter(
            "pilotpack_predictions_total", "Records scored", ["use_case", "model_version"]
        ),
        unknown=Counter(
            "pilotpack_unknown_category_total",
            "Category values not seen in training, scored as unknown",
            ["use_case", "field"],
        ),
        score=Histogram(
            "pilotpack_score",
            "Predicted probability",
            ["use_case"],
            buckets=[i / 10 for i in range(1, 11)],
        ),
        seconds=Histogram(
            "pilotpack_variant_scoring_seconds",
            "Scoring time of one request's records per variant (model, features, no HTTP)",
            ["use_case", "variant"],
            buckets=latency_buckets(),
        ),
        errors=Counter(
            "pilotpack_variant_errors_total",
            "Records whose scoring failed, per variant (a failed challenger's are answered by "
            "the champion)",
            ["use_case", "variant"],
        ),
        rollbacks=Counter(
            "pilotpack_rollout_rollbacks_total",
            "Automatic rollbacks of a challenger",
            ["use_case", "cause"],
        ),
        variant=Counter(
            "pilotpack_variant_records_total",
            "Records scored per variant",
            ["use_case", "variant", "model_version"],
        ),
        no_key=Counter(
            "pilotpack_routing_key_missing_total",
            "Records without a routing key: answered by the champion",
            ["use_case"],
        ),
        shadow_dropped=Counter(
            "pilotpack_shadow_dropped_total",
            "Shadow scorings skipped because the shadow queue was full",
            ["use_case"],
        ),
        feature_psi=Gauge(
            "pilotpack_feature_psi",
            "PSI of a model input (or the score) over the recent window vs training",
            ["use_case", "feature", "model_version"],
            multiprocess_mode="livemax",
        ),
        live_records=Gauge(
            "pilotpack_live_window_records",
            "Records in the live drift window",
            ["use_case", "model_version"],
            multiprocess_mode="livemax",
        ),
        auth_rejected=Counter(
            "pilotpack_auth_rejected_total", "Requests refused by auth", ["status"]
        ),
    )


def duration_config(sla_ms: float) -> dict[str, Any]:
    """`bentoml.service(metrics=...)`: BentoML's request histogram with the SLA's edge."""
    return {
        "enabled": True,
        "namespace": "bentoml_service",
        "duration": {"buckets": list(latency_buckets(sla_ms))},
    }
