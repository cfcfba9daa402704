"""The HTTP edge under attack (issue 19): bounded metric labels and one metrics folder per
service, strict headers, unforgeable and personal-data-free server logs, the API key in
/docs.json. Pure parts in process; the rest through a real `bentoml serve` of churn with
authentication on and every rejected body sampled."""

from __future__ import annotations

import json
import os
import random
import re

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from shared.core.usecase import get_use_case
from shared.serve.auth import DuplicateHeader, key_entry, new_key, single_headers
from shared.serve.guard import (
    SECURITY_SCHEMES,
    HttpGuard,
    body_sample,
    fix_openapi,
    redact,
    route_vocabulary,
    vocabulary,
)
from shared.serve.metrics import OTHER, endpoint_label, forget_dead_folders
from shared.serve.services import example_payload, personal_columns, service_for
from tests import loopback
from tests.processes import wait_until

CHURN = get_use_case("churn")
KEY = new_key()
AUTH = {"authorization": f"Bearer {KEY}"}
SECURED = {
    "PILOTPACK_AUTH": "on",
    "PILOTPACK_API_KEYS": json.dumps(
        {
            "keys": [key_entry("tests", KEY, ["predict", "explain", "outcome"])],
            "rate_per_minute": 1e9,
            "burst": 10**6,
        }
    ),
    "PILOTPACK_BODY_SAMPLE_SECONDS": "0",  # every rejected body is sampled: all are checked
}
PLANTED = "9931-PLANTED"  # a customer id that must never reach a log


def _record(**changes: object) -> dict:
    return example_payload(CHURN, 1)["records"][0] | changes


# --------------------------------------------------------------------------- pure parts


def test_the_endpoint_label_is_the_route_template_or_other():
    async def ok(request):
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[
            Route("/predict", ok, methods=["POST"]),
            Route("/items/{id}", ok),
            Mount("/static_content", routes=[]),
        ]  # fmt: skip
    )

    def label(path: str, method: str = "GET") -> str:
        return endpoint_label({"type": "http", "path": path, "method": method, "app": app})

    assert label("/predict", "POST") == "/predict"
    assert label("/predict", "GET") == "/predict"  # a 405 is still that route
    assert label("/items/42") == "/items/{id}"
    assert label("/static_content/x.js") == "/static_content/*"
    assert {label(f"/x{i}") for i in range(50)} == {OTHER}


def test_a_header_sent_twice_is_refused_and_one_sent_once_is_read():
    scope = {"headers": [(b"Content-Type", b"a"), (b"x", b"1"), (b"x", b"2")]}
    assert single_headers(scope, frozenset({b"content-type"})) == {b"content-type": b"a"}
    scope["headers"].append((b"content-type", b"b"))
    with pytest.raises(DuplicateHeader, match="content-type"):
        single_headers(scope, frozenset({b"content-type"}))


def test_a_body_sample_keeps_structure_and_the_schemas_words_only():
    vocab = route_vocabulary(service_for(CHURN.name), personal_columns(CHURN))["/predict"]
    assert {"customerID", "gender", "SeniorCitizen"} <= vocab.personal
    record = _record(customerID=PLANTED, gender="Female", PaymentMethod=PLANTED, tenure="x")
    record["Jane Doe"] = PLANTED  # an unknown key holding personal data
    sample = body_sample(json.dumps({"records": [record, record]}).encode(), vocab)
    assert PLANTED not in sample and "Jane" not in sample and "Female" not in sample
    assert len(sample) <= 200
    first = redact({"records": [record]}, vocab)["records"][0]
    assert first["customerID"] == first["gender"] == first["SeniorCitizen"] == "<personal>"
    assert first["PaymentMethod"] == "<text, 12 chars>"
    assert PLANTED not in first and "Jane Doe" not in first
    assert first["Contract"] == record["Contract"]  # an allowed category is the schema's word
    assert first["MonthlyCharges"] == record["MonthlyCharges"]
    assert body_sample(b'{"records": [' + b"[" * 5000, vocab) == '"<5013 bytes, not JSON>"'


def test_the_openapi_document_declares_the_key_when_auth_is_on():
    spec = {"paths": {"/p": {"post": {"responses": {}}}, "/healthz": {"get": {}}}}
    assert "securitySchemes" not in fix_openapi(json.loads(json.dumps(spec)), ["/p"])["components"]
    fixed = fix_openapi(spec, ["/p"], secured=True)
    assert fixed["components"]["securitySchemes"] == SECURITY_SCHEMES
    assert fixed["paths"]["/p"]["post"]["security"] == [{"bearerKey": []}, {"apiKeyHeader": []}]
    assert "security" not in fixed["paths"]["/healthz"]["get"]


