"""The lead-scoring service: JSON keys with spaces, bands, and 4xx naming the field.

In-process checks of the request model, then one real `bentoml serve` subprocess of the
service the core's factory builds (`shared.serve.services:lead_scoring`; service.py adds the band).
"""

import httpx
import numpy as np
import pytest
from pydantic import ValidationError

from shared.core.usecase import get_use_case
from shared.serve.factory import RecordPredictor, records_to_columns
from shared.serve.services import example_payload, service_for
from tests import loopback
from tests.conftest import pinned
from tests.servers import Server
from usecases.lead_scoring.kpi import assign_bands

UC = get_use_case("lead_scoring")
TASK = UC.task
CONFIG = UC.load_config()
API = next(a for a in service_for(UC.name).apis.values() if a.route == TASK.route)
LeadRecord = API.input_spec.model_fields["records"].annotation.__args__[0]
# What a web form sends for a new lead: no post-contact column, no unused flag.
NEW_LEAD = {
    "Prospect ID": "new-1",
    "Lead Number": 700001,
    "Lead Origin": "Landing Page Submission",
    "Lead Source": "google",
    "Do Not Email": "No",
    "Total Time Spent on Website": 1400,
    "TotalVisits": 4.0,
    "Page Views Per Visit": 3.0,
    "City": "Select",
    "A free copy of Mastering The Interview": "Yes",
    "What is your current occupation": "Working Professional",
}


def test_keys_with_spaces_are_the_field_names_and_unused_columns_may_be_omitted():
    record = LeadRecord.model_validate(NEW_LEAD)
    assert getattr(record, "Lead Source") == "google"
    assert record.Tags is None and record.Country is None
    with pytest.raises(ValidationError, match="Lead Origin"):
        LeadRecord.model_validate(NEW_LEAD | {"Lead Origin": "Carrier pigeon"})


@pytest.fixture(scope="module")
def model(trained):
    return trained(UC.name)


@pytest.fixture(scope="module")
def server(serve, model):
    with serve(UC.name) as s:
        yield s


def _post(server: Server, body: object) -> httpx.Response:
    return loopback.post(server.url + TASK.route, json=body, timeout=10)


def test_request_records_become_one_column_per_field_with_an_omitted_value_as_nan():
    records = [
        LeadRecord.model_validate(NEW_LEAD),
        LeadRecord.model_validate(NEW_LEAD | {"TotalVisits": 7.0, "City": "Mumbai"}),
    ]
    names = ["TotalVisits", "City", "Specialization", "Lead Number"]
    columns = records_to_columns(records, names)
    assert list(columns) == names and all(c.dtype == object for c in columns.values())
    assert columns["TotalVisits"].tolist() == [4.0, 7.0]
    assert columns["City"].tolist() == ["Select", "Mumbai"]
    assert np.isnan(columns["Specialization"].astype(float)).all()  # omitted: None -> NaN
    assert columns["Lead Number"].tolist() == [700001, 700001]
    assert all(c.shape == (0,) for c in records_to_columns([], names).values())


def test_good_leads_get_probability_band_decision_and_version(server, model, monkeypatch):
    records = [example_payload(UC, 1)["records"][0], NEW_LEAD]
    r = _post(server, {"records": records})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [b["prospect_id"] for b in body] == ["7927b2df-8bba-4d29-b9a2-b6e0beafe620", "new-1"]
    assert [b["lead_number"] for b in body] == [660737, 700001]
    p = [b["conversion_probability"] for b in body]
    assert [b["band"] for b in body] == assign_bands(p, CONFIG.kpi.bands).tolist()
    assert [b["call"] for b in body] == [x >= model.threshold for x in p]
    assert all(b["model_version"] == model.model_version for b in body)
    # The response carries exactly the use case's declared outputs (band from service.py).
    declared = {o.name for o in UC.outputs} | {"model_version", "variant"}
    assert declared == {
        "prospect_id",
        "lead_number",
        "conversion_probability",
        "band",
        "call",
        "model_version",
        "variant",
    }
    assert all(set(b) == declared for b in body), body
    for key, value in pinned(UC, model.bento_tag).items():
        monkeypatch.setenv(key, value)
    local = RecordPredictor.from_store(UC).predict([LeadRecord.model_validate(x) for x in records])
    assert p == pytest.approx([x["probability"] for x in local], abs=1e-6)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"Lead Origin": "Carrier pigeon"}, "Lead Origin"),
        ({"Total Time Spent on Website": -5}, "Total Time Spent on Website"),
        ({"TotalVisits": "many"}, "TotalVisits"),
        ({"Do Not Email": "maybe"}, "Do Not Email"),
        ({"Converted": 1}, "Converted"),
    ],
    ids=["outside-domain", "negative", "wrong-type", "flag", "target"],
)
def test_bad_input_is_a_4xx_naming_the_field(server, change, field):
    r = _post(server, {"records": [NEW_LEAD | change]})
    assert 400 <= r.status_code < 500, r.text
    assert field in r.text


def test_a_missing_required_field_is_named(server):
    r = _post(server, {"records": [{k: v for k, v in NEW_LEAD.items() if k != "Lead Origin"}]})
    assert r.status_code == 400 and "Lead Origin" in r.text
