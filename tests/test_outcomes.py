"""POST /outcome through a real `bentoml serve` of churn: values checked against the target
(422 naming the value), unknown request ids refused (404 naming them, nothing stored), outcomes
by an unknown routing key stored and counted as orphans, a cap per request (count and bytes),
a budget per caller (429), the loud start-up line of local mode; then `outcomes load` and
`log export`: outcomes by request id and by routing key reach the Parquet file."""

from __future__ import annotations

import httpx
import pandas as pd
import pytest
from typer.testing import CliRunner

from shared.app.cli import app
from shared.core.usecase import get_use_case
from shared.serve.predlog import open_log
from shared.serve.services import example_payload
from tests import loopback

pytestmark = pytest.mark.serve
CHURN = get_use_case("churn")


@pytest.fixture(scope="module")
def served(serve, tmp_path_factory):
    """A churn service on its own log; 6 customers scored once each: {customer: request id}."""
    location = str(tmp_path_factory.mktemp("log") / "predictions.db")
    with serve(CHURN.name, env={"PILOTPACK_PREDICTION_LOG": location}) as server:
        record = example_payload(CHURN, 1)["records"][0]
        rids = {}
        for i in range(6):
            customer = f"cust-{i}"
            body = {"records": [record | {CHURN.id_column: customer}]}
            r = loopback.post(server.url + CHURN.task.route, json=body, timeout=30)
            assert r.status_code == 200, r.text
            rids[customer] = r.headers["x-request-id"]
        yield server, location, rids


def post(server, outcomes: list[dict]) -> httpx.Response:
    return loopback.post(server.url + "/outcome", json={"outcomes": outcomes}, timeout=30)


def stored(location: str) -> int:
    with open_log(location) as log:
        return int(log.query("SELECT count(*) FROM outcomes")[0][0])


def test_local_mode_warns_at_start_up_that_anyone_may_post_outcomes(served):
    server, _, _ = served
    assert "OUTCOMES ARE OPEN" in server.log_path.read_text()


def test_a_value_the_target_cannot_take_is_a_422_naming_it_and_nothing_is_stored(served):
    server, location, rids = served
    before = stored(location)
    r = post(server, [{"request_id": rids["cust-0"], "value": 1}, {"request_id": rids["cust-1"],
             "value": 7}, {"request_id": rids["cust-2"], "value": "maybe"}])  # fmt: skip
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert "2 of 3 outcomes refused" in error
    assert "outcomes[1].value: 7 is not a value of Churn" in error
    assert 'outcomes[2].value: "maybe" is not a value of Churn' in error
    assert stored(location) == before
    # The OpenAPI document lists what is allowed.
    spec = loopback.get(server.url + "/docs.json", timeout=30).json()
    assert spec["components"]["schemas"]["ChurnOutcome"]["properties"]["value"]["enum"] == [
        0, 1, True, False, "Yes", "No"]  # fmt: skip


def test_an_unknown_request_id_is_a_404_naming_it_and_nothing_is_stored(served):
    server, location, rids = served
    before = stored(location)
    r = post(server, [{"request_id": rids["cust-0"], "value": 1}, {"request_id": "never-seen",
             "value": 0}])  # fmt: skip
    assert r.status_code == 404, r.text
    assert "1 of 2 outcomes refused: request_id 'never-seen'" in r.json()["error"]
    assert stored(location) == before


def test_labels_and_numbers_are_stored_and_unknown_routing_keys_counted_as_orphans(served):
    server, location, rids = served
    before = stored(location)
    r = post(server, [{"request_id": rids["cust-0"], "value": "Yes"},
                      {"request_id": rids["cust-1"], "value": False},
                      {"routing_key": "cust-2", "value": 1},
                      {"routing_key": "nobody", "value": 0}])  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json() == {"stored": 4, "orphans": 1}
    assert stored(location) == before + 4
    with open_log(location) as log:
        values = [v for (v,) in log.query("SELECT value FROM outcomes ORDER BY id")[-4:]]
    assert values == [1.0, 0.0, 1.0, 0.0]


def test_outcomes_per_request_are_capped_in_count_and_bytes(served):
    server, _, _ = served
    cap = CHURN.load_config().serving.outcomes.max_per_request
    r = post(server, [{"routing_key": "x", "value": 0}] * (cap + 1))
    assert r.status_code == 400, r.text
    body = b'{"outcomes": [' + b" " * (4 << 20) + b"]}"
    r = loopback.post(server.url + "/outcome", content=body, timeout=30,
                   headers={"content-type": "application/json"})  # fmt: skip
    assert r.status_code == 413, r.text


def test_outcomes_and_load_reach_the_export_by_request_id_and_by_routing_key(served, tmp_path):
    """Known by construction: cust-3 by request id over HTTP, cust-4 by routing key over HTTP,
    cust-5 by id with `outcomes load`; each joins its one prediction in the Parquet file."""
    server, location, rids = served
    r = post(server, [{"request_id": rids["cust-3"], "value": 1},
                      {"routing_key": "cust-4", "value": 0}])  # fmt: skip
    assert r.status_code == 200, r.text
    runner = CliRunner()
    env = {"PILOTPACK_PREDICTION_LOG": location}
    file = tmp_path / "outcomes.csv"
    pd.DataFrame({CHURN.id_column: ["cust-5"], CHURN.target: ["Yes"]}).to_csv(file, index=False)
    done = runner.invoke(app, ["outcomes", "load", "churn", "--data", str(file)], env=env)
    assert done.exit_code == 0, done.output
    bad = tmp_path / "bad.csv"
    pd.DataFrame({CHURN.id_column: ["cust-5"], CHURN.target: ["Maybe"]}).to_csv(bad, index=False)
    done = runner.invoke(app, ["outcomes", "load", "churn", "--data", str(bad)], env=env)
    assert done.exit_code == 2 and '"Maybe" is not a value of Churn' in done.output
    out = tmp_path / "churn.parquet"
    done = runner.invoke(app, ["log", "export", "churn", "--out", str(out)], env=env)
    assert done.exit_code == 0, done.output
    frame = pd.read_parquet(out)
    joined = dict(zip(frame.request_id, frame.outcome, strict=True))
    assert joined[rids["cust-3"]] == 1.0
    assert joined[rids["cust-4"]] == 0.0
    assert joined[rids["cust-5"]] == 1.0


def test_a_caller_above_its_outcome_budget_gets_a_429(served):
    """2,000 outcomes at once (the burst), then 100 a second: a third full request at once is
    refused before anything is read from the log (runs last: it spends the budget)."""
    server, _, _ = served
    cap = CHURN.load_config().serving.outcomes.max_per_request
    full = [{"request_id": "unknown", "value": 0}] * cap
    codes = [post(server, full).status_code for _ in range(3)]
    assert codes == [404, 404, 429], codes
    r = post(server, full)
    assert r.status_code == 429 and "too many outcomes from this caller" in r.json()["error"]
