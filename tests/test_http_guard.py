"""Hostile input never gets a 5xx: the guard (shared/serve/guard.py) and strict request models,
through a real `bentoml serve` of churn and demand_forecasting; then schemathesis (every check)
against each service's own /docs.json, and property-based bodies from the schema (hypothesis).
Authentication is on (shared/serve/auth.py): every request carries a valid API key, as in production."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.core.usecase import get_use_case, registry
from shared.serve.auth import key_entry, new_key
from shared.serve.guard import _normalise as normalise
from shared.serve.guard import fix_openapi, is_json, largest_body
from shared.serve.services import example_payload
from tests import loopback
from tests.conftest import serving
from tests.processes import wait_until

pytestmark = pytest.mark.serve
ROOT = Path(__file__).resolve().parents[1]
CHURN = get_use_case("churn")
FORECAST = get_use_case("demand_forecasting")
KEY = new_key()
AUTH = {"authorization": f"Bearer {KEY}"}
SECURED = {  # auth on, one key for every API route; no rate limit in reach of these tests
    "PILOTPACK_AUTH": "on",
    "PILOTPACK_API_KEYS": json.dumps(
        {
            "keys": [key_entry("tests", KEY, ["predict", "explain", "outcome"])],
            "rate_per_minute": 1e9,
            "burst": 10**6,
        }
    ),
}


@pytest.fixture(scope="module")
def churn(serve):
    with serve(CHURN.name, env=SECURED) as s:
        yield s


@pytest.fixture(scope="module")
def forecast(serve):
    with serve(FORECAST.name, env=SECURED) as s:
        yield s


def _url(server, uc) -> str:
    return server.url + uc.task.route


def _payload(uc, n: int = 1) -> dict:
    return example_payload(uc, n)


def _record(**changes: object) -> dict:
    return _payload(CHURN)["records"][0] | changes


def _post(url: str, **kwargs: object) -> httpx.Response:
    """httpx.post with the module's API key."""
    return loopback.post(url, **kwargs | {"headers": AUTH | dict(kwargs.get("headers") or {})})


def _post_raw(url: str, content: bytes | str, content_type: str | None) -> httpx.Response:
    headers = {"content-type": content_type} if content_type else {}
    return _post(url, content=content, headers=headers, timeout=30)


# --------------------------------------------------------------------------- pure parts


def test_json_media_types():
    assert is_json("application/json") and is_json("application/json; charset=utf-8")
    assert is_json("application/merge-patch+json") and is_json(None)
    assert not is_json("text/plain") and not is_json("multipart/form-data; boundary=x")


def test_every_client_error_body_gets_one_shape():
    assert normalise(b'[{"error": "bad horizon"}]') == {"error": "bad horizon", "detail": []}
    assert normalise(b'{"error": "2 errors", "detail": [{"loc": ["a"]}]}')["detail"] == [
        {"loc": ["a"]}
    ]
    assert normalise(b"not json")["error"] == "not json"


def test_the_largest_body_counts_every_list_at_max_items_and_strings_at_max_length():
    schema = {
        "type": "object",
        "properties": {"rows": {"type": "array", "maxItems": 10, "items": {"$ref": "#/$defs/R"}}},
        "$defs": {
            "R": {
                "type": "object",
                "properties": {
                    "s": {"type": "string", "maxLength": 50},
                    "e": {"enum": ["a", "bbbb"]},
                    "n": {"anyOf": [{"type": "number"}, {"type": "null"}]},
                },
            }
        },
    }
    row = len(json.dumps({"s": "x" * 50, "e": "bbbb", "n": 1.0}))
    assert 10 * row <= largest_body(schema) <= 10 * row + 200


def test_the_openapi_fix_requires_bodies_and_lists_client_errors():
    spec = {"paths": {"/p": {"post": {"requestBody": {"content": {}}, "responses": {}}}}}
    fixed = fix_openapi(spec, ["/p"], {"/p": "dates are out of order"})
    op = fixed["paths"]["/p"]["post"]
    assert op["requestBody"]["required"] is True
    assert {"400", "413", "415"} <= set(op["responses"])
    detail = fixed["components"]["schemas"]["ClientError"]["properties"]["detail"]
    assert detail["type"] == "array"
    assert op["x-pilotpack-cross-field-rules"] is True and "out of order" in op["description"]


# --------------------------------------------------------------------------- served churn

