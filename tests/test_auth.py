"""Authentication, scopes and the rate limit (shared/serve/auth.py) through a real `bentoml serve` of
churn and of demand_forecasting: every route of their OpenAPI documents without a key, with the
wrong scope and with the right one; rotation and revocation by rewriting the keys file the
services re-read (with the `pilotpack auth` commands); JWTs signed by a real RSA key; hostile
credentials. (That the Bento's container runs as a non-root user with auth on is checked in
tests/test_bento_build.py, on the churn Bento built there.)"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import jwt
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.core.usecase import get_use_case
from shared.serve import auth
from shared.serve.services import example_payload
from tests import loopback
from tests.cli_runs import in_process
from tests.processes import wait_until

CHURN = get_use_case("churn")
FORECAST = get_use_case("demand_forecasting")
ISSUER, AUDIENCE = "https://idp.test/", "pilotpack"
SCOPES = ("predict", "explain", "outcome", "admin")
KEYS = {scope: auth.new_key() for scope in SCOPES}
SLOW = auth.new_key()  # 2 requests at once, then 6 a minute


def document(extra_keys: list[dict] | None = None, **top: object) -> dict:
    keys = [auth.key_entry(s, k, [s]) for s, k in KEYS.items()]
    keys.append(auth.key_entry("slow", SLOW, ["predict"]) | {"rate_per_minute": 6, "burst": 2})
    return {"keys": keys + (extra_keys or []), **top}


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


# --------------------------------------------------------------------------- pure parts


def test_keys_are_stored_as_hashes_and_matched_only_by_the_whole_key():
    key = auth.new_key()
    entry = auth.key_entry("crm", key, ["predict"])
    assert key not in json.dumps(entry) and len(key) > 40
    keys = [auth.ApiKey(**auth.key_entry(f"k{i}", auth.new_key(), ["predict"])) for i in range(3)]
    keys.append(auth.ApiKey(**entry))
    assert auth.find_key(key, keys).name == "crm"
    assert auth.find_key(key[:-1], keys) is None and auth.find_key("", keys) is None
    with pytest.raises(ValueError):  # a key in clear is not a valid document
        auth.parse_settings(
            yaml.safe_dump({"keys": [{"name": "x", "key": key, "scopes": ["predict"]}]})
        )
    with pytest.raises(ValueError):
        auth.parse_settings(yaml.safe_dump({"keys": [entry | {"scopes": ["root"]}]}))


def test_scopes_follow_the_route_and_anything_else_needs_admin():
    routes = {"/predict", "/explain", "/outcome", "/forecast", "/churn/explain", "/churn/predict"}
    assert auth.scope_for("/predict", routes) == "predict"
    assert auth.scope_for("/forecast", routes) == "predict"
    assert auth.scope_for("/churn/explain", routes) == "explain"
    assert auth.scope_for("/outcome", routes) == "outcome"
    assert auth.scope_for("/anything", routes) == "admin"
    assert auth.is_open("/static_content/x.js", ["/static_content/*"])
    assert not auth.is_open("/predict", ["/", "/healthz"])


def test_the_bucket_lets_a_burst_through_then_says_how_long_to_wait():
    bucket = auth.Bucket(2)
    assert bucket.take(6, 2) == 0 and bucket.take(6, 2) == 0
    wait = bucket.take(6, 2)
    assert 9 < wait <= 10  # one token per 10 s


def test_off_says_so_loudly_and_on_without_keys_refuses_to_start(monkeypatch, caplog):
    monkeypatch.delenv(auth.AUTH_ENV, raising=False)
    with caplog.at_level(logging.WARNING, "pilotpack.auth"):
        auth.AuthGuard(None, lambda: [])
    assert "AUTHENTICATION IS OFF" in caplog.text
    monkeypatch.setenv(auth.AUTH_ENV, "on")
    monkeypatch.delenv(auth.KEYS_ENV, raising=False)
    monkeypatch.delenv(auth.KEYS_FILE_ENV, raising=False)
    with pytest.raises(RuntimeError, match="no keys"):
        auth.AuthGuard(None, lambda: [])
    monkeypatch.setenv(auth.KEYS_FILE_ENV, str(auth.SOURCE_TREE / "keys.yaml"))
    with pytest.raises(RuntimeError, match="source tree"):
        auth.AuthGuard(None, lambda: [])


# --------------------------------------------------------------------------- served


@pytest.fixture(scope="module")
def idp(tmp_path_factory):
    """An identity provider's RSA key pair: the service gets the public half."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    folder = tmp_path_factory.mktemp("idp")
    public = folder / "idp.pem"
    public.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


