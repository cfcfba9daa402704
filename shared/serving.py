"""The service factory: request models from the schema, response models from the use case's
declared outputs, one predictor class, and the BentoML service built from them.

No pandas in the request path: records -> column arrays -> build_features -> ONNX feed.
A use case's optional service.py adds only what is domain-specific (see `hooks`).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Sequence
from functools import cache
from types import ModuleType
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, create_model

from shared.onnx_export import make_feed, session
from shared.store import StoredModel, load_model
from shared.usecase import Output, UseCase

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
    """One valid request record made of the field examples (for docs, tests and benchmarks);
    a required field without an example gets the smallest value its type and bounds allow."""
    return {
        n: f.examples[0] if f.examples else (None if not f.is_required() else _fallback(f))
        for n, f in model.model_fields.items()
    }


def _fallback(field: Any) -> Any:
    from typing import get_args

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
        from shared.tasks import get_task

        self.uc, self.stored, self.cfg = uc, stored, cfg
        self.task = get_task(uc.task)
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
        cfg = cfg or uc.load_config()
        return cls(uc.with_config(cfg), load_model(model_tag(uc)), cfg)

    def values(self, features: dict[str, np.ndarray]) -> np.ndarray:
        """The model's output per row: positive-class probability, or the predicted number."""
        self._count_unknown(features)
        feed = make_feed(features, self.uc.numeric_features, self.uc.categorical_features)
        out = self.session.run([self.output], feed)[0]
        return (out[:, 1] if out.ndim == 2 and out.shape[1] == 2 else out.reshape(-1)).astype(
            np.float64
        )

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
        if len(set(keys)) < len(keys):
            from bentoml.exceptions import InvalidArgument  # a 400 naming the problem

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

    def _scored(self, values: np.ndarray) -> list[dict[str, Any]]:
        m = _metrics()
        m["predictions"].labels(self.uc.name, self.version).inc(len(values))
        for v in values:
            m["score"].labels(self.uc.name).observe(float(v))
        scored = self.task.scored(values, self.stored.metadata)
        if self.hooks is not None and hasattr(self.hooks, "enrich"):
            self.hooks.enrich(scored, self.cfg)
        return [s | {"model_version": self.version} for s in scored]

    def _count_unknown(self, features: dict[str, np.ndarray]) -> None:
        for field, known in self.categories.items():
            unseen = sum(1 for v in features[field] if str(v) not in known)
            if unseen:
                _metrics()["unknown"].labels(self.uc.name, field).inc(unseen)


_OUTPUT_TYPES: dict[str, Any] = {"probability": float, "decision": bool, "prediction": float}


def response_model(uc: UseCase, task: Any, request: type[BaseModel]) -> type[BaseModel]:
    """One field per declared output (the task's defaults when none), echoes included."""
    fields: dict[str, Any] = {}
    outputs: tuple[Output, ...] = uc.outputs or task.default_outputs(uc)
    echo = [uc.id_column] if uc.id_column else []
    if uc.history:
        echo.append(uc.time_column)
    declared = {o.source.removeprefix("record.") for o in outputs if o.source.startswith("record.")}
    for col in echo:
        if col not in declared:
            outputs = (Output(col, f"record.{col}", f"echo of the request's {col}"), *outputs)
    for o in outputs:
        if o.source.startswith("record."):
            typ = request.model_fields[o.source.removeprefix("record.")].annotation
        else:
            typ = _OUTPUT_TYPES.get(o.source, str)
        fields[o.name] = (typ, Field(description=o.description))
    fields["model_version"] = (str, Field(description="MLflow model version that answered"))
    return create_model(_class_name(uc.name, "Result"), **fields)


def respond(
    outputs: dict[str, str], records: Sequence[BaseModel], scored: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Scored values and echoed request fields under the response's names."""
    rows = []
    for r, s in zip(records, scored, strict=True):
        row = {}
        for name, source in outputs.items():
            if source.startswith("record."):
                col = source.removeprefix("record.")
                row[name] = s[col] if col in s else getattr(r, col)
            else:
                row[name] = s[source]
        rows.append(row)
    return rows


def record_service(uc: UseCase, task: Any) -> Any:
    """The BentoML service of a row-per-record use case: POST /predict with `records`."""
    import bentoml

    cfg = uc.load_config()
    request = request_model(uc.raw_schema, exclude=[uc.target], name=_class_name(uc.name, "Record"))
    response = response_model(uc, task, request)
    names = {n: f.description for n, f in response.model_fields.items()}
    outputs = {o.name: o.source for o in (uc.outputs or task.default_outputs(uc))}
    for name in names:
        outputs.setdefault(name, f"record.{name}" if name != "model_version" else name)
    latest = uc.history
    max_records = cfg.serving.max_records

    async def predict(self: Any, records: Any = Field(min_length=1, max_length=max_records)) -> Any:
        """One result per record (per entity, its latest record, for history use cases)."""
        if latest:
            scored = self.predictor.predict_latest(records)
            rows = respond(outputs, [records[s["_row"]] for s in scored], scored)
        else:
            rows = respond(outputs, records, self.predictor.predict(records))
        return [response(**row) for row in rows]

    # Real types, not strings: this module's annotations are postponed, and BentoML reads
    # the API's signature to build its input and output models.
    predict.__annotations__ = {"records": list[request], "return": list[response]}

    def __init__(self: Any) -> None:
        self.predictor = RecordPredictor.from_store(uc, cfg)

    Service = type(
        _class_name(uc.name, "Service"),
        (),
        {
            "__init__": __init__,
            "predict": bentoml.api(route=task.route)(predict),
            "__module__": __name__,
        },
    )
    return bentoml.service(name=uc.name, workers=1, logging={"access": {"enabled": False}})(Service)


def _class_name(name: str, suffix: str) -> str:
    """churn_rul + Record -> ChurnRulRecord: the names the OpenAPI spec shows."""
    return "".join(part.title() for part in name.split("_")) + suffix


def record_payload(uc: UseCase, n: int = 1) -> dict[str, Any]:
    """A valid request body made of the schema's examples: docs, tests and benchmarks.

    Leaky columns are left out when they may be (they are known only after the outcome).
    """
    request = request_model(uc.raw_schema, exclude=[uc.target], name=_class_name(uc.name, "Record"))
    base = example_record(request)
    optional = {n for n, f in request.model_fields.items() if not f.is_required()}
    base = {k: v for k, v in base.items() if not (k in uc.leaky_columns and k in optional)}
    records = []
    for i in range(n):
        rec = dict(base)
        if uc.history:  # one entity's consecutive readings
            rec[uc.time_column] = _shift(base[uc.time_column], i)
        records.append(rec)
    return {"records": records}


def _shift(value: Any, i: int) -> Any:
    return value + i if isinstance(value, int | float) else value
