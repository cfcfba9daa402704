"""The service factory: request models from the schema, response models from the use case's
declared outputs, one predictor class, and the BentoML service built from them.

No pandas in the request path: records -> column arrays -> build_features -> ONNX feed.
A use case's optional service.py adds only what is domain-specific (see `hooks`).

One request: parse (pydantic) -> route (shared/serve/router.py) -> score (the predictor) ->
protect and log (router) -> respond. A small request (at most `serving.inline_max` records)
is answered on the event loop: it costs about 0.1 ms, less than handing it to a thread and
back. A larger one runs in the worker's thread pool (`THREADS`), so it never stalls /livez,
the other routes or the one-record requests behind it (`dispatch`).
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import inspect
import logging
import math
import os
import re
import threading
import time
import uuid
import weakref
from asyncio import AbstractEventLoop, get_running_loop
from collections.abc import Callable, Sequence
from datetime import datetime
from http import HTTPStatus
from types import ModuleType
from typing import Annotated, Any, Literal, TypeVar, get_args

import anyio
import anyio.to_thread
import bentoml
import numpy as np
from bentoml.exceptions import BentoMLException, InvalidArgument, NotFound, UnprocessableEntity
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictStr,
    WithJsonSchema,
    create_model,
    model_validator,
)

from shared.core.onnx_export import make_feed, session
from shared.core.store import StoredModel, load_model
from shared.core.tracking import model_tag
from shared.core.usecase import Output, UseCase, latest_positions
from shared.serve.auth import AUTH_ENV, key_hash
from shared.serve.auth import enabled as auth_enabled
from shared.serve.explain import EXPLAIN_ROUTE, explain_api
from shared.serve.guard import json_strict
from shared.serve.metrics import catalog, duration_config
from shared.serve.metrics import observe as live_drift
from shared.serve.predlog import OutcomeValues, outcome_values
from shared.serve.privacy import protect_outcomes
from shared.serve.router import Deployment

# Large requests each worker scores at once in its thread pool (`dispatch`; also BentoML's
# pool for the sync APIs). ONNX and numpy release the GIL, so a large request does not hold up
# a one-record one behind it.
THREADS = int(os.environ.get("PILOTPACK_SERVICE_THREADS", "4"))

T = TypeVar("T")
_limiters: weakref.WeakKeyDictionary[AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)


async def dispatch(
    units: int, inline_max: int, work: Callable[..., T], *args: Any, log: Any = None
) -> T:
    """Run a request's work on the event loop when it has at most `inline_max` units (records
    or series) and `log` (the prediction log it writes to) is not committing a batch; else in
    a worker thread, at most `THREADS` at once per process.

    Measured under 8 clients (churn, one record a request): handing each request to a thread
    cost the worker ~400 us of CPU more per request than answering it on the loop, the
    scoring thread and the loop trading the interpreter lock at every numpy and onnxruntime
    call. A large request still leaves the loop, so it never stalls the others. A request
    that logs while a worker thread commits a batch would wait for that commit (group commit,
    shared/serve/predlog.py), on the loop: with clients looping 1,000-record requests, /livez
    took a p50 of 52-62 ms that way. Such a request goes to a thread too."""
    if units <= inline_max and not (log is not None and log.committing):
        return work(*args)
    loop = get_running_loop()
    limiter = _limiters.get(loop)
    if limiter is None:  # made on the loop it serves (anyio binds it there)
        limiter = _limiters[loop] = anyio.CapacityLimiter(THREADS)
    return await anyio.to_thread.run_sync(work, *args, limiter=limiter)


logger = logging.getLogger("pilotpack.outcomes")

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
    fields["variant"] = (Variant, Field(description=VARIANT_DOC))
    return create_model(_class_name(uc.name, "Result"), **fields)


Variant = Literal["champion", "challenger"]
VARIANT_DOC = (
    "champion: the serving model; challenger: the model in rollout (canary), chosen for this "
    "record by a stable hash of its routing key"
)


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
    """The BentoML service of a row-per-record use case: POST /predict with `records`, and
    POST /outcome for what happened afterwards.

    Which model answers is the router's business (shared/serve/router.py): the registry's
    champion, and during a rollout the challenger for the records whose routing key hashes
    under the stage's percentage (or every record in shadow, on the shadow thread). Every
    scored record is in the prediction log (shared/serve/predlog.py) before the response leaves.
    """
    cfg = uc.load_config()
    request = request_model(uc.raw_schema, exclude=[uc.target], name=_class_name(uc.name, "Record"))
    response = response_model(uc, task, request)
    outputs = {o.name: o.source for o in (uc.outputs or task.default_outputs(uc))}
    for name in response.model_fields:
        outputs.setdefault(name, name if name in ("model_version", "variant") else f"record.{name}")
    latest = uc.history
    max_records, inline_max = cfg.serving.max_records, cfg.serving.inline_max
    key_field = routing_field(uc, cfg, list(request.model_fields))

    async def predict(
        self: Any,
        records: Any = Field(min_length=1, max_length=max_records),
        ctx: Any = None,
    ) -> Any:
        log = self.deployment.log
        return await dispatch(len(records), inline_max, answer, self, records, ctx, log=log)

    def answer(self: Any, records: Sequence[BaseModel], ctx: Any) -> list[BaseModel]:
        rid = request_id(ctx)
        if latest:
            scored = score_latest(self.deployment, records, uc.id_column, key_field, rid)
            rows = respond(outputs, [records[s["_row"]] for s in scored], scored)
        else:
            scored = score_records(self.deployment, records, key_field, rid)
            rows = respond(outputs, records, scored)
        return [response(**row) for row in rows]

    predict.__doc__ = (
        "One result per record (per entity, its latest record, for history use cases). "
        f"Limits: 1 to {max_records} records per request (config serving.max_records)."
    )

    # Real types, not strings: this module's annotations are postponed, and BentoML reads
    # the API's signature to build its input and output models.
    predict.__annotations__ = {
        "records": list[request],
        "ctx": bentoml.Context,
        "return": list[response],
    }

    def __init__(self: Any) -> None:
        self.deployment = Deployment(uc, cfg, RecordPredictor.loader(uc, cfg))
        freeze_heap()

    Service = type(
        _class_name(uc.name, "Service"),
        (),
        {
            "__init__": __init__,
            "predict": api(task.route, predict),
            "outcome": api(OUTCOME_ROUTE, outcome_api(uc)),
            "explain": api(EXPLAIN_ROUTE, explain_api(request, max_records)),
            "predictor": property(lambda self: self.deployment.plan.champion),
            "__module__": __name__,
        },
    )
    return bentoml.service(**service_options(uc.name, cfg))(Service)


def freeze_heap() -> None:
    """Once a service is ready: what start-up loaded (libraries, models, schemas) leaves the
    garbage collector's sight, so a full collection walks only what requests made since.
    Measured in process on churn requests: full-collection pauses of 130-160 ms became 12-19
    ms, and the collector's cost per request went from 84 to 17 us."""
    gc.collect()  # no start-up garbage frozen for good
    gc.freeze()


