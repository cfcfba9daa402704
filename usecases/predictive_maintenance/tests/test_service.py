"""Both services through real `bentoml serve` subprocesses on free loopback ports: the snapshot
use case (`shared.serve.services:predictive_maintenance`, one result per operation) and its fleet
variant (`shared.serve.services:predictive_maintenance_fleet`, one result per asset: its latest
reading, judged from the readings sent with it)."""

import httpx
import numpy as np
import pytest

from shared.core.usecase import get_use_case
from shared.serve.factory import RecordPredictor
from shared.serve.services import example_payload, service_for
from tests import loopback
from tests.conftest import pinned
from tests.servers import Server

pytestmark = pytest.mark.serve
UC = get_use_case("predictive_maintenance")
FLEET = get_use_case("predictive_maintenance_fleet")
TASK, FLEET_TASK = UC.task, FLEET.task
MAX_RECORDS = UC.load_config().serving.max_records


def _record_model(name: str, route: str):
    api = next(a for a in service_for(name).apis.values() if a.route == route)
    return api.input_spec.model_fields["records"].annotation.__args__[0]


Reading = _record_model(FLEET.name, FLEET_TASK.route)


@pytest.fixture(scope="module")
def models(trained):
    return trained(UC.name), trained(FLEET.name)


@pytest.fixture(scope="module")
def server(serve, models):
    with serve(UC.name) as s:
        yield s


@pytest.fixture(scope="module")
def fleet_server(serve, models):
    with serve(FLEET.name) as s:
        yield s


def _post(server: Server, path: str, body: object) -> httpx.Response:
    return loopback.post(server.url + path, json=body, timeout=10)


def _record(**changes: object) -> dict:
    return example_payload(UC, 1)["records"][0] | changes


def _readings(n: int, asset: str | None = None) -> list[dict]:
    """n consecutive daily readings of one asset (the example asset unless named)."""
    records = example_payload(FLEET, n)["records"]
    return [r | {"asset_id": asset} for r in records] if asset else records


def test_each_is_its_own_service_at_its_tasks_route():
    assert UC.service == "shared.serve.services:predictive_maintenance"
    assert FLEET.service == "shared.serve.services:predictive_maintenance_fleet"
    assert TASK.route == FLEET_TASK.route == "/predict"


def test_operations_get_probability_alarm_and_version(server, models):
    risky = _record(UDI=2, **{"Torque [Nm]": 68.0, "Tool wear [min]": 230})
    r = _post(server, TASK.route, {"records": [_record(), risky]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [b["UDI"] for b in body] == [1, 2]
    assert body[0]["failure_probability"] < body[1]["failure_probability"]
    assert body[1]["alarm"] == (body[1]["failure_probability"] >= models[0].threshold)
    assert all(b["model_version"] == models[0].model_version for b in body)
    assert all(
        set(b) == {"UDI", "failure_probability", "alarm", "model_version", "variant"} for b in body
    )


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
    r = _post(server, TASK.route, body)
    assert 400 <= r.status_code < 500, r.text
    assert field in r.text


def test_fleet_readings_get_each_assets_risk_at_its_latest_reading(
    fleet_server, models, monkeypatch
):
    records = _readings(30, "A1") + _readings(10, "B2")[::-1]  # any order
    r = _post(fleet_server, FLEET_TASK.route, {"records": records})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(b["asset_id"], b["day"]) for b in body] == [("A1", 149), ("B2", 129)]
    assert all(b["model_version"] == models[1].model_version for b in body)
    assert all(
        set(b) == {"asset_id", "day", "failure_probability", "alarm", "model_version", "variant"}
        for b in body
    )
    assert all(b["alarm"] == (b["failure_probability"] >= models[1].threshold) for b in body)
    # Same code path in-process: identical scores.
    for key, value in pinned(FLEET, models[1].bento_tag).items():
        monkeypatch.setenv(key, value)
    local = RecordPredictor.from_store(FLEET).predict_latest([Reading(**x) for x in records])
    np.testing.assert_allclose(
        [b["failure_probability"] for b in body], [x["probability"] for x in local], atol=1e-6
    )


def test_an_assets_risk_depends_on_its_own_history_only(fleet_server):
    alone = _post(fleet_server, FLEET_TASK.route, {"records": _readings(30, "A1")}).json()
    together = _post(
        fleet_server, FLEET_TASK.route, {"records": _readings(30, "A1") + _readings(30, "B2")}
    ).json()
    assert together[0]["failure_probability"] == pytest.approx(
        alone[0]["failure_probability"], abs=1e-9
    )


@pytest.mark.parametrize(
    ("records", "field"),
    [
        (_readings(2) * 2, "duplicate (asset_id, day)"),  # two readings on one day, named
        ([_readings(1)[0] | {"cycle": 0}], "cycle"),
        ([_readings(1)[0] | {"failure_day": 5}], "failure_day"),
        ([], "records"),
    ],
    ids=["duplicate-day", "cycle-zero", "outcome-in-request", "empty"],
)
def test_bad_readings_are_a_4xx_naming_the_problem(fleet_server, records, field):
    r = _post(fleet_server, FLEET_TASK.route, {"records": records})
    assert 400 <= r.status_code < 500, r.text
    assert field in r.text
