"""Who may call the service: API keys with scopes (or a JWT from an identity provider), and a
per-key request rate. An ASGI middleware in front of every route, before the HTTP guard.

- Off unless `PILOTPACK_AUTH=on` (`make demo`, a local `bentoml serve`: one loud warning line at
  start-up); the containerised Bento sets it on (bentofile.yaml `docker.env`) and refuses to
  start without keys.
- The keys document (YAML or JSON, `AuthSettings`) comes from the file PILOTPACK_API_KEYS_FILE
  (a mounted secret; re-read when it changes, so keys are added and revoked without a restart)
  or from the variable PILOTPACK_API_KEYS; a file inside the source tree is refused. It holds
  each key's SHA-256, never the key: keys are 256-bit random strings, so one fast hash is as
  safe as a slow one and costs microseconds per request. Every stored hash is compared in
  constant time (`hmac.compare_digest`), all of them on every request.
- Scopes: `predict` (the scoring route), `explain`, `outcome`, `admin` (every route, and the
  open ones once closed). Open by default: health, readiness, metrics and the API docs
  (`open_paths`; [] closes them).
- 401 without a valid key, 403 with a key lacking the route's scope, 429 (with Retry-After)
  above the key's rate, 400 when `Authorization` or `X-API-Key` is sent twice; the body has the guard's shape, `{"error": str, "detail": []}`.
- The rate limit is a token bucket per key and per worker: with N workers a key gets up to N
  times its rate.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import math
import os
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from shared.core.config import read_yaml
from shared.serve.metrics import catalog

# The ASGI types and the one JSON reply the auth and guard middlewares both send.
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


async def send_json(
    send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]]
) -> None:
    """A complete JSON response: `headers` plus content type and length."""
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                *headers,
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


class DuplicateHeader(ValueError):
    """A header the service reads was sent more than once."""


def single_headers(scope: Scope, names: frozenset[bytes]) -> dict[bytes, bytes]:
    """The named headers (lower-case names) of a request, each sent at most once; raises
    DuplicateHeader otherwise: readers disagree on which copy counts (Starlette takes the first,
    a dict the last), so the checked value and the used one could differ."""
    found: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        name = name.lower()
        if name in names:
            if name in found:
                raise DuplicateHeader(name.decode("latin-1"))
            found[name] = value
    return found


def duplicated(name: str) -> str:
    return f"the {name!r} header is sent more than once: send it once"


logger = logging.getLogger("pilotpack.auth")

AUTH_ENV = "PILOTPACK_AUTH"
KEYS_ENV = "PILOTPACK_API_KEYS"
KEYS_FILE_ENV = "PILOTPACK_API_KEYS_FILE"
SCOPES = ("predict", "explain", "outcome", "admin")
KEY_PREFIX = "ppk_"
MAX_CREDENTIAL = 8192  # longer Authorization values are refused unread
SOURCE_TREE = Path(__file__).resolve().parents[2]

ScopeName = Literal["predict", "explain", "outcome", "admin"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ApiKey(_Strict):
    name: str = Field(min_length=1, description="who holds it, e.g. crm-2025-06")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the key, hex")
    scopes: list[ScopeName] = Field(min_length=1)
    rate_per_minute: float | None = Field(None, gt=0, description="default: the document's")
    burst: int | None = Field(None, ge=1, description="default: the document's")


class JwtSettings(_Strict):
    """Bearer tokens signed by an identity provider: one of public_key_file, secret_env or
    jwks_url gives the verification key."""

    algorithms: list[str] = ["RS256"]
    public_key_file: Path | None = Field(None, description="PEM public key (RS*/ES*/PS*)")
    secret_env: str | None = Field(None, description="variable holding an HS256 secret")
    jwks_url: str | None = Field(None, description="the provider's JWKS endpoint")
    issuer: str | None = None
    audience: str | None = None
    scope_claim: str = Field("scope", description="space-separated text or a list")
    leeway_s: float = 30


class AuthSettings(_Strict):
    keys: list[ApiKey] = []
    jwt: JwtSettings | None = None
    open_paths: list[str] = Field(
        ["/healthz", "/livez", "/readyz", "/metrics", "/docs.json", "/", "/static_content/*"],
        description="reachable without a key; `/x/*` is a prefix",
    )
    rate_per_minute: float = Field(600, gt=0, description="requests per key and minute")
    burst: int = Field(60, ge=1, description="requests a key may send at once")


# --------------------------------------------------------------------------- keys


def new_key() -> str:
    """A fresh API key: 256 random bits."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


def find_key(presented: str, keys: list[ApiKey]) -> ApiKey | None:
    """The entry whose hash matches; every entry is compared, each in constant time."""
    digest = key_hash(presented).encode()
    found = None
    for k in keys:
        if hmac.compare_digest(digest, k.sha256.encode()):
            found = k
    return found