@pytest.fixture(scope="module")
def keys_file(tmp_path_factory, idp):
    path = tmp_path_factory.mktemp("secrets") / "keys.yaml"
    jwt_cfg = {"public_key_file": str(idp[1]), "issuer": ISSUER, "audience": AUDIENCE}
    path.write_text(yaml.safe_dump(document(jwt=jwt_cfg)))
    return path


@pytest.fixture(scope="module")
def churn(serve, keys_file):
    env = {auth.AUTH_ENV: "on", auth.KEYS_FILE_ENV: str(keys_file)}
    with serve(CHURN.name, env=env) as server:
        yield server


@pytest.fixture(scope="module")
def forecast(serve, keys_file):
    env = {auth.AUTH_ENV: "on", auth.KEYS_FILE_ENV: str(keys_file)}
    with serve(FORECAST.name, env=env) as server:
        yield server


def bodies(uc) -> dict[str, dict]:
    """A valid body for every POST route of the use case's service."""
    payload = example_payload(uc, 1)
    outcome = {"outcomes": [{"routing_key": "c-1", "value": 1.0}]}
    return {uc.task.route: payload, "/explain": payload, "/outcome": outcome}


def post_routes(server) -> list[str]:
    spec = loopback.get(server.url + "/docs.json", timeout=30).json()
    return sorted(p for p, ops in spec["paths"].items() if "post" in ops)


def needed(route: str) -> str:
    return route.rsplit("/", 1)[-1] if route in ("/explain", "/outcome") else "predict"


@pytest.mark.serve
@pytest.mark.parametrize("name", ["churn", "forecast"])
def test_every_route_needs_a_key_with_its_scope(request, name):
    server = request.getfixturevalue(name)
    uc = CHURN if name == "churn" else FORECAST
    valid = bodies(uc)
    routes = post_routes(server)
    assert uc.task.route in routes and "/outcome" in routes
    for route in routes:
        url = server.url + route
        r = loopback.post(url, json=valid[route], timeout=30)
        assert r.status_code == 401, (route, r.text)
        assert r.json() == {"error": "missing or invalid API key", "detail": []}
        assert r.headers["www-authenticate"].startswith("Bearer")
        scope = needed(route)
        for other in SCOPES:
            r = loopback.post(url, json=valid[route], headers=bearer(KEYS[other]), timeout=60)
            if other in (scope, "admin"):
                assert r.status_code == 200, (route, other, r.text)
            else:
                assert r.status_code == 403, (route, other, r.text)
                assert scope in r.json()["error"]
        # the other header, and a key that was never issued
        r = loopback.post(url, json=valid[route], headers={"x-api-key": KEYS[scope]}, timeout=60)
        assert r.status_code == 200
        r = loopback.post(url, json=valid[route], headers=bearer(auth.new_key()), timeout=30)
        assert r.status_code == 401
    # open by default: health, readiness, metrics and the docs
    for path in ("/healthz", "/livez", "/readyz", "/metrics", "/docs.json", "/"):
        assert loopback.get(server.url + path, timeout=30).status_code == 200, path
    # anything else needs admin
    assert loopback.get(server.url + "/nothing-here", timeout=30).status_code == 401
    assert "authentication on" in server.log_tail(400)


@pytest.mark.serve
def test_open_routes_can_be_closed_and_then_need_admin(churn, keys_file):
    original = keys_file.read_text()
    try:
        doc = yaml.safe_load(original) | {"open_paths": []}
        replace_file(keys_file, doc)
        wait_until(lambda: loopback.get(churn.url + "/metrics", timeout=30).status_code == 401)
        for path in ("/healthz", "/readyz", "/metrics", "/docs.json"):
            assert loopback.get(churn.url + path, timeout=30).status_code == 401, path
            r = loopback.get(churn.url + path, headers=bearer(KEYS["predict"]), timeout=30)
            assert r.status_code == 403, path
            r = loopback.get(churn.url + path, headers=bearer(KEYS["admin"]), timeout=30)
            assert r.status_code == 200, path
    finally:
        keys_file.write_text(original)
        wait_until(lambda: loopback.get(churn.url + "/metrics", timeout=30).status_code == 200)


