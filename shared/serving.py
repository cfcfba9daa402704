"""Plain predictor classes and request models that the BentoML services are a thin layer over.

No pandas in the request path: records -> column arrays -> build_features -> ONNX feed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cache
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, create_model

from shared.onnx_export import make_feed, onnx_proba, session
from shared.store import StoredModel, load_model
from shared.usecase import UseCase

_NUMERIC = {"int64": int, "int32": int, "float64": float, "float32": float, "bool": bool}


def _field_type(column: Any) -> tuple[Any, dict[str, Any]]:
    """pandera column -> (python type, pydantic Field constraints)."""
    constraints: dict[str, Any] = {}
    typ: Any = _NUMERIC.get(str(column.dtype), str)
    for check in column.checks:
        stats = check.statistics or {}
        if check.name == "isin":
            typ = Literal[tuple(stats["allowed_values"])]
        elif check.name == "greater_than_or_equal_to":
            constraints["ge"] = stats["min_value"]
        elif check.name == "less_than_or_equal_to":
            constraints["le"] = stats["max_value"]
        elif check.name == "greater_than":
            constraints["gt"] = stats["min_value"]
        elif check.name == "less_than":
            constraints["lt"] = stats["max_value"]
        elif check.name == "in_range":
            constraints["ge"], constraints["le"] = stats["min_value"], stats["max_value"]
        elif check.name == "str_matches":
            constraints["pattern"] = stats["pattern"]
        elif check.name == "str_length":
            if stats.get("min_value") is not None:
                constraints["min_length"] = stats["min_value"]
            if stats.get("max_value") is not None:
                constraints["max_length"] = stats["max_value"]
    return typ, constraints


def request_model(schema: Any, exclude: Sequence[str], name: str) -> type[BaseModel]:
    """A pydantic model with one field per raw column (minus `exclude`), checks included.

    Built from the pandera RawSchema so that training and serving accept exactly the same
    values; nullable columns may be omitted or null.
    """
    fields: dict[str, Any] = {}
    for col_name, column in schema.to_schema().columns.items():
        if col_name in exclude:
            continue
        typ, constraints = _field_type(column)
        example = (column.metadata or {}).get("example")
        extra = {"description": column.description or col_name}
        if example is not None:
            extra["examples"] = [example]
        if column.nullable:
            fields[col_name] = (typ | None, Field(None, **constraints, **extra))
        else:
            fields[col_name] = (typ, Field(..., **constraints, **extra))
    config = ConfigDict(extra="forbid", populate_by_name=True)
    return create_model(name, __config__=config, **fields)


def example_record(model: type[BaseModel]) -> dict[str, Any]:
    """One valid request record made of the field examples (for docs, tests and benchmarks)."""
    return {n: (f.examples or [None])[0] for n, f in model.model_fields.items()}


def records_to_columns(records: Sequence[BaseModel], names: Sequence[str]) -> dict[str, np.ndarray]:
    """Request records -> one object array per raw column; None becomes NaN as in a CSV read."""
    return {
        n: np.array([np.nan if (v := getattr(r, n)) is None else v for r in records], dtype=object)
        for n in names
    }


@cache
def _metrics() -> dict[str, Any]:
    """Created on first use, after BentoML has set up Prometheus' multiprocess folder."""
    from prometheus_client import Counter, Histogram

    return {
        "predictions": Counter(
            "pilotpack_predictions_total", "Records scored", ["use_case", "model_version"]
        ),
        "unknown": Counter(
            "pilotpack_unknown_category_total",
            "Category values not seen in training, scored as unknown",
            ["use_case", "field"],
        ),
        "score": Histogram(
            "pilotpack_score",
            "Predicted probability",
            ["use_case"],
            buckets=[i / 10 for i in range(1, 11)],
        ),
    }


def model_tag(uc: UseCase) -> str:
    """PILOTPACK_MODEL_<NAME> pins a version; by default the latest model in the store."""
    return os.environ.get(f"PILOTPACK_MODEL_{uc.name.upper()}", f"{uc.name}:latest")


class ClassifierPredictor:
    """Loads the ONNX model once; scores request records without pandas."""

    def __init__(self, uc: UseCase, stored: StoredModel):
        self.uc = uc
        self.stored = stored
        self.session = session(str(stored.onnx_path))
        self.threshold = float(stored.metadata["threshold"])
        self.version = str(stored.metadata.get("mlflow_version") or stored.tag)
        self.categories = {k: set(v) for k, v in stored.metadata.get("categories", {}).items()}
        self.fields = [n for n in uc.raw_schema.to_schema().columns if n != uc.target]

    @classmethod
    def from_store(cls, uc: UseCase) -> ClassifierPredictor:
        return cls(uc, load_model(model_tag(uc)))

    def predict_proba(self, records: Sequence[BaseModel]) -> np.ndarray:
        features = self.uc.build_features(records_to_columns(records, self.fields))
        self._count_unknown(features)
        feed = make_feed(features, self.uc.numeric_features, self.uc.categorical_features)
        return onnx_proba(self.session, feed)

    def predict(self, records: Sequence[BaseModel]) -> list[dict[str, Any]]:
        """Per record: probability, decision at the trained threshold, model version."""
        return self._scored(self.predict_proba(records))

    def predict_latest(self, records: Sequence[BaseModel]) -> list[dict[str, Any]]:
        """For features built from each entity's history: score each entity's latest record.

        Records are the recent history of one or more entities (id and time columns of the use
        case), in any order; features use all of them, one result per entity comes back, in
        order of first appearance, with the entity id and the time of the record scored.
        """
        uc = self.uc
        if uc.id_column is None or uc.time_column is None:
            raise ValueError(f"{uc.name} declares no id and time columns to find latest records")
        latest: dict[Any, int] = {}
        for i, r in enumerate(records):
            key, t = getattr(r, uc.id_column), getattr(r, uc.time_column)
            if key not in latest or t > getattr(records[latest[key]], uc.time_column):
                latest[key] = i
        features = uc.build_features(records_to_columns(records, self.fields))
        rows = np.fromiter(latest.values(), dtype=np.int64, count=len(latest))
        chosen = {k: np.asarray(v)[rows] for k, v in features.items()}
        self._count_unknown(chosen)
        feed = make_feed(chosen, uc.numeric_features, uc.categorical_features)
        scored = self._scored(onnx_proba(self.session, feed))
        return [
            s | {uc.id_column: key, uc.time_column: getattr(records[i], uc.time_column)}
            for s, (key, i) in zip(scored, latest.items(), strict=True)
        ]

    def _scored(self, proba: np.ndarray) -> list[dict[str, Any]]:
        m = _metrics()
        m["predictions"].labels(self.uc.name, self.version).inc(len(proba))
        for p in proba:
            m["score"].labels(self.uc.name).observe(float(p))
        return [
            {
                "probability": float(p),
                "decision": bool(p >= self.threshold),
                "model_version": self.version,
            }
            for p in proba
        ]

    def _count_unknown(self, features: dict[str, np.ndarray]) -> None:
        for field, known in self.categories.items():
            unseen = sum(1 for v in features[field] if str(v) not in known)
            if unseen:
                _metrics()["unknown"].labels(self.uc.name, field).inc(unseen)
