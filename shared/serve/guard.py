"""The HTTP surface's guard: a client's mistake gets a 4xx, never a 500, and one log line.

An ASGI middleware in front of BentoML's app (`Service.add_asgi_middleware`), on the API routes:

- 415 for a Content-Type other than JSON (BentoML would parse `text/plain` as JSON and answer
  500 to form or multipart bodies with no or a wrong boundary, nested JSON or huge integers);
- 413 above a body size limit per route: by default twice the largest legitimate body its
  schema allows (every list at `maxItems`, see `largest_body`), at least 1 MiB;
  `PILOTPACK_MAX_BODY_BYTES` sets one limit for every route;
- every 4xx body has one shape, `{"error": str, "detail": [...]}` (BentoML sends
  `[{"error": ...}]` for some), and `/docs.json` says so, marks request bodies required and
  lists 413 and 415, so that the published OpenAPI document matches what the service does;
- 400 when a header the guard or BentoML reads (Content-Type, Content-Length) is sent twice:
  Starlette reads the first copy, a dict the last, so the checked value and the used one could
  differ; a body that passes goes on with one `Content-Type: application/json`, so form and
  multipart bodies never reach BentoML's form parser;
- one log line per rejected request, no traceback (a filter drops BentoML's traceback of each
  4xx); every client-controlled text in it is JSON-escaped (no forged lines, CWE-117);
- at most one sample of a rejected body per `sample_every` seconds per worker
  (PILOTPACK_BODY_SAMPLE_SECONDS), redacted: the values of personal fields (the schema's `pii`
  and `sensitive` metadata) never, text only when it is one of the schema's own words (a field
  name or an allowed category), numbers and structure as sent (`body_sample`);
- with authentication on, `/docs.json` declares the API key (`securitySchemes`) and each API
  route's `security`;
- BentoML's HTTP metrics labelled by route template or `other` and one metrics folder per
  `bentoml serve` (shared/serve/metrics.py).

Nothing here knows a use case: the routes and limits come from the service (`protect`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from bentoml.exceptions import BentoMLException
from pydantic import BaseModel, BeforeValidator, ValidationError

from shared.serve.auth import (
    AuthGuard,
    DuplicateHeader,
    Message,
    Receive,
    Scope,
    Send,
    duplicated,
    send_json,
    single_headers,
)
from shared.serve.auth import enabled as auth_enabled
from shared.serve.metrics import bound_endpoint_labels, forget_dead_folders, own_metrics_folder

logger = logging.getLogger("pilotpack.http")

MIN_LIMIT = 1 << 20  # 1 MiB
LIMIT_ENV = "PILOTPACK_MAX_BODY_BYTES"
SAMPLE_BYTES = 200
SAMPLE_ENV = "PILOTPACK_BODY_SAMPLE_SECONDS"  # seconds between two body samples of a worker
READ_HEADERS = frozenset({b"content-type", b"content-length"})
JSON_TYPE = (b"content-type", b"application/json")
BENTOML_ERROR_LOGGER = "bentoml._internal.server.http_app"  # logs a traceback per 4xx


def is_json(content_type: str | None) -> bool:
    """application/json or any `+json` type, parameters ignored; no header means JSON too (as
    BentoML reads it), so `curl --data-binary` without -H works."""
    if not content_type:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class Vocabulary(NamedTuple):
    """What a route's body sample may show: `words`, the field names and text values its
    request schema names; `personal`, the fields whose values never reach a log."""

    words: frozenset[str]
    personal: frozenset[str]


class HttpGuard:
    """ASGI middleware; `routes` maps each guarded POST route to its body limit in bytes,
    `samples` each route to what its body samples may show (none: no sample)."""

    def __init__(
        self,
        app: Any,
        routes: dict[str, int] | Callable[[], dict[str, int]],
        rules: dict[str, str] | None = None,
        samples: dict[str, Vocabulary] | Callable[[], dict[str, Vocabulary]] | None = None,
        sample_every: float | None = None,
    ) -> None:
        self.app = app
        self.rules = rules or {}
        routes = routes() if callable(routes) else routes
        override = os.environ.get(LIMIT_ENV)
        self.routes = {r: int(override) if override else n for r, n in routes.items()}
        self.samples = (samples() if callable(samples) else samples) or {}
        self.sample_every = (
            float(os.environ.get(SAMPLE_ENV, "60")) if sample_every is None else sample_every
        )
        self._last_sample = -float("inf")
        self._docs: bytes | None = None
        quiet_client_errors()
        forget_dead_folders(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path, method = scope["path"], scope["method"]
        if path == "/docs.json" and method == "GET":
            return await self._openapi(scope, receive, send)
        limit = self.routes.get(path)
        if limit is None or method != "POST":
            return await self.app(scope, receive, send)

        try:
            headers = _headers(scope)
        except DuplicateHeader as exc:
            return await self._reject(scope, send, 400, duplicated(str(exc)))
        if not is_json(headers.get("content-type")):
            media = headers["content-type"].split(";", 1)[0].strip()[:80]
            return await self._reject(
                scope, send, 415, f"Content-Type {media!r} is not supported: send application/json"
            )
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return await self._reject(scope, send, 413, _too_large(limit))
        body, complete = await _read_body(receive, limit)
        if not complete:
            return await self._reject(scope, send, 413, _too_large(limit), body)
        scope = _as_json(scope)  # BentoML parses what the guard checked, and only as JSON
        await self.app(scope, _replay(body, receive), self._watch(scope, send, body))

    def _watch(self, scope: Scope, send: Send, body: bytes) -> Send:
        """Pass 2xx/5xx through untouched; buffer a 4xx, give it one shape and log one line."""
        state: dict[str, Any] = {}

        async def watched(message: Message) -> None:
            if message["type"] == "http.response.start":
                if 400 <= message["status"] < 500:
                    state["start"], state["chunks"] = message, []
                    return
                return await send(message)
            if "start" not in state:
                return await send(message)
            state["chunks"].append(message.get("body", b""))
            if message.get("more_body"):
                return
            start = state.pop("start")
            error = _normalise(b"".join(state.pop("chunks")))
            self._log(scope, start["status"], error, body)
            await send_json(send, start["status"], error, _passed_headers(start))

        return watched

    async def _reject(
        self, scope: Scope, send: Send, status: int, message: str, body: bytes = b""
    ) -> None:
        error = {"error": message, "detail": []}
        self._log(scope, status, error, body)
        await send_json(send, status, error, [])

    def _log(self, scope: Scope, status: int, error: dict[str, Any], body: bytes) -> None:
        reason = error.get("error", "")
        detail = error.get("detail") or []
        vocabulary = self.samples.get(scope["path"])
        if detail and isinstance(detail[0], dict):
            first = detail[0]
            loc = ".".join(_loc_part(p, vocabulary) for p in first.get("loc", []))
            reason += f"; first: {loc}: {first.get('msg', '')}"
        # the route is one of the service's own (self.routes), the method POST; the reason
        # quotes the client's field names and is JSON-escaped: no newline reaches the log
        line = f"rejected {scope['method']} {scope['path']} {status}: {json.dumps(reason[:300])}"
        now = time.monotonic()
        if body and vocabulary and now - self._last_sample >= self.sample_every:
            self._last_sample = now
            line += f" | body sample ({len(body)} bytes): {body_sample(body, vocabulary)}"
        logger.warning(line)

    async def _openapi(self, scope: Scope, receive: Receive, send: Send) -> None:
        """BentoML's OpenAPI document, corrected once to describe what the guard does."""
        if self._docs is None:
            status, raw = await _call(self.app, scope, receive)
            if status != 200:
                return await send_json(send, status, _normalise(raw), [])
            spec = fix_openapi(json.loads(raw), self.routes, self.rules, auth_enabled())
            self._docs = json.dumps(spec).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(self._docs)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": self._docs})