BODY = json.dumps({"records": [_record()]})
HOSTILE_BODIES = {
    "json as text/plain": (BODY, "text/plain"),
    "json as image/png": (BODY, "image/png"),
    "multipart without boundary": (BODY, "multipart/form-data"),
    "multipart with a wrong boundary": (
        '--zzz\r\nContent-Disposition: form-data; name="records"\r\n\r\n[]\r\n--zzz--\r\n',
        "multipart/form-data; boundary=abc",
    ),
    "multipart field of nested json": (
        '--b\r\nContent-Disposition: form-data; name="records"\r\n\r\n'
        + "[" * 5000
        + "]" * 5000
        + "\r\n--b--\r\n",
        "multipart/form-data; boundary=b",
    ),
    "form field of nested json": (
        "records=" + "[" * 5000 + "]" * 5000,
        "application/x-www-form-urlencoded",
    ),
    "form field of a huge integer": ("records=" + "9" * 5000, "application/x-www-form-urlencoded"),
}


@pytest.mark.parametrize("name", HOSTILE_BODIES)
def test_bodies_that_are_not_json_get_415(churn, name):
    content, content_type = HOSTILE_BODIES[name]
    r = _post_raw(_url(churn, CHURN), content, content_type)
    assert r.status_code == 415, r.text
    assert set(r.json()) == {"error", "detail"}


@pytest.mark.parametrize(
    "body",
    [
        '{"records": ' + "[" * 5000 + "]" * 5000 + "}",  # deeply nested
        '{"records": [' + json.dumps(_record())[:-1] + ', "tenure": ' + "9" * 5000 + "}]}",
        json.dumps({"records": [_record(tenure=True)]}),
        json.dumps({"records": [_record(MonthlyCharges="61.2")]}),
        json.dumps({"records": [_record(MonthlyCharges=True)]}),
        json.dumps({"records": [_record(SeniorCitizen=False)]}),
        json.dumps({"records": [_record(tenure=1.5)]}),
        '{"records": [' + json.dumps(_record())[:-1] + ', "MonthlyCharges": NaN}]}',
        '{"records": [' + json.dumps(_record())[:-1] + ', "MonthlyCharges": Infinity}]}',
        '{"records": [' + json.dumps(_record())[:-1] + ', "MonthlyCharges": 1e400}]}',
        "",
        "{",
        "[]",
        "null",
    ],
    ids=lambda b: b[:40],
)
def test_strict_and_hostile_json_gets_400_listing_the_problems(churn, body):
    r = _post_raw(_url(churn, CHURN), body, "application/json")
    assert r.status_code == 400, r.text
    error = r.json()
    assert isinstance(error["error"], str) and isinstance(error["detail"], list)


def test_json_integers_are_accepted_for_float_fields(churn):
    r = _post(_url(churn, CHURN), json={"records": [_record(MonthlyCharges=30)]}, timeout=30)
    assert r.status_code == 200, r.text