def parse_settings(text: str) -> AuthSettings:
    return AuthSettings.model_validate(read_yaml(text) or {})


def enabled() -> bool:
    value = os.environ.get(AUTH_ENV, "off").strip().lower()
    if value not in ("on", "off", "1", "0", "true", "false"):
        raise ValueError(f"{AUTH_ENV}={value!r}: on or off")
    return value in ("on", "1", "true")


class KeySource:
    """The settings, re-read from the file when it changes (checked at most every second)."""

    def __init__(self) -> None:
        self.path = Path(p) if (p := os.environ.get(KEYS_FILE_ENV)) else None
        if self.path is not None and self.path.resolve().is_relative_to(SOURCE_TREE):
            raise RuntimeError(
                f"{KEYS_FILE_ENV}={self.path}: the keys file is inside the source tree; keep "
                "it out of the repository and the Bento (a mounted secret, e.g. /run/secrets)"
            )
        if self.path is None and not os.environ.get(KEYS_ENV):
            raise RuntimeError(
                f"{AUTH_ENV}=on but no keys: set {KEYS_FILE_ENV} (a file) or {KEYS_ENV} (the "
                "document); `pilotpack auth new-key` makes one"
            )
        self._stamp: tuple[float, int] | None = None
        self._checked = 0.0
        self.settings = self._load()

    def _load(self) -> AuthSettings:
        if self.path is None:
            return parse_settings(os.environ[KEYS_ENV])
        stat = self.path.stat()
        self._stamp = (stat.st_mtime, stat.st_size)
        return parse_settings(self.path.read_text())

    def current(self) -> AuthSettings:
        now = time.monotonic()
        if self.path is None or now - self._checked < 1.0:
            return self.settings
        self._checked = now
        try:
            stat = self.path.stat()
            if (stat.st_mtime, stat.st_size) != self._stamp:
                self.settings = self._load()
                logger.warning(
                    "reloaded API keys from %s: %d keys", self.path, len(self.settings.keys)
                )
        except (OSError, ValueError) as exc:  # a half-written file: keep the last good keys
            logger.error("cannot reload %s (%s): the previous keys stay in force", self.path, exc)
        return self.settings


@dataclass
class Fixed:
    """Settings given in code (the benchmark's micro-measure)."""

    settings: AuthSettings

    def current(self) -> AuthSettings:
        return self.settings


# --------------------------------------------------------------------------- JWT


@dataclass
class Principal:
    """Who is calling and what they may do."""

    name: str
    scopes: frozenset[str]
    rate_per_minute: float | None = None
    burst: int | None = None


def verify_jwt(token: str, cfg: JwtSettings) -> Principal:
    """A verified token's subject and scopes; raises jwt.InvalidTokenError otherwise."""
    import jwt

    if cfg.jwks_url:  # fetched on first use and on an unknown key id, then cached
        key: Any = _jwks(cfg.jwks_url).get_signing_key_from_jwt(token).key
    elif cfg.public_key_file:
        key = _read_key(str(cfg.public_key_file))
    elif cfg.secret_env:
        key = os.environ[cfg.secret_env]
    else:
        raise jwt.InvalidTokenError("no verification key configured")
    claims = jwt.decode(
        token,
        key,
        algorithms=cfg.algorithms,
        audience=cfg.audience,
        issuer=cfg.issuer,
        leeway=cfg.leeway_s,
        options={"require": ["exp", "sub"]},
    )
    raw = claims.get(cfg.scope_claim, [])
    scopes = raw.split() if isinstance(raw, str) else [str(s) for s in raw]
    return Principal(f"jwt:{claims['sub']}", frozenset(s for s in scopes if s in SCOPES))


@cache
def _jwks(url: str) -> Any:
    import jwt

    return jwt.PyJWKClient(url, cache_keys=True, lifespan=600)


@cache
def _read_key(path: str) -> str:
    return Path(path).read_text()


# --------------------------------------------------------------------------- rate limit


@dataclass
class Bucket:
    """Token bucket: `burst` tokens, refilled at `rate_per_minute`."""

    tokens: float
    stamp: float = field(default_factory=time.monotonic)

    def take(self, rate_per_minute: float, burst: int) -> float:
        """0 when a request may pass, else the seconds until one may."""
        now = time.monotonic()
        per_s = rate_per_minute / 60
        self.tokens = min(burst, self.tokens + (now - self.stamp) * per_s)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / per_s


# --------------------------------------------------------------------------- middleware


def scope_for(path: str, api_routes: set[str]) -> str:
    """The scope a route needs: by its last segment for API routes; admin for anything else."""
    if path not in api_routes:
        return "admin"
    last = path.rstrip("/").rsplit("/", 1)[-1]
    return last if last in ("explain", "outcome") else "predict"


def is_open(path: str, open_paths: list[str]) -> bool:
    return any(path.startswith(p[:-1]) if p.endswith("*") else path == p for p in open_paths)