# --------------------------------------------------------------------------- strict JSON


def json_strict(kind: type) -> Any:
    """A pydantic BeforeValidator for a number, flag or 0/1-code field that is strict on JSON
    bodies only: no `true` or "61.2" for a number, no `1` or "true" for a flag, no NaN,
    Infinity or 1e400; a JSON integer stays a valid float. Python-mode validation (a CSV read as
    text in batch scoring) keeps pydantic's usual coercion."""

    def check(value: Any, info: Any) -> Any:
        if info.mode != "json" or value is None:
            return value
        if kind is bool:
            if not isinstance(value, bool):
                raise ValueError("true or false is expected")
            return value
        if isinstance(value, bool | str):
            raise ValueError("a number is expected, not text or true/false")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("a finite number is expected")
        return value

    return BeforeValidator(check)


# --------------------------------------------------------------------------- OpenAPI


ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "ClientError",
    "description": "A client error: the message, and for invalid bodies every field and problem",
    "properties": {
        "error": {"type": "string", "title": "Message"},
        "detail": {
            "type": "array",
            "title": "Problems",
            "description": "one item per problem: where (loc), what (msg) and its type",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"type": ["string", "integer"]}},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
    "required": ["error", "detail"],
}
_CLIENT_ERRORS = {
    "400": "Invalid request body: every field and problem is listed in `detail`",
    "413": "Request body larger than this route's limit",
    "415": "Content-Type is not application/json",
    "401": "No valid API key or token (when PILOTPACK_AUTH=on; shared/serve/auth.py)",
    "403": "The key lacks this route's scope (when PILOTPACK_AUTH=on)",
    "429": "Above the key's request rate: retry after the Retry-After header's seconds",
}