def test_only_metrics_folders_of_gone_servers_are_removed(tmp_path):
    home = tmp_path / "prometheus"
    mine, gone, other = home / f"churn-{os.getpid()}", home / "churn-999999999", home / "notes"
    for folder in (mine, gone, other):
        folder.mkdir(parents=True)
    assert forget_dead_folders(str(mine)) == [gone]
    assert mine.exists() and other.exists() and not gone.exists()
    assert forget_dead_folders(str(tmp_path / "elsewhere" / "x-1")) == []


# --------------------------------------------------------------------------- served churn


@pytest.fixture(scope="module")
def churn(serve):
    with serve(CHURN.name, env=SECURED) as s:
        yield s


def _predict(server, **kwargs: object) -> httpx.Response:
    headers = kwargs.pop("headers", None) or list(AUTH.items())
    return loopback.post(server.url + "/predict", headers=headers, timeout=30, **kwargs)


def _new_log(server, before: int) -> list[str]:
    text = server.log_path.read_bytes()[before:].decode("utf-8", "replace")
    return [line for line in text.splitlines() if line.strip()]


@pytest.mark.serve
def test_random_paths_do_not_grow_metrics_and_are_labelled_other(churn):
    rng = random.Random(19)
    with httpx.Client(base_url=churn.url, timeout=30) as client:
        assert (
            client.post("/predict", json={"records": [_record()]}, headers=AUTH).status_code == 200
        )

        def burst(n: int) -> None:
            for i in range(n):
                path = f"/{rng.getrandbits(64):x}/{i}"
                if i % 2:
                    client.get(path)  # no key: 401
                else:
                    client.post(path, headers=AUTH, content=b"{}")  # a key, no such route: 404

        burst(20)  # the `other` series exist now
        before = client.get("/metrics").text
        burst(2000)
        after = client.get("/metrics").text
    print(f"/metrics: {len(before)} bytes before 2,000 random paths, {len(after)} after")
    assert len(after) < 1.01 * len(before), (len(before), len(after))
    endpoints = set(re.findall(r'endpoint="([^"]*)"', after))
    assert OTHER in endpoints and "/predict" in endpoints
    assert all(e == OTHER or not re.fullmatch(r"/[0-9a-f]+/\d+", e) for e in endpoints), endpoints


DUPLICATED = {
    "multipart then json": [
        ("content-type", "multipart/form-data; boundary=b"),
        ("content-type", "application/json"),
    ],
    "json then multipart": [
        ("content-type", "application/json"),
        ("content-type", "multipart/form-data; boundary=b"),
    ],
    "form then json": [
        ("content-type", "application/x-www-form-urlencoded"),
        ("content-type", "application/json"),
    ],
    "json twice": [("content-type", "application/json"), ("content-type", "application/json")],
}
FORM_BODIES = {
    "json": json.dumps({"records": [_record()]}),
    "multipart": '--b\r\nContent-Disposition: form-data; name="records"\r\n\r\n'
    + "[" * 5000
    + "]" * 5000
    + "\r\n--b--\r\n",
    "form, nested": "records=" + "[" * 5000 + "]" * 5000,
    "form, huge integer": "records=" + "9" * 5000,
}


@pytest.mark.serve
@pytest.mark.parametrize("body", FORM_BODIES)
@pytest.mark.parametrize("headers", DUPLICATED)
def test_a_duplicated_content_type_gets_400_never_5xx(churn, headers, body):
    r = _predict(churn, headers=[*AUTH.items(), *DUPLICATED[headers]], content=FORM_BODIES[body])
    assert r.status_code == 400, r.text
    assert "sent more than once" in r.json()["error"]


@pytest.mark.serve
@pytest.mark.parametrize(
    "headers",
    [
        [("authorization", f"Bearer {KEY}"), ("authorization", f"Bearer {KEY}")],
        [("x-api-key", KEY), ("x-api-key", "wrong")],
        [("x-api-key", "wrong"), ("x-api-key", KEY)],
        [*AUTH.items(), ("content-length", "2"), ("content-length", "2")],
    ],
    ids=["authorization", "x-api-key, good first", "x-api-key, good last", "content-length"],
)
def test_other_duplicated_headers_the_edge_reads_get_400_never_5xx(churn, headers):
    r = _predict(churn, headers=headers, content=b"{}")
    assert r.status_code == 400, r.text