def api(route: str, func: Callable[..., Any]) -> Any:
    """`bentoml.api` on `func`, its signature computed once: BentoML asks `inspect.signature`
    for it on every request (about 6 us each time for these functions)."""
    func.__signature__ = inspect.signature(func)  # type: ignore[attr-defined]
    return bentoml.api(route=route)(func)


def service_options(name: str, cfg: Any) -> dict[str, Any]:
    """`bentoml.service` options of a use case: one worker, `THREADS` threads for the sync
    APIs (/explain, /outcome), the SLA's edge in BentoML's latency buckets, no access log."""
    return {
        "name": name,
        "workers": 1,
        "threads": THREADS,
        "metrics": duration_config(cfg.rollout.sla_ms),
        "logging": {"access": {"enabled": False}},
    }


# --------------------------------------------------------------------------- rollout glue


def routing_field(uc: UseCase, cfg: Any, fields: Sequence[str]) -> str | None:
    """The request field whose value routes a record: config `rollout.routing_key`, else the
    use case's id column; None (everything to the champion) when there is neither."""
    key = cfg.rollout.routing_key or uc.id_column
    if key is not None and key not in fields:
        raise ValueError(f"{uc.name}: rollout.routing_key {key!r} is not a request field")
    return key


_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


def request_id(ctx: Any) -> str:
    """The caller's X-Request-ID when it is a sane token, else a new one; echoed in the
    response's X-Request-ID header."""
    sent = ctx.request.headers.get("x-request-id") if ctx is not None else None
    rid = sent if sent and _REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex
    if ctx is not None:
        ctx.response.headers["X-Request-ID"] = rid
    return rid