# Refusals of one route's handler beyond a body's shape, by the route's last segment
# (shared/serve/factory.py `outcome_api`).
_ROUTE_ERRORS = {
    "outcome": {
        "404": "A request id names no logged prediction of this use case: nothing stored",
        "422": "A value the target cannot take (the message names it): nothing stored",
    }
}


RULES_FLAG = "x-pilotpack-cross-field-rules"  # schemathesis.toml selects these operations
SECURITY_SCHEMES: dict[str, Any] = {  # shared/serve/auth.py: either header carries a key
    "bearerKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "`Authorization: Bearer <API key or JWT>` (`pilotpack auth new-key`)",
    },
    "apiKeyHeader": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "`X-API-Key: <API key>`",
    },
}


def fix_openapi(
    spec: dict[str, Any],
    routes: Iterable[str],
    rules: dict[str, str] | None = None,
    secured: bool = False,
) -> dict[str, Any]:
    """Request bodies required; 400/413/415 answer the ClientError shape (detail: a list);
    routes with rules a schema cannot state say so (description and RULES_FLAG); with
    authentication on (`secured`), the key's schemes and each API route's `security`."""
    components = spec.setdefault("components", {})
    components.setdefault("schemas", {})["ClientError"] = ERROR_SCHEMA
    if secured:
        components["securitySchemes"] = SECURITY_SCHEMES
    ref = {"$ref": "#/components/schemas/ClientError"}
    for route in routes:
        op = spec.get("paths", {}).get(route, {}).get("post")
        if op is None:
            continue
        if "requestBody" in op:
            op["requestBody"]["required"] = True
        if secured:  # one of the two, not both
            op["security"] = [{name: []} for name in SECURITY_SCHEMES]
        if rules and rules.get(route):
            op[RULES_FLAG] = True
            op["description"] = f"{op.get('description', '')}\n\n400 also when {rules[route]}."
        extra = _ROUTE_ERRORS.get(route.rstrip("/").rsplit("/", 1)[-1], {})
        for code, description in (_CLIENT_ERRORS | extra).items():
            op.setdefault("responses", {})[code] = {
                "description": description,
                "content": {"application/json": {"schema": ref}},
            }
    return spec


# --------------------------------------------------------------------------- logging


class _ClientErrorTracebacks(logging.Filter):
    """Drops BentoML's `Exception on /path [POST]` record (with its traceback) when the
    exception is the client's (validation, or a BentoML error below 500): the guard logs one
    line for that request instead. Server errors keep their traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return exc is None or not is_client_error(exc)


def is_client_error(exc: BaseException) -> bool:
    if isinstance(exc, ValidationError):
        return True
    return isinstance(exc, BentoMLException) and int(exc.error_code) < 500


def quiet_client_errors() -> None:
    target = logging.getLogger(BENTOML_ERROR_LOGGER)
    if not any(isinstance(f, _ClientErrorTracebacks) for f in target.filters):
        target.addFilter(_ClientErrorTracebacks())


# --------------------------------------------------------------------------- ASGI helpers


def _headers(scope: Scope) -> dict[str, str]:
    """The headers the guard reads; raises DuplicateHeader when one is sent twice."""
    return {
        k.decode("latin-1"): v.decode("latin-1")
        for k, v in single_headers(scope, READ_HEADERS).items()
    }


def _as_json(scope: Scope) -> Scope:
    """The request with one `Content-Type: application/json` (the guard checked the body is
    meant as JSON; BentoML picks its parser from this header)."""
    headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-type"]
    return {**scope, "headers": [*headers, JSON_TYPE]}


def _too_large(limit: int) -> str:
    return f"request body larger than {limit} bytes: send fewer records per request"


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """The whole body, or (what was read, False) as soon as it exceeds `limit`."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks), True
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return b"".join(chunks)[:SAMPLE_BYTES], False
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks), True


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # http.disconnect, when the client goes away

    return replay


