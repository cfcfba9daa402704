"""Both endpoints through a real `bentoml serve` subprocess on a free loopback port."""

import httpx
import numpy as np
import pytest

from shared.benchmark import Server
from shared.serving import ClassifierPredictor
from shared.usecase import get_use_case
from tests.helpers import train_fast
from usecases.predictive_maintenance.service import (
    FLEET,
    FLEET_ROUTE,
    MAX_RECORDS,
    ROUTE,
    Reading,
    example_fleet_payload,
    example_payload,
)

pytestmark = pytest.mark.serve
UC = get_use_case("predictive_maintenance")
FLEET_UC = get_use_case("predictive_maintenance_fleet")


@pytest.fixture(scope="module")
def trained():
    snapshot = train_fast(UC)
    fleet = train_fast(FLEET_UC)
    assert snapshot.bento_tag and fleet.bento_tag, (snapshot.gate_reasons, fleet.gate_reasons)
    return snapshot, fleet


@pytest.fixture(scope="module")
def server(trained):
    with Server(UC.service) as s:
        yield s


def _post(server: Server, path: str, body: object) -> httpx.Response:
    return httpx.post(server.url + path, json=body, timeout=10)


def _record(**changes: object) -> dict:
    return example_payload(1)["records"][0] | changes


def test_operations_get_probability_alarm_and_version(server, trained):
    risky = _record(UDI=2, **{"Torque [Nm]": 68.0, "Tool wear [min]": 230})
    r = _post(server, ROUTE, {"records": [_record(), risky]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [b["UDI"] for b in body] == [1, 2]
    assert body[0]["failure_probability"] < body[1]["failure_probability"]
    assert body[1]["alarm"] == (body[1]["failure_probability"] >= trained[0].threshold)
    assert all(b["model_version"] == trained[0].model_version for b in body)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"records": [{k: v for k, v in _record().items() if k != "Torque [Nm]"}]}, "Torque [Nm]"),
        ({"records": [_record(**{"Air temperature [K]": "warm"})]}, "Air temperature [K]"),
        ({"records": [_record(Type="X")]}, "Type"),
        ({"records": [_record(**{"Tool wear [min]": -5})]}, "Tool wear [min]"),
        ({"records": [_record(**{"Machine failure": 1})]}, "Machine failure"),
        ({"records": [_record(TWF=2)]}, "TWF"),
        ({"records": [_record()] * (MAX_RECORDS + 1)}, "records"),
        ({}, "records"),
    ],
    ids=[
        "missing",
        "wrong-type",
        "outside-domain",
        "negative",
        "target",
        "bad-flag",
        "too-many",
        "empty-body",
    ],
)
def test_bad_operations_are_a_4xx_naming_the_field(server, body, field):
    r = _post(server, ROUTE, body)
    assert 400 <= r.status_code < 500, r.text
    assert field in r.text


def test_fleet_readings_get_each_assets_risk_within_h(server, trained):
    payload = example_fleet_payload(30, "A1")
    payload["readings"] += example_fleet_payload(10, "B2")["readings"][::-1]  # any order
    r = _post(server, FLEET_ROUTE, payload)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(b["asset_id"], b["day"]) for b in body] == [("A1", 149), ("B2", 129)]
    assert all(
        b["horizon_days"] == 14 and b["model_version"] == trained[1].model_version for b in body
    )
    # Same code path in-process: identical scores.
    local = ClassifierPredictor.from_store(FLEET).predict_latest(
        [Reading(**x) for x in payload["readings"]]
    )
    np.testing.assert_allclose(
        [b["failure_probability"] for b in body], [x["probability"] for x in local], atol=1e-6
    )


@pytest.mark.parametrize(
    ("readings", "field"),
    [
        (example_fleet_payload(2)["readings"] * 2, "readings"),  # two readings on one day
        ([example_fleet_payload(1)["readings"][0] | {"cycle": 0}], "cycle"),
        ([example_fleet_payload(1)["readings"][0] | {"failure_day": 5}], "failure_day"),
        ([], "readings"),
    ],
    ids=["duplicate-day", "cycle-zero", "outcome-in-request", "empty"],
)
def test_bad_readings_are_a_4xx_naming_the_problem(server, readings, field):
    r = _post(server, FLEET_ROUTE, {"readings": readings})
    assert 400 <= r.status_code < 500, r.text
    assert field in r.text
