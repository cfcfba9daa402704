"""The record predictor: request models built from the schema, and the ONNX model scoring
request records without pandas (records -> column arrays -> build_features -> ONNX feed).

The service factory (shared/serve/factory.py), batch scoring and monitoring all score through
it; it needs no serving framework beyond BentoML's exception for a 400.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Annotated, Any, Literal, get_args

import numpy as np
from bentoml.exceptions import InvalidArgument
from pydantic import BaseModel, ConfigDict, Field, create_model

from shared.core.champion import model_tag
from shared.core.onnx_export import make_feed, session
from shared.core.store import StoredModel, load_model
from shared.core.usecase import UseCase
from shared.serve.guard import json_strict
from shared.serve.metrics import catalog
from shared.serve.metrics import observe as live_drift

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
        base, constraints = _field_type(column)
        # Bounds on the type itself, before the strict-JSON validator: applied after it (or
        # on `float | None`) pydantic still enforces them but publishes them as unknown
        # keywords (`ge`, `le`) that OpenAPI clients such as schemathesis ignore.
        typ = Annotated[base, Field(**constraints)] if constraints else base
        if base in (int, float, bool) or any(type(v) is int for v in getattr(base, "__args__", ())):
            # JSON bodies: no `true` or "61.2" for a number, no NaN / inf, no `false` for 0
            typ = Annotated[typ, json_strict(bool if base is bool else float)]
        example = (column.metadata or {}).get("example")
        extra = {"description": column.description or col_name}
        if example is not None:
            extra["examples"] = [example]
        if column.nullable:
            fields[col_name] = (typ | None, Field(None, **extra))
        else:
            fields[col_name] = (typ, Field(..., **extra))
    config = ConfigDict(extra="forbid", populate_by_name=True)
    return create_model(name, __config__=config, **fields)


def example_record(model: type[BaseModel]) -> dict[str, Any]:
    """One valid request record made of the field examples (for docs, tests and benchmarks);
    a required field without an example gets the smallest value its type and bounds allow."""
    return {
        n: f.examples[0] if f.examples else (None if not f.is_required() else _fallback(f))
        for n, f in model.model_fields.items()
    }


def _fallback(field: Any) -> Any:
    bounds = {k: getattr(m, k) for m in field.metadata for k in ("ge", "gt") if hasattr(m, k)}
    typ = field.annotation
    if get_args(typ):  # Literal[...]: its first value
        return get_args(typ)[0]
    if typ in (int, float):
        low = bounds.get("ge", bounds.get("gt", 0))
        return typ(low + (1 if "gt" in bounds else 0))
    return "example"


def records_to_columns(records: Sequence[BaseModel], names: Sequence[str]) -> dict[str, np.ndarray]:
    """Request records -> one object array per raw column; None becomes NaN as in a CSV read."""
    return {
        n: np.array([np.nan if (v := getattr(r, n)) is None else v for r in records], dtype=object)
        for n in names
    }


def hooks(uc: UseCase) -> ModuleType | None:
    """The use case folder's service.py, when it has one: domain-specific additions.

    It may define `enrich(scored: list[dict], cfg) -> None` to add response values (e.g. a
    CRM band from the probability) that the use case's `outputs` then name.
    """
    name = f"{uc.package}.service"
    return importlib.import_module(name) if importlib.util.find_spec(name) else None


class RecordPredictor:
    """Loads the ONNX model once; scores request records without pandas."""

    def __init__(self, uc: UseCase, stored: StoredModel, cfg: Any):
        self.uc, self.stored, self.cfg = uc, stored, cfg
        self.task = uc.task
        self.session = session(str(stored.onnx_path))
        self.output = self.session.get_outputs()[-1].name
        self.version = str(stored.metadata.get("mlflow_version") or stored.tag)
        self.categories = {k: set(v) for k, v in stored.metadata.get("categories", {}).items()}
        self.fields = [n for n in uc.raw_schema.to_schema().columns if n != uc.target]
        self.hooks = hooks(uc)
        trained = stored.metadata.get("settings")
        current = (
            cfg.settings.model_dump(mode="json", exclude_none=True)
            if getattr(cfg, "settings", None)
            else None
        )
        if trained is not None and trained != current:
            raise RuntimeError(
                f"the stored {uc.name} model was trained with settings {trained}, but "
                f"{uc.config_file} now says {current}: retrain with `pilotpack train {uc.name}`"
            )

    @classmethod
    def from_store(cls, uc: UseCase, cfg: Any | None = None) -> RecordPredictor:
        """The champion (or the pinned model)."""
        cfg = cfg or uc.load_config()
        return cls(uc.with_config(cfg), load_model(model_tag(uc)), cfg)

    @classmethod
    def loader(cls, uc: UseCase, cfg: Any) -> Callable[[StoredModel], RecordPredictor]:
        """stored model -> predictor, for the rollout's `Deployment` (champion, challenger)."""
        configured = uc.with_config(cfg)
        return lambda stored: cls(configured, stored, cfg)

    def values(self, features: dict[str, np.ndarray]) -> np.ndarray:
        """The model's output per row: positive-class probability, or the predicted number."""
        self._count_unknown(features)
        feed = make_feed(features, self.uc.numeric_features, self.uc.categorical_features)
        out = self.session.run([self.output], feed)[0]
        values = (out[:, 1] if out.ndim == 2 and out.shape[1] == 2 else out.reshape(-1)).astype(
            np.float64
        )
        live_drift(self.uc.name, self.stored, features, values, self.cfg)  # PSI gauges
        return values

    def predict(self, records: Sequence[BaseModel]) -> list[dict[str, Any]]:
        """Per record: the task's values (probability + decision, or prediction) and version."""
        features = self.uc.build_features(records_to_columns(records, self.fields))
        return self._scored(self.values(features))

    def predict_latest(self, records: Sequence[BaseModel]) -> list[dict[str, Any]]:
        """For features built from each entity's history: score each entity's latest record.

        Records are the recent history of one or more entities (id and time columns of the use
        case), in any order; features use all of them, one result per entity comes back, in
        order of first appearance, with the entity id and the time of the record scored.
        """
        uc = self.uc
        keys = [(getattr(r, uc.id_column), getattr(r, uc.time_column)) for r in records]
        if len(set(keys)) < len(keys):  # a 400 naming the problem
            raise InvalidArgument(
                f"records: an entity ({uc.id_column}) has two records at the same {uc.time_column}"
            )
        latest: dict[Any, int] = {}
        for i, r in enumerate(records):
            key, t = getattr(r, uc.id_column), getattr(r, uc.time_column)
            if key not in latest or t > getattr(records[latest[key]], uc.time_column):
                latest[key] = i
        features = uc.build_features(records_to_columns(records, self.fields))
        rows = np.fromiter(latest.values(), dtype=np.int64, count=len(latest))
        scored = self._scored(self.values({k: np.asarray(v)[rows] for k, v in features.items()}))
        return [
            s | {uc.id_column: key, uc.time_column: getattr(records[i], uc.time_column), "_row": i}
            for s, (key, i) in zip(scored, latest.items(), strict=True)
        ]

    def columns(self, records: Sequence[BaseModel]) -> dict[str, np.ndarray]:
        """Request records -> the raw columns the use case's features are built from."""
        return records_to_columns(records, self.fields)

    def _scored(self, values: np.ndarray) -> list[dict[str, Any]]:
        m = catalog()
        m.predictions.labels(self.uc.name, self.version).inc(len(values))
        score = m.score.labels(self.uc.name)
        for v in values:
            score.observe(float(v))
        scored = self.task.scored(values, self.stored.metadata)
        if self.hooks is not None and hasattr(self.hooks, "enrich"):
            self.hooks.enrich(scored, self.cfg)
        return [s | {"model_version": self.version} for s in scored]

    def _count_unknown(self, features: dict[str, np.ndarray]) -> None:
        for field, known in self.categories.items():
            unseen = sum(1 for v in features[field] if str(v) not in known)
            if unseen:
                catalog().unknown.labels(self.uc.name, field).inc(unseen)