def score_records(
    deployment: Any,
    records: Sequence[BaseModel],
    key_field: str | None,
    rid: str,
) -> list[dict[str, Any]]:
    """Route, score and log each record; scored values plus `variant`, in request order."""
    keys = [getattr(r, key_field) for r in records] if key_field else [None] * len(records)
    inputs = [r.model_dump(mode="json") for r in records]

    def score(predictor: RecordPredictor, units: list[int]) -> list[dict[str, Any]]:
        return predictor.predict([records[u] for u in units])

    done = deployment.execute(keys, inputs, score, rid)
    return [s | {"variant": v} for s, v in done]


def score_latest(
    deployment: Any,
    records: Sequence[BaseModel],
    id_column: str | None,
    key_field: str | None,
    rid: str,
) -> list[dict[str, Any]]:
    """History use cases: route each entity (all its records go to one model), score its
    latest record; `_row` points into `records`."""
    entities: dict[Any, list[int]] = {}
    for i, r in enumerate(records):
        entities.setdefault(getattr(r, id_column) if id_column else i, []).append(i)
    units = list(entities.values())
    keys = [getattr(records[u[0]], key_field) if key_field else None for u in units]

    def score(predictor: RecordPredictor, chosen: list[int]) -> list[dict[str, Any]]:
        rows = sorted(i for u in chosen for i in units[u])  # request order kept
        scored = predictor.predict_latest([records[i] for i in rows])
        return [s | {"_row": rows[s["_row"]]} for s in scored]

    inputs = [[records[i].model_dump(mode="json") for i in u] for u in units]
    done = deployment.execute(keys, inputs, score, rid)
    return [s | {"variant": v} for s, v in done]


OUTCOME_ROUTE = "/outcome"
OUTCOME_LIST = 5  # problems named in one 404 or 422 message
# As sent: a JSON flag, number or short text (no coercion); `OutcomeValues.parse` decides.
OutcomeValue = StrictBool | StrictFloat | Annotated[StrictStr, Field(max_length=64)]


class Outcome(BaseModel):
    """What happened after a prediction, joined to the log by request id or routing key."""

    model_config = ConfigDict(extra="forbid")

    request_id: str | None = Field(
        None, max_length=128, description="X-Request-ID of the prediction's response"
    )
    routing_key: str | None = Field(
        None,
        max_length=256,
        description="the entity (the use case's id) when the request id is not known",
    )
    # Checked against the target's type in the API (a 422 naming the value): the use case's
    # model publishes the allowed values (`outcome_model`).
    value: OutcomeValue = Field(description="observed value")
    time: datetime | None = Field(
        None, strict=True, description="when it was observed; default: now"
    )  # strict: an RFC 3339 date-time, as the OpenAPI document says (no number, no bare date)

    @model_validator(mode="after")
    def _some_key(self) -> Outcome:
        if self.request_id is None and self.routing_key is None:
            raise ValueError("an outcome needs a request_id or a routing_key")
        return self


def outcome_model(uc: UseCase, values: OutcomeValues) -> type[Outcome]:
    """`Outcome` with the use case's allowed values in its schema (0/1 or the labels, or a
    number within the target's bounds)."""
    value = Annotated[
        OutcomeValue,
        WithJsonSchema(values.json_schema()),
        Field(description=f"observed {uc.target}: {values.allowed()}"),
    ]
    return create_model(_class_name(uc.name, "Outcome"), __base__=Outcome, value=(value, ...))


class OutcomeReceipt(BaseModel):
    stored: int = Field(description="outcomes stored")
    orphans: int = Field(
        0,
        description="of them, outcomes by routing key with no logged prediction of that key: "
        "stored, but they join no prediction",
    )