class AuthGuard:
    """ASGI middleware; `routes()` lists the API routes (their scope follows from the name)."""

    def __init__(
        self, app: Any, routes: Callable[[], Any], settings: AuthSettings | None = None
    ) -> None:
        self.app = app
        self.on = settings is not None or enabled()
        if not self.on:
            logger.warning(
                "AUTHENTICATION IS OFF: every endpoint answers anyone who can reach this port. "
                "Set %s=on with %s for anything but a local trial (README: Security and privacy)",
                AUTH_ENV,
                KEYS_FILE_ENV,
            )
            return
        self.api_routes = set(routes())
        self.source = Fixed(settings) if settings is not None else KeySource()
        self.buckets: dict[str, Bucket] = {}
        s = self.source.settings
        logger.warning(
            "authentication on: %d API keys%s; open without a key: %s",
            len(s.keys),
            " and JWT" if s.jwt else "",
            ", ".join(s.open_paths) or "nothing",
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.on or scope["type"] != "http":
            return await self.app(scope, receive, send)
        settings = self.source.current()
        path = scope["path"]
        if is_open(path, settings.open_paths):
            return await self.app(scope, receive, send)
        try:
            who = self.principal(scope, settings)
        except DuplicateHeader as exc:
            return await _refuse(send, 400, duplicated(str(exc)))
        if who is None:
            return await _refuse(send, 401, "missing or invalid API key", [_CHALLENGE])
        needed = scope_for(path, self.api_routes)
        if needed not in who.scopes and "admin" not in who.scopes:
            return await _refuse(send, 403, f"this key lacks the {needed!r} scope")
        burst = who.burst or settings.burst
        if len(self.buckets) > 10_000:  # token subjects are unbounded: forget, do not grow
            self.buckets.clear()
        bucket = self.buckets.setdefault(who.name, Bucket(burst))
        wait = bucket.take(who.rate_per_minute or settings.rate_per_minute, burst)
        if wait:
            retry = (b"retry-after", str(math.ceil(wait)).encode())
            return await _refuse(send, 429, "too many requests for this key", [retry])
        await self.app(scope, receive, send)

    def principal(self, scope: Scope, settings: AuthSettings) -> Principal | None:
        """The caller, from `Authorization: Bearer <key or JWT>`, else `X-API-Key: <key>`;
        raises DuplicateHeader when either is sent twice."""
        headers = single_headers(scope, CREDENTIAL_HEADERS)
        bearer = headers.get(b"authorization", b"")
        if bearer[:7].lower() == b"bearer ":
            credential = bearer[7:].strip().decode("latin-1")
        else:
            credential = headers.get(b"x-api-key", b"").strip().decode("latin-1")
        if not credential or len(credential) > MAX_CREDENTIAL:
            return None
        if settings.jwt is not None and credential.count(".") == 2:
            import jwt

            try:
                return verify_jwt(credential, settings.jwt)
            except (jwt.PyJWTError, ValueError, KeyError, OSError) as exc:
                logger.info("JWT refused: %s", json.dumps(str(exc)[:200]))  # escaped: CWE-117
                return None
        key = find_key(credential, settings.keys)
        if key is None:
            return None
        return Principal(f"key:{key.name}", frozenset(key.scopes), key.rate_per_minute, key.burst)


CREDENTIAL_HEADERS = frozenset({b"authorization", b"x-api-key"})
_CHALLENGE = (b"www-authenticate", b'Bearer realm="pilotpack"')


async def _refuse(
    send: Send, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    catalog().auth_rejected.labels(str(status)).inc()
    await send_json(send, status, {"error": message, "detail": []}, headers or [])


def key_entry(name: str, key: str, scopes: list[str]) -> dict[str, Any]:
    """The keys-document entry of a key: its hash, never the key."""
    return {"name": name, "sha256": key_hash(key), "scopes": scopes}


def dump_settings(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(json.loads(json.dumps(doc)), sort_keys=False)


def check_cost_us(n: int = 2000) -> float:
    """Microseconds the middleware adds to one request with a valid key (5 keys configured,
    rate limit in reach), in process, around an app that does nothing."""
    keys = [new_key() for _ in range(5)]
    settings = AuthSettings(
        keys=[ApiKey(**key_entry(f"k{i}", k, ["predict"])) for i, k in enumerate(keys)],
        rate_per_minute=1e9,
        burst=10**9,
    )

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        return None

    guard = AuthGuard(app, lambda: ["/predict"], settings)
    scope = {
        "type": "http",
        "path": "/predict",
        "method": "POST",
        "headers": [
            (b"content-type", b"application/json"),
            (b"authorization", b"Bearer " + keys[-1].encode()),
        ],
    }

    async def run() -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            await guard(scope, None, None)  # type: ignore[arg-type]
        return (time.perf_counter() - t0) / n * 1e6

    return asyncio.run(run())