@pytest.mark.serve
def test_form_bodies_reach_no_form_parser_whatever_the_header_says(churn):
    """A body that passes the guard is parsed as JSON: its one Content-Type says so."""
    ok = _predict(churn, json={"records": [_record()]}, headers=[*AUTH.items()])
    assert ok.status_code == 200
    r = _predict(
        churn,
        headers=[*AUTH.items(), ("content-type", "application/vnd.api+json")],
        content="records=" + "[" * 5000 + "]" * 5000,
    )
    assert r.status_code == 400, r.text


@pytest.mark.serve
def test_a_log_forging_body_leaves_exactly_one_escaped_line(churn):
    before = churn.log_path.stat().st_size
    forged = "\n2026-01-01 00:00:00 [ERROR] pilotpack: model deleted by admin"
    record = _record() | {forged: 1}
    r = _predict(churn, content=json.dumps({"records": [record]}),
                 headers=[*AUTH.items(), ("content-type", "application/json")])  # fmt: skip
    assert r.status_code == 400, r.text
    wait_until(lambda: _new_log(churn, before), 10, "the rejection is logged")
    lines = _new_log(churn, before)
    assert len(lines) == 1, lines
    assert "rejected POST /predict 400" in lines[0] and "<key>" in lines[0]
    assert "model deleted" not in lines[0]  # a made-up key is not quoted at all


@pytest.mark.serve
def test_a_planted_customer_id_reaches_no_server_log_line(churn):
    before = churn.log_path.stat().st_size
    bodies = [
        {"records": [_record(customerID=PLANTED)]},  # accepted
        {"records": [_record(customerID=PLANTED, PaymentMethod=PLANTED)]},  # an unseen category
        {"records": [_record(customerID=PLANTED, tenure="x")]},  # rejected: 400
        {"records": [_record(customerID=PLANTED, tenure=PLANTED)]},  # a misplaced id
        {"records": [_record(customerID=PLANTED) | {PLANTED: 1}]},  # the id as a key
    ]
    statuses = [_predict(churn, json=b).status_code for b in bodies]
    assert statuses == [200, 200, 400, 400, 400]
    wait_until(lambda: sum("rejected" in x for x in _new_log(churn, before)) >= 3, 10)
    text = churn.log_path.read_text(errors="replace")
    assert sum("body sample" in x for x in _new_log(churn, before)) == 3  # sampled, redacted
    assert PLANTED not in text


@pytest.mark.serve
def test_the_served_openapi_document_declares_the_key(churn):
    spec = loopback.get(churn.url + "/docs.json", timeout=30).json()
    assert spec["components"]["securitySchemes"] == SECURITY_SCHEMES
    assert spec["paths"][CHURN.task.route]["post"]["security"]
    assert loopback.post(churn.url + CHURN.task.route, json={}, timeout=30).status_code == 401


def _predictions(server) -> float:
    text = loopback.get(server.url + "/metrics", timeout=30).text
    return sum(
        float(v) for v in re.findall(r"^pilotpack_predictions_total\{[^}]*\} (\S+)", text, re.M)
    )


@pytest.mark.serve
def test_two_services_on_one_home_keep_their_own_metrics(churn, serve):
    """Churn A (the module's server) scores 3 records, churn B starts on the same BENTOML_HOME,
    A scores 2 more: A counts 5 more (B's start emptied nothing of A's), B counts none."""
    before = _predictions(churn)
    for _ in range(3):
        assert _predict(churn, json={"records": [_record()]}).status_code == 200
    with serve(CHURN.name, env=SECURED) as b:
        for _ in range(2):
            assert _predict(churn, json={"records": [_record()]}).status_code == 200
        assert _predictions(churn) == before + 5
        assert _predictions(b) == 0


def test_a_rejection_line_escapes_every_client_text(caplog):
    guard = HttpGuard(None, {"/p": 100}, samples={"/p": vocabulary({"properties": {"a": {}}})},
                      sample_every=0)  # fmt: skip
    error = {
        "error": "bad\n2026 [ERROR] x\u2028y",
        "detail": [{"loc": ["a", 0, "\nz"], "msg": "m"}],
    }
    with caplog.at_level("WARNING", logger="pilotpack.http"):
        guard._log({"method": "POST", "path": "/p"}, 400, error, b'{"a": ["\\n2026 [ERROR]"]}')
    (record,) = caplog.records
    line = record.getMessage()
    assert "\n" not in line and "\u2028" not in line
    assert "a.0.<key>: m" in line and "<text, 13 chars>" in line