@pytest.mark.serve
def test_rotation_two_keys_at_once_then_the_old_one_revoked(churn, keys_file):
    """With the CLI: a new key next to the old one, both work, the old one is revoked."""
    url = churn.url + CHURN.task.route
    body = example_payload(CHURN, 1)
    old = cli(
        "auth", "new-key", "--name", "crm-old", "--scope", "predict", "--file", str(keys_file)
    )
    wait_until(
        lambda: loopback.post(url, json=body, headers=bearer(old), timeout=30).status_code == 200
    )
    new = cli(
        "auth", "new-key", "--name", "crm-new", "--scope", "predict", "--file", str(keys_file)
    )
    wait_until(
        lambda: loopback.post(url, json=body, headers=bearer(new), timeout=30).status_code == 200
    )
    assert loopback.post(url, json=body, headers=bearer(old), timeout=30).status_code == 200
    assert old not in keys_file.read_text() and new not in keys_file.read_text()
    cli("auth", "revoke", "--name", "crm-old", "--file", str(keys_file))
    wait_until(
        lambda: loopback.post(url, json=body, headers=bearer(old), timeout=30).status_code == 401
    )
    assert loopback.post(url, json=body, headers=bearer(new), timeout=30).status_code == 200
    for route in post_routes(churn):  # a revoked key is unknown everywhere: 401, not 403
        r = loopback.post(
            churn.url + route, json=bodies(CHURN)[route], headers=bearer(old), timeout=30
        )
        assert r.status_code == 401, route
    cli("auth", "revoke", "--name", "crm-new", "--file", str(keys_file))


@pytest.mark.serve
def test_a_key_above_its_rate_gets_429_with_retry_after_and_others_do_not(churn):
    url = churn.url + CHURN.task.route
    body = example_payload(CHURN, 1)
    codes = [loopback.post(url, json=body, headers=bearer(SLOW), timeout=30) for _ in range(3)]
    assert [r.status_code for r in codes] == [200, 200, 429]
    assert 1 <= int(codes[-1].headers["retry-after"]) <= 10
    assert codes[-1].json()["error"] == "too many requests for this key"
    assert (
        loopback.post(url, json=body, headers=bearer(KEYS["predict"]), timeout=30).status_code
        == 200
    )


@pytest.mark.serve
def test_jwts_signed_by_the_identity_provider(churn, idp):
    private, _ = idp
    url = churn.url + CHURN.task.route
    body = example_payload(CHURN, 1)

    def token(scope: str = "predict", key=private, **claims: object) -> str:
        now = int(time.time())
        base = {"sub": "svc-crm", "iss": ISSUER, "aud": AUDIENCE, "exp": now + 300, "scope": scope}
        return jwt.encode(base | claims, key, algorithm="RS256")

    def status(tok: str) -> int:
        return loopback.post(url, json=body, headers=bearer(tok), timeout=30).status_code

    assert status(token()) == 200
    assert status(token("outcome explain")) == 403
    assert status(token(exp=int(time.time()) - 3600)) == 401  # expired
    assert status(token(aud="someone-else")) == 401
    assert status(token(iss="https://evil.test/")) == 401
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert status(token(key=stranger)) == 401  # not the provider's signature
    unsigned = jwt.encode(
        {"sub": "x", "scope": "admin", "exp": int(time.time()) + 60}, None, "none"
    )
    assert status(unsigned) == 401


HOSTILE_CREDENTIALS = [
    {"authorization": "Bearer"},
    {"authorization": "Bearer " + "a" * 9_000},
    {"authorization": "Basic dXNlcjpwYXNz"},
    {"authorization": "Bearer a.b.c"},
    {"authorization": "Bearer ..."},
    {"authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."},
    {"x-api-key": "' OR 1=1 --"},
    {"x-api-key": "ppk_\u00e9\u00e8"},
]


@pytest.mark.serve
@pytest.mark.parametrize("headers", HOSTILE_CREDENTIALS)
def test_hostile_credentials_get_401_never_5xx(churn, headers):
    url = churn.url + CHURN.task.route
    body = example_payload(CHURN, 1)
    encoded = {k: v.encode("utf-8") for k, v in headers.items()}
    r = loopback.post(url, json=body, headers=encoded, timeout=30)
    assert r.status_code == 401, r.text


# --------------------------------------------------------------------------- the Bento


@pytest.mark.serve
# --------------------------------------------------------------------------- helpers


def cli(*args: str) -> str:
    """`pilotpack *args` in this process (the served keys file is what the test checks)."""
    out = in_process(*args)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip()


def replace_file(path: Path, doc: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(yaml.safe_dump(doc))
    tmp.replace(path)