class OutcomeBudget:
    """Outcomes per caller: a token bucket of `burst` outcomes refilled at `rate_per_minute`,
    per API key when authentication is on, else per client address; thread-safe."""

    def __init__(self, rate_per_minute: float, burst: int) -> None:
        self.per_s, self.burst = rate_per_minute / 60, burst
        self._left: dict[str, tuple[float, float]] = {}  # caller -> (tokens, when)
        self._lock = threading.Lock()

    def take(self, caller: str, n: int) -> float:
        """0 when `n` outcomes may pass now (they are counted), else the seconds to wait."""
        now = time.monotonic()
        with self._lock:
            if len(self._left) > 10_000:  # callers are unbounded: forget, do not grow
                self._left.clear()
            tokens, then = self._left.get(caller, (float(self.burst), now))
            tokens = min(self.burst, tokens + (now - then) * self.per_s)
            if tokens >= n:
                self._left[caller] = (tokens - n, now)
                return 0.0
            self._left[caller] = (tokens, now)
            return (n - tokens) / self.per_s


def caller(ctx: Any) -> str:
    """Whom an outcome budget counts: the presented credential (checked by the auth middleware)
    when authentication is on, else the client address (a header anyone can vary is not used)."""
    request = ctx.request if ctx is not None else None
    if request is None:
        return "local"
    if auth_enabled():
        headers = request.headers
        credential = headers.get("authorization") or headers.get("x-api-key") or ""
        return "key:" + key_hash(credential)[:32]
    return "client:" + (request.client.host if request.client else "unknown")


def warn_open_outcomes(uc: UseCase) -> None:
    """Local mode: one loud line at start-up, since anyone reaching the port may post outcomes."""
    if not auth_enabled():
        intake = uc.load_config().serving.outcomes
        logger.warning(
            "%s: OUTCOMES ARE OPEN: with authentication off anyone who can reach this port may "
            "POST /outcome, and monitoring, retraining and rollout decisions read outcomes "
            "(limit: %d per request, %g per client address and minute). Set %s=on with API keys "
            "holding the 'outcome' scope for anything but a local trial (docs/security.md)",
            uc.name,
            intake.max_per_request,
            intake.rate_per_minute,
            AUTH_ENV,
        )


def outcome_api(uc: UseCase) -> Callable[..., Any]:
    """POST /outcome: a batch of outcomes into the log (the monitoring and A/B work read them).

    Checked before anything is stored, each refusal naming what is wrong: 429 above the
    caller's budget, 422 for a value the target cannot take, 404 for a request id with no
    logged prediction of this use case. An outcome by routing key with no prediction of that
    key is stored and counted as an orphan (the receipt says how many).
    """
    intake = uc.load_config().serving.outcomes
    values = outcome_values(uc)
    model = outcome_model(uc, values)
    budget = OutcomeBudget(intake.rate_per_minute, intake.burst)

    def outcome(
        self: Any,
        outcomes: Any = Field(min_length=1, max_length=intake.max_per_request),
        ctx: Any = None,
    ) -> OutcomeReceipt:
        wait = budget.take(caller(ctx), len(outcomes))
        if wait:
            raise BentoMLException(
                f"too many outcomes from this caller: at most {intake.rate_per_minute:g} per "
                f"minute; retry in {math.ceil(wait)} s",
                error_code=HTTPStatus.TOO_MANY_REQUESTS,
            )
        rows, bad = [], []
        for i, o in enumerate(outcomes):
            try:
                value = values.parse(o.value)
            except ValueError as exc:
                bad.append(f"outcomes[{i}].value: {exc}")
                continue
            rows.append(
                {
                    "use_case": uc.name,
                    "request_id": o.request_id,
                    "routing_key": o.routing_key,
                    "value": value,
                    "ts": o.time.timestamp() if o.time else None,
                }
            )
        if bad:
            raise UnprocessableEntity(_listed(bad, len(outcomes), "nothing stored"))
        rows = protect_outcomes(rows)
        log = self.deployment.log
        pairs, keys = log.known(
            uc.name,
            [r["request_id"] for r in rows if r["request_id"] is not None],
            [r["routing_key"] for r in rows if r["routing_key"] is not None],
        )
        requests = {rid for rid, _ in pairs}
        unknown = [
            f"request_id {r['request_id']!r}"
            for r in rows
            if r["request_id"] is not None
            and (
                r["request_id"] not in requests
                or (
                    r["routing_key"] is not None
                    and (r["request_id"], r["routing_key"]) not in pairs
                )
            )
        ]
        if unknown:
            raise NotFound(
                _listed(unknown, len(rows), f"no logged prediction of {uc.name}; nothing stored")
            )
        orphans = sum(r["request_id"] is None and r["routing_key"] not in keys for r in rows)
        return OutcomeReceipt(stored=log.write_outcomes(rows), orphans=orphans)

    outcome.__doc__ = (
        "Store observed outcomes; each names a request id (of a logged prediction) or a "
        f"routing key, and a value of {uc.target}: {values.allowed()}. 1 to "
        f"{intake.max_per_request} per request (config serving.outcomes), at most "
        f"{intake.rate_per_minute:g} per caller and minute."
    )
    # Real types (see record_service): BentoML reads the signature to build its models.
    outcome.__annotations__ = {
        "outcomes": list[model],
        "ctx": bentoml.Context,
        "return": OutcomeReceipt,
    }
    return outcome