def _normalise(raw: bytes) -> dict[str, Any]:
    """BentoML's 4xx bodies ({error, detail: [...]}, or [{error}]) -> {error, detail: [...]}."""
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        return {"error": raw.decode("utf-8", "replace")[:500], "detail": []}
    if isinstance(body, list):
        body = body[0] if body and isinstance(body[0], dict) else {"error": str(body)}
    if not isinstance(body, dict):
        body = {"error": str(body)}
    detail = body.get("detail")
    return {
        "error": str(body.get("error", "bad request")),
        "detail": detail if isinstance(detail, list) else ([] if detail is None else [detail]),
    }


def _passed_headers(start: Message) -> list[tuple[bytes, bytes]]:
    """The original response's headers minus the ones describing the old body."""
    drop = {b"content-length", b"content-type"}
    return [(k, v) for k, v in start.get("headers", []) if k.lower() not in drop]


async def _call(app: Any, scope: Scope, receive: Receive) -> tuple[int, bytes]:
    """Run the app for one request and collect its response."""
    status, chunks = 500, []

    async def collect(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, collect)
    return status, b"".join(chunks)


# --------------------------------------------------------------------------- body samples


def _loc_part(part: Any, vocabulary: Vocabulary | None) -> str:
    """A field path's part for the log: an index, a field the schema names, else `<key>` (a
    key the client made up may hold anything, a customer id or a forged log line)."""
    if isinstance(part, int) or (vocabulary and part in vocabulary.words):
        return str(part)
    return "<key>"


REDACTED = "<personal>"
SAMPLE_ITEMS = 3  # list items shown per list
SAMPLE_DEPTH = 8


def body_sample(body: bytes, vocabulary: Vocabulary) -> str:
    """A rejected body for the log, redacted and JSON-escaped, at most SAMPLE_BYTES long."""
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return json.dumps(f"<{len(body)} bytes, not JSON>")
    return json.dumps(redact(parsed, vocabulary))[:SAMPLE_BYTES]


def redact(value: Any, vocabulary: Vocabulary, depth: int = 0) -> Any:
    """The structure of a parsed body with what could identify a person taken out: the values
    of personal fields, text that is not one of the schema's words (a misplaced id, a name),
    unknown keys; numbers, flags and the schema's own words stay."""
    if depth > SAMPLE_DEPTH:
        return "..."
    if isinstance(value, dict):
        out = {}
        for i, (k, v) in enumerate(value.items()):
            if k in vocabulary.personal:
                out[k] = REDACTED
            else:
                out[k if k in vocabulary.words else f"<key {i}>"] = redact(v, vocabulary, depth + 1)
        return out
    if isinstance(value, list):
        shown = [redact(v, vocabulary, depth + 1) for v in value[:SAMPLE_ITEMS]]
        return shown + (
            [f"<{len(value) - SAMPLE_ITEMS} more>"] if len(value) > SAMPLE_ITEMS else []
        )
    if isinstance(value, str):
        return value if value in vocabulary.words else f"<text, {len(value)} chars>"
    return value


