"""The churn service built by the core's factory, through a real `bentoml serve` subprocess on
a free loopback port (`bentoml serve shared.serve.services:churn`)."""

from __future__ import annotations

import asyncio
import gc
import inspect
import threading

import httpx
import pytest
from pydantic import ValidationError

from shared.core.config import ServingConfig
from shared.core.usecase import get_use_case
from shared.serve.factory import RecordPredictor, dispatch
from shared.serve.predlog import open_log
from shared.serve.services import example_payload, service_for
from tests import loopback
from tests.conftest import pinned
from tests.servers import Server

pytestmark = pytest.mark.serve
UC = get_use_case("churn")
TASK = UC.task
MAX_RECORDS = UC.load_config().serving.max_records
API = next(a for a in service_for(UC.name).apis.values() if a.route == TASK.route)
CustomerRecord = API.input_spec.model_fields["records"].annotation.__args__[0]


@pytest.fixture(scope="module")
def model(trained):
    return trained(UC.name)


@pytest.fixture(scope="module")
def server(serve, model):
    with serve(UC.name) as s:
        yield s


def _post(server: Server, body: object, path: str = TASK.route) -> httpx.Response:
    return loopback.post(server.url + path, json=body, timeout=10)


def _record(**changes: object) -> dict:
    return example_payload(UC, 1)["records"][0] | changes


def test_the_service_is_named_after_the_use_case_and_serves_at_the_task_route():
    assert UC.service == "shared.serve.services:churn"
    assert service_for("churn").name == "churn" and TASK.route == "/predict"


def test_good_records_get_probability_decision_and_version(server, model, monkeypatch):
    records = [
        _record(),
        _record(customerID="b", Contract="Two year", tenure=60, TotalCharges="3000"),
    ]
    r = _post(server, {"records": records})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [b["customerID"] for b in body] == ["7590-VHVEG", "b"]
    assert all(0 <= b["churn_probability"] <= 1 for b in body)
    assert all(b["model_version"] == model.model_version for b in body)
    assert body[0]["contact"] == (body[0]["churn_probability"] >= model.threshold)
    # Same code path in-process: identical scores.
    for key, value in pinned(UC, model.bento_tag).items():
        monkeypatch.setenv(key, value)
    local = RecordPredictor.from_store(UC).predict([CustomerRecord(**x) for x in records])
    assert [b["churn_probability"] for b in body] == pytest.approx(
        [x["probability"] for x in local], abs=1e-6
    )


def test_the_response_has_exactly_the_declared_output_fields(server):
    r = _post(server, example_payload(UC, 3))
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body) == 3
    expected = {"customerID", "churn_probability", "contact", "model_version", "variant"}
    assert all(set(b) == expected for b in body), body
    assert {o.name for o in UC.outputs} | {UC.id_column, "model_version", "variant"} == expected
    schema = loopback.get(server.url + "/docs.json").json()["components"]["schemas"]
    assert set(schema["ChurnResult"]["properties"]) == expected


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
    r = loopback.post(
        server.url + TASK.route, content=b"not json", headers={"content-type": "application/json"}
    )
    assert 400 <= r.status_code < 500


def test_unseen_open_category_is_scored_and_counted(server):
    r = _post(server, {"records": [_record(PaymentMethod="Crypto wallet")]})
    assert r.status_code == 200
    metrics = loopback.get(server.url + "/metrics").text
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
    metrics = loopback.get(server.url + "/metrics").text
    line = next(
        x
        for x in metrics.splitlines()
        if x.startswith("bentoml_service_request_total")
        and f'endpoint="{TASK.route}"' in x
        and 'http_response_code="400"' in x
    )
    assert float(line.split()[-1]) >= 1


def test_a_small_request_is_answered_on_the_event_loop_and_a_large_one_in_a_thread():
    """`dispatch`: at most `serving.inline_max` units on the loop (no hand-off to a thread and
    back), more in a worker thread, so a large request never stalls the loop; 0 sends every
    request to a thread."""

    async def where() -> tuple[int, int, int, int]:
        loop = threading.get_ident()
        small = await dispatch(1, 1, threading.get_ident)
        large = await dispatch(2, 1, threading.get_ident)
        never = await dispatch(1, 0, threading.get_ident)
        return loop, small, large, never

    loop, small, large, never = asyncio.run(where())
    assert small == loop
    assert large != loop and never != loop
    assert asyncio.run(dispatch(3, 1, lambda a, b: a + b, 2, 5)) == 7  # arguments passed on


def test_a_small_request_leaves_the_loop_while_the_log_commits_a_batch(tmp_path):
    """Its rows would wait on the loop for that commit (group commit): a thread waits instead."""
    log = open_log(str(tmp_path / "predictions.db"))

    async def where() -> tuple[int, int, int]:
        loop = threading.get_ident()
        idle = await dispatch(1, 1, threading.get_ident, log=log)
        log._leading = True  # a worker thread is writing its batch
        busy = await dispatch(1, 1, threading.get_ident, log=log)
        return loop, idle, busy

    try:
        loop, idle, busy = asyncio.run(where())
    finally:
        log._leading = False
        log.close()
    assert idle == loop and busy != loop


def test_the_scoring_api_is_a_coroutine_with_one_inline_record_by_default():
    assert inspect.iscoroutinefunction(service_for(UC.name).apis["predict"].func)
    assert ServingConfig().inline_max == 1
    with pytest.raises(ValidationError, match="inline_max"):
        ServingConfig(inline_max=-1)


def test_a_ready_service_freezes_its_start_up_heap(model, monkeypatch):
    """What start-up loaded leaves the collector's sight (`freeze_heap`), so a full collection
    walks only what requests made since; and BentoML's per-request `inspect.signature` of the
    API is the one computed at build."""
    monkeypatch.setenv("PILOTPACK_MODEL_CHURN", model.bento_tag)
    svc = service_for(UC.name)
    assert "__signature__" in vars(svc.apis["predict"].func)
    gc.unfreeze()
    try:
        svc.inner()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