def _listed(problems: list[str], total: int, tail: str) -> str:
    """`n of total outcomes: a; b; ... (+k more): tail`."""
    shown = "; ".join(problems[:OUTCOME_LIST])
    more = f" (+{len(problems) - OUTCOME_LIST} more)" if len(problems) > OUTCOME_LIST else ""
    return f"{len(problems)} of {total} outcomes refused: {shown}{more}: {tail}"


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


# --------------------------------------------------------------------------- the record predictor


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
    # One array for every field (the request model's fields are scalars), each column a view
    # of it: one array per column was 18 us of a one-record lead's 36 fields, this is 7.
    block = np.array([[getattr(r, n) for n in names] for r in records], dtype=object).reshape(
        len(records), len(names)
    )
    block[np.equal(block, None)] = np.nan
    return dict(zip(names, block.T, strict=True))


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
        if problem := repeated_keys(keys, f"({uc.id_column}, {uc.time_column})"):
            raise InvalidArgument(problem)  # a 400 naming the repeated pairs
        latest = latest_positions([key for key, _ in keys], [t for _, t in keys])
        rows = np.fromiter(latest.values(), dtype=np.int64, count=len(latest))
        scored = self._scored(self.values(uc.features_at(self.columns(records), rows)))
        return [
            s | {uc.id_column: key, uc.time_column: keys[i][1], "_row": i}
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
            values = features[field]
            # a text array's tolist gives str already: no str() per value
            is_text = isinstance(values, np.ndarray) and values.dtype.kind == "U"
            text = values.tolist() if is_text else map(str, values)
            unseen = sum(v not in known for v in text)
            if unseen:
                catalog().unknown.labels(self.uc.name, field).inc(unseen)


def repeated_keys(keys: Sequence[Any], name: str, max_examples: int = 5) -> str | None:
    """A one-line problem naming the keys `keys` holds more than once (a date repeated in a
    series, an (entity, time) pair repeated in a request), or None when every key is unique."""
    counts: dict[Any, int] = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    repeated = [(key, n) for key, n in counts.items() if n > 1]
    if not repeated:
        return None
    shown = ", ".join(f"{_key_text(key)} x{n}" for key, n in repeated[:max_examples])
    more = f" (+{len(repeated) - max_examples} more)" if len(repeated) > max_examples else ""
    return f"duplicate {name} in one request: {shown}{more}; send each once"


def _key_text(key: Any) -> str:
    """A key as the message shows it: dates as YYYY-MM-DD, tuples as (a, b)."""
    if isinstance(key, tuple):
        return "(" + ", ".join(_key_text(k) for k in key) + ")"
    return key.isoformat() if hasattr(key, "isoformat") else str(key)