def vocabulary(schema: dict[str, Any], personal: Iterable[str] = ()) -> Vocabulary:
    """The words a request schema names (property names, text enum and const values)."""
    words: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            words.update(node.get("properties", {}))
            words.update(v for v in node.get("enum", []) if isinstance(v, str))
            if isinstance(node.get("const"), str):
                words.add(node["const"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(schema)
    return Vocabulary(frozenset(words), frozenset(personal))


def route_vocabulary(
    svc: Any, personal: Iterable[str] = (), prefix: str = ""
) -> dict[str, Vocabulary]:
    """{route: Vocabulary} of a service's APIs; `personal`: the use case's pii and sensitive
    columns."""
    personal = tuple(personal)
    return {
        prefix + api.route: vocabulary(api.input_spec.model_json_schema(), personal)
        for api in svc.apis.values()
    }


# --------------------------------------------------------------------------- wiring


UNBOUNDED_STRING = 256  # bytes assumed for a string without maxLength or enum
UNBOUNDED_ITEMS = 100  # items assumed for an array without maxItems


def largest_body(schema: dict[str, Any]) -> int:
    """Bytes of the largest legitimate JSON body a request schema allows, roughly: every array
    at its maxItems, every string at its maxLength (longest enum value, else 256 bytes), every
    optional property present."""
    defs = schema.get("$defs", {})

    def size(s: dict[str, Any], depth: int = 0) -> int:
        if depth > 32:
            return 0
        while "$ref" in s:
            s = defs[s["$ref"].rsplit("/", 1)[-1]]
        options = s.get("anyOf") or s.get("oneOf")
        if options:
            return max(size(o, depth + 1) for o in options)
        if "enum" in s or "const" in s:
            return max(len(json.dumps(v)) for v in s.get("enum", [s.get("const")]))
        kind = s.get("type")
        if kind == "array":
            items = int(s.get("maxItems", UNBOUNDED_ITEMS))
            return 2 + items * (size(s.get("items", {}), depth + 1) + 1)
        if kind == "object" or "properties" in s:
            props = s.get("properties", {})
            return 2 + sum(len(k) + 4 + size(v, depth + 1) for k, v in props.items())
        if kind == "string":
            default = {"date": 10, "date-time": 35}.get(s.get("format", ""), UNBOUNDED_STRING)
            return 2 + int(s.get("maxLength", default))
        return 24  # a number, a boolean or null

    return size(schema)


def route_limits(svc: Any, prefix: str = "") -> dict[str, int]:
    """{route: body limit} of a service's APIs: twice its largest legitimate body, >= 1 MiB."""
    return {
        prefix + api.route: max(MIN_LIMIT, 2 * largest_body(api.input_spec.model_json_schema()))
        for api in svc.apis.values()
    }


def protect(
    svc: Any,
    limits: Callable[[], dict[str, int]],
    rules: dict[str, str] | None = None,
    samples: Callable[[], dict[str, Vocabulary]] | None = None,
) -> Any:
    """Put the guard in front of a BentoML service's routes. `limits` ({route: bytes}) and
    `samples` ({route: Vocabulary}, by default the schema's words and no personal field) are
    called in each worker when its app is built, not at import; `rules` ({route: text}) names
    what a schema-valid body can still be refused for (published in /docs.json). Auth
    (shared/serve/auth.py) goes first: a caller without a key is refused before its body is read.
    BentoML's HTTP metrics get bounded labels and this service its own metrics folder."""
    samples = samples or (lambda: route_vocabulary(svc))
    svc.add_asgi_middleware(AuthGuard, routes=limits)
    svc.add_asgi_middleware(HttpGuard, routes=limits, rules=rules or {}, samples=samples)
    svc.inner.__pilotpack_guard__ = (limits, rules or {}, samples)
    bound_endpoint_labels()
    own_metrics_folder(svc.name)
    for api in svc.apis.values():
        fixed_media_type(api.output_spec)
    return svc


def fixed_media_type(spec: Any) -> None:
    """Work out a response's media type once: for a list or other root output BentoML builds
    the output's whole JSON schema on every response to find it (a tenth of a worker's time
    at ~3 ms per request, measured with py-spy)."""
    if getattr(spec, "media_type", "") is None:
        spec.media_type = spec.mime_type()


def guard_options(
    svc: Any,
) -> tuple[dict[str, int], dict[str, str], dict[str, Vocabulary]]:
    """({route: bytes}, {route: rules}, {route: Vocabulary}) of a protected service (a root
    service mounts them)."""
    limits, rules, samples = getattr(svc.inner, "__pilotpack_guard__", (dict, {}, dict))
    return limits(), rules, samples()


def cross_field_rules(model: type) -> bool:
    """Whether a request model (or one nested in it) has model validators: rules across fields
    that a JSON schema cannot state, so a schema-valid body may get a 400."""
    seen: set[type] = set()

    def walk(m: Any) -> bool:
        if m in seen or not (isinstance(m, type) and issubclass(m, BaseModel)):
            return False
        seen.add(m)
        if m.__pydantic_decorators__.model_validators:
            return True
        return any(walk(t) for f in m.model_fields.values() for t in _types(f.annotation))

    return walk(model)


def _types(annotation: Any) -> list[Any]:
    args = getattr(annotation, "__args__", ())
    return [annotation, *[t for a in args for t in _types(a)]]