def test_the_largest_legitimate_body_passes_and_a_larger_one_gets_413(churn):
    cfg = CHURN.load_config()
    records = [_record(customerID=f"c{i}") for i in range(cfg.serving.max_records)]
    r = _post(_url(churn, CHURN), json={"records": records}, timeout=60)
    assert r.status_code == 200, r.text
    huge = b'{"records": [' + b" " * (16 << 20) + b"]}"
    assert _post_raw(_url(churn, CHURN), huge, "application/json").status_code == 413

    def chunks():  # no Content-Length: the guard counts what arrives
        for _ in range(8):
            yield b" " * (1 << 20)

    r = _post(_url(churn, CHURN), content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_one_log_line_per_rejected_request_no_traceback_and_few_body_samples(churn):
    before = churn.log_path.read_text(errors="replace")
    for i in range(30):
        _post_raw(_url(churn, CHURN), json.dumps({"records": [_record(tenure=f"x{i}")]}), None)

    def rejected_lines() -> int:
        """the service logged all 30 rejections"""
        text = churn.log_path.read_text(errors="replace")[len(before) :]
        return text.count("rejected POST /predict 400")

    wait_until(lambda: rejected_lines() >= 30, 10)
    new = churn.log_path.read_text(errors="replace")[len(before) :]
    lines = [x for x in new.splitlines() if x.strip()]
    assert "Traceback" not in new
    rejected = [x for x in lines if "rejected POST /predict 400" in x]
    assert len(rejected) == 30, new[-2000:]
    assert len(lines) == 30, new[-2000:]  # nothing else: no traceback, no second line
    assert sum("body sample" in x for x in rejected) <= 1


def test_the_openapi_document_says_what_the_service_does(churn):
    spec = loopback.get(churn.url + "/docs.json", timeout=30).json()
    op = spec["paths"][CHURN.task.route]["post"]
    assert op["requestBody"]["required"] is True
    ref = op["responses"]["400"]["content"]["application/json"]["schema"]["$ref"]
    error = spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert error["properties"]["detail"]["type"] == "array"
    record = spec["components"]["schemas"]["ChurnRecord"]["properties"]
    assert record["MonthlyCharges"]["type"] == "number"


# --------------------------------------------------------------------------- property-based

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
FIELDS = list(_record())


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(field=st.sampled_from(FIELDS), value=JSON_VALUES, drop=st.booleans())
def test_any_value_in_any_field_gets_200_or_400_never_5xx(churn, field, value, drop):
    record = _record()
    if drop:
        record.pop(field)
    else:
        record[field] = value
    r = _post(_url(churn, CHURN), json={"records": [record]}, timeout=30)
    assert r.status_code in (200, 400), (field, value, r.status_code, r.text)


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    key=st.sampled_from(["horizon", "history", "future_holidays", "Store", "period", "extra"]),
    value=JSON_VALUES,
)
def test_any_value_in_a_forecast_request_gets_200_or_400_never_5xx(forecast, key, value):
    series = _payload(FORECAST)["series"][0]
    if key == "period":  # one history item replaced
        series["history"][len(series["history"]) // 2] = value
    else:
        series[key] = value
    r = _post(_url(forecast, FORECAST), json={"series": [series]}, timeout=30)
    assert r.status_code in (200, 400), (key, value, r.status_code, r.text)


def test_forecast_numbers_and_flags_are_strict(forecast):
    good = _payload(FORECAST)
    assert _post(_url(forecast, FORECAST), json=good, timeout=30).status_code == 200
    for change in ({"horizon": True}, {"horizon": "4"}):
        bad = {"series": [good["series"][0] | change]}
        r = _post(_url(forecast, FORECAST), json=bad, timeout=30)
        assert r.status_code == 400, (change, r.text)
    series = good["series"][0]
    target, time_column = FORECAST.target, FORECAST.time_column
    for field, value in ((target, "61.2"), (target, True), (time_column, 0)):
        history = [dict(p) for p in series["history"]]
        history[-1][field] = value
        r = _post(
            _url(forecast, FORECAST), json={"series": [series | {"history": history}]}, timeout=30
        )
        assert r.status_code == 400, (field, value, r.text)


# --------------------------------------------------------------------------- schemathesis


ROOT_SERVICE = "shared.serve.root:PilotPack"


@contextmanager
def secured_server(request: Any, name: str) -> Iterator[Any]:
    """The module's running server of churn or demand_forecasting, else a new one (auth on)."""
    if name in (CHURN.name, FORECAST.name):
        yield request.getfixturevalue("churn" if name == CHURN.name else "forecast")
    elif name == ROOT_SERVICE:
        with serving(ROOT_SERVICE, list(registry()), timeout=180, env=SECURED) as server:
            yield server
    else:
        with request.getfixturevalue("serve")(name, env=SECURED) as server:
            yield server


@pytest.mark.parametrize("name", [*registry(), ROOT_SERVICE])
def test_schemathesis_all_checks_pass_against_every_service(request, name, tmp_path):
    """The third-party conformance checker, every check, on each service's own OpenAPI document
    (every use case's, and the root one serving them all), with the repository's
    schemathesis.toml (run elsewhere: its cache stays out of the repo)."""
    with secured_server(request, name) as server:
        out = _schemathesis(server.url, tmp_path, ROOT_EXAMPLES if name == ROOT_SERVICE else 15)
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]


# The root service's operations are each use case's, fuzzed with 15 examples on its own service
# above; through the root (its prefixes, its guard, the forecaster's own process) 5 do: the
# coverage phase's ~3,000 cases do not depend on it, and 15 cost 20 s instead of 14.
ROOT_EXAMPLES = 5


def _schemathesis(url: str, cwd: Path, examples: int) -> subprocess.CompletedProcess[str]:
    cmd = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(ROOT / "schemathesis.toml"),
        "run",
        f"{url}/docs.json",
        "--checks",
        "all",
        "--max-examples",
        str(examples),
        "--seed",
        "1",
        "--no-color",
        "--header",
        f"Authorization: Bearer {KEY}",
    ]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)
