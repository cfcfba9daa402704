"""The forecasting service, built by the core from the use case: request validation
in-process, then a real `bentoml serve` subprocess."""

import copy
import datetime as dt
import json

import pytest
from pydantic import ValidationError

from shared.serve.forecast import histories, request_models
from shared.serve.predlog import open_log
from shared.serve.services import example_payload, service_for
from shared.tasks.forecast.predictor import ForecastPredictor, forecast_histories
from tests import loopback
from tests.conftest import pinned
from tests.servers import Server
from usecases.demand_forecasting.tests.conftest import UC

TASK = UC.task
ROUTE = TASK.route
SERIES, FORECAST = request_models(UC)
MAX_HORIZON = UC.load_config().backtest.horizon


def one(**changes):
    return copy.deepcopy(example_payload(UC, 1)["series"][0]) | changes


def shifted(days: int):
    s = one()
    s["history"][10]["Date"] = (
        dt.date.fromisoformat(s["history"][10]["Date"]) + dt.timedelta(days=days)
    ).isoformat()
    return s


def swapped():
    s = one()
    s["history"][3], s["history"][4] = s["history"][4], s["history"][3]
    return s


def duplicated():
    s = one()
    s["history"][5]["Date"] = s["history"][4]["Date"]
    return s


def with_sales(value):
    s = one()
    s["history"][7]["Weekly_Sales"] = value
    return s


BAD = [
    (swapped(), "not sorted"),
    (duplicated(), "duplicate date"),
    (shifted(3), "wrong frequency"),
    (one(horizon=MAX_HORIZON + 1), "horizon"),
    (one(horizon=4, future_holidays=[False] * 8), "future_holidays has 8 flags for horizon 4"),
    (with_sales("lots"), "Weekly_Sales"),
    (with_sales(None), "Weekly_Sales"),
    (with_sales("inf"), "Weekly_Sales"),
    (one(history=[]), "history"),
    (one(Store=0), "Store"),
    (one(extra_field=1), "extra_field"),
]


@pytest.mark.parametrize(("body", "problem"), BAD, ids=[p for _, p in BAD])
def test_bad_series_are_rejected_naming_the_problem(body, problem):
    with pytest.raises(ValidationError, match=problem):
        SERIES.model_validate(body)


def test_fields_come_from_the_schema_and_the_interval_levels_from_config():
    assert set(SERIES.model_fields) == {"Store", "Dept", "history", "horizon", "future_holidays"}
    period = SERIES.model_fields["history"].annotation.__args__[0]
    assert set(period.model_fields) == {"Date", "Weekly_Sales", "IsHoliday"}
    step = FORECAST.model_fields["steps"].annotation.__args__[0]
    assert {"lo_80", "hi_80", "lo_95", "hi_95"} <= set(step.model_fields)
    assert {"Store", "Dept", "method", "note", "model_version"} <= set(FORECAST.model_fields)


def test_example_payload_is_valid_and_repeats():
    api = service_for(UC.name).apis["forecast"]
    assert api.route == ROUTE == "/forecast"
    assert len(api.input_spec.model_validate(example_payload(UC, 3)).series) == 3
    s = SERIES.model_validate(one())
    assert len(s.history) == 52 and s.horizon == 8


def test_missing_weeks_are_filled_and_counted(trained):
    pred = ForecastPredictor.from_store(UC)
    s = SERIES.model_validate(one(history=one()["history"][:20] + one()["history"][22:]))
    out = forecast_histories(pred, histories(UC, [s]), [s.horizon], [s.future_holidays])
    assert out[0]["filled_periods"] == 2 and out[0]["method"] == "model"


@pytest.fixture(scope="module")
def server(trained):
    # the session's model pinned: the registry's champion may be an older version
    with Server(UC.service, env=pinned(UC, trained.bento_tag), background_stop=True) as s:
        yield s


@pytest.mark.serve
def test_good_series_get_steps_intervals_and_version(server, trained):
    short = one(history=one()["history"][-3:], horizon=2)
    r = loopback.post(server.url + ROUTE, json={"series": [one(), short]}, timeout=30)
    assert r.status_code == 200, r.text
    full, fallback = r.json()
    assert full["method"] == "model" and full["note"] is None and len(full["steps"]) == 8
    assert (full["Store"], full["Dept"]) == (one()["Store"], one()["Dept"])
    assert full["model_version"] == trained.model_version
    last = dt.date.fromisoformat(one()["history"][-1]["Date"])
    assert full["steps"][0]["date"] == (last + dt.timedelta(weeks=1)).isoformat()
    for s in full["steps"]:
        assert s["lo_95"] <= s["lo_80"] <= s["forecast"] <= s["hi_80"] <= s["hi_95"]
    assert fallback["method"] == "fallback" and "fewer than the 13" in fallback["note"]
    assert len(fallback["steps"]) == 2
    history = one()["history"][-3:]
    if trained.chosen == "lightgbm":  # the ensemble averages the rule with its baseline
        assert fallback["steps"][0]["forecast"] == pytest.approx(
            max(sum(w["Weekly_Sales"] for w in history) / 3, 0.0)
        )


@pytest.mark.serve
def test_each_series_is_logged_as_sent(server):
    """The log keeps each series' request fields (JSON text made by pydantic): read back, the
    values sent, the defaults filled in; the score is the first step's forecast."""
    sent = [one(), one(Store=2, horizon=3, future_holidays=[False, True, False])]
    rid = "forecast-log-check-1"
    r = loopback.post(
        server.url + ROUTE, json={"series": sent}, headers={"x-request-id": rid}, timeout=30
    )
    assert r.status_code == 200, r.text
    with open_log() as log:
        rows = log.query(
            "SELECT item, inputs, score FROM predictions WHERE request_id = ? ORDER BY item", [rid]
        )
    assert [json.loads(inputs) for _, inputs, _ in rows] == [
        sent[0] | {"future_holidays": None},
        sent[1],
    ]
    assert [score for *_, score in rows] == [s["steps"][0]["forecast"] for s in r.json()]


@pytest.mark.serve
@pytest.mark.parametrize(("body", "problem"), BAD[:6], ids=[p for _, p in BAD[:6]])
def test_bad_input_is_a_400_naming_the_problem(server, body, problem):
    r = loopback.post(server.url + ROUTE, json={"series": [body]}, timeout=30)
    assert r.status_code == 400, r.text
    assert problem.split()[0] in r.text


@pytest.mark.serve
def test_empty_or_malformed_bodies_are_4xx(server):
    assert loopback.post(server.url + ROUTE, json={"series": []}, timeout=30).status_code == 400
    assert loopback.post(server.url + ROUTE, json={}, timeout=30).status_code == 400
    r = loopback.post(
        server.url + ROUTE,
        content=b"not json",
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert 400 <= r.status_code < 500
