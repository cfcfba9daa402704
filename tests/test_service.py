"""The churn service through a real `bentoml serve` subprocess on a free loopback port."""

from __future__ import annotations

import httpx
import pytest

from shared.benchmark import Server
from shared.serving import ClassifierPredictor
from shared.usecase import get_use_case
from tests.helpers import train_fast
from usecases.churn.service import MAX_RECORDS, CustomerRecord, example_payload

pytestmark = pytest.mark.serve
UC = get_use_case("churn")


@pytest.fixture(scope="module")
def trained():
    return train_fast(UC)


@pytest.fixture(scope="module")
def server(trained):
    with Server(UC.service) as s:
        yield s


def _post(server: Server, body: object, path: str = "/predict") -> httpx.Response:
    return httpx.post(server.url + path, json=body, timeout=10)


def _record(**changes: object) -> dict:
    return example_payload(1)["records"][0] | changes


def test_good_records_get_probability_decision_and_version(server, trained):
    records = [
        _record(),
        _record(customerID="b", Contract="Two year", tenure=60, TotalCharges="3000"),
    ]
    r = _post(server, {"records": records})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [b["customerID"] for b in body] == ["7590-VHVEG", "b"]
    assert all(0 <= b["churn_probability"] <= 1 for b in body)
    assert all(b["model_version"] == trained.model_version for b in body)
    assert body[0]["contact"] == (body[0]["churn_probability"] >= trained.threshold)
    # Same code path in-process: identical scores.
    local = ClassifierPredictor.from_store(UC).predict([CustomerRecord(**x) for x in records])
    assert [b["churn_probability"] for b in body] == pytest.approx(
        [x["probability"] for x in local], abs=1e-6
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"records": [{k: v for k, v in _record().items() if k != "tenure"}]}, "tenure"),
        ({"records": [_record(MonthlyCharges="lots")]}, "MonthlyCharges"),
        ({"records": [_record(Contract="Three year")]}, "Contract"),
        ({"records": [_record(tenure=-1)]}, "tenure"),
        ({"records": [_record(TotalCharges="n/a")]}, "TotalCharges"),
        ({"records": [_record(Churn="Yes")]}, "Churn"),  # the target is not an input
        ({"records": []}, "records"),
        ({"records": [_record()] * (MAX_RECORDS + 1)}, "records"),
        ({}, "records"),
    ],
    ids=[
        "missing",
        "wrong-type",
        "outside-domain",
        "negative",
        "bad-text",
        "target",
        "empty-list",
        "too-many",
        "empty-body",
    ],
)
def test_bad_input_is_a_4xx_naming_the_field(server, body, field):
    r = _post(server, body)
    assert 400 <= r.status_code < 500, r.text
    assert field in r.text


def test_non_json_body_is_a_4xx(server):
    r = httpx.post(
        server.url + "/predict", content=b"not json", headers={"content-type": "application/json"}
    )
    assert 400 <= r.status_code < 500


def test_unseen_open_category_is_scored_and_counted(server):
    r = _post(server, {"records": [_record(PaymentMethod="Crypto wallet")]})
    assert r.status_code == 200
    metrics = httpx.get(server.url + "/metrics").text
    line = next(
        x
        for x in metrics.splitlines()
        if x.startswith("pilotpack_unknown_category_total") and 'field="PaymentMethod"' in x
    )
    assert float(line.split()[-1]) >= 1
    assert "pilotpack_predictions_total" in metrics


def test_start_up_fails_clearly_without_a_trained_model(tmp_path):
    with (
        pytest.raises(RuntimeError, match="pilotpack train churn"),
        Server(UC.service, env={"BENTOML_HOME": str(tmp_path)}, timeout=60),
    ):
        pass


def test_rejected_requests_are_counted_by_status_code(server):
    assert _post(server, {"records": []}).status_code == 400
    metrics = httpx.get(server.url + "/metrics").text
    line = next(
        x
        for x in metrics.splitlines()
        if x.startswith("bentoml_service_request_total")
        and 'endpoint="/predict"' in x
        and 'http_response_code="400"' in x
    )
    assert float(line.split()[-1]) >= 1
